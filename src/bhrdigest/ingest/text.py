"""Text hygiene for feed content: entities, hostile HTML, plain text.

Feeds escape HTML once, twice or three times (`&amp;amp;nbsp;`), wrap it in
CDATA or not, and may carry anything a web page can. Three public tools:

    unescape_all(s)     -> plain text, every entity layer decoded, whitespace collapsed
    sanitise_html(html) -> a safe subset (p br em strong i b a ul ol li blockquote)
    html_to_text(html)  -> readable plain text, paragraphs separated by blank lines

and the `Block` model the parser uses to take lines (source line, markers,
translations) out of an excerpt: `split_blocks`, `blocks_to_html`, `blocks_to_text`.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from html.entities import html5 as _HTML5_ENTITIES
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_TAGS = frozenset({"p", "br", "em", "strong", "i", "b", "a", "ul", "ol", "li", "blockquote"})
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Removed together with everything inside them (a script's text is not content).
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "applet",
        "svg", "math", "head", "title", "textarea", "select", "noembed", "noframes", "xmp",
    }
)  # fmt: skip
_INLINE_TAGS = frozenset({"em", "strong", "i", "b", "a"})
_CONTAINER_TAGS = frozenset({"ul", "ol", "blockquote"})

_MAX_UNESCAPE_ROUNDS = 4
# Horizontal/vertical spaces that become one ordinary space. The ideographic space
# (U+3000) is left alone: it is part of how CJK text is written.
_SPACES = re.compile(r"[ \t\n\r\f\v\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\x85]+")
# Characters no text should carry: C0/C1 controls (PostgreSQL rejects NUL), BOM,
# zero-width space, and the bidi embeddings, overrides and isolates (U+202A-U+202E,
# U+2066-U+2069): one left open in a title reverses or hides the text after it in an
# email or alert ("Trojan Source"). Digests set direction themselves (dir="rtl"/"auto").
# ZWJ/ZWNJ stay: Persian and Indic scripts need them; so do the LRM/RLM/ALM marks,
# which cannot open anything that leaks.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\u200b\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)
_OVER_ESCAPED = re.compile(r"&amp;(?:amp;)*(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{1,31};)")
_REAL_TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|<!--")
_ESCAPED_TAG = re.compile(r"&lt;\s*/?\s*[A-Za-z][A-Za-z0-9]*(?:\s|/|&gt;)")
# Block-level tags outside the safe subset: without a break their texts would run together.
_BLOCKISH = re.compile(
    r"</?(?:div|h[1-6]|section|article|header|footer|aside|nav|main|table|thead|tbody|tfoot"
    r"|tr|dl|dt|dd|figure|figcaption|pre|address|hr|center|details|summary)\b[^>]*>",
    re.IGNORECASE,
)
_CELL = re.compile(r"</?(?:td|th)\b[^>]*>", re.IGNORECASE)


def unescape_all(s: str) -> str:
    """Plain text with every entity layer decoded (`&amp;amp;nbsp;` -> " ") on one line."""
    return " ".join(_SPACES.split(_decode_entities(s))).strip()


def _decode_entities(s: str) -> str:
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        decoded = htmllib.unescape(s)
        if decoded == s:
            break
        s = decoded
    return _INVISIBLE.sub("", s)


def sanitise_html(html: str, *, base_url: str | None = None) -> str:
    """Hostile HTML -> the safe subset, with over-escaped entities folded back.

    Links keep only http/https/mailto hrefs (relative ones resolved against
    `base_url`, dropped without it) and get rel="noopener noreferrer nofollow".
    Script, style and similar elements go with their content; no attribute
    other than href survives, so no event handler can.
    """
    prepared = _CELL.sub(" ", _BLOCKISH.sub("<br>", _unwrap_escaped_markup(_fold_over_escaped(html))))
    cleaned = nh3.clean(
        prepared,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={"*": set(), "a": {"href"}},  # "*" empty: no title/lang on any tag
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
        attribute_filter=lambda tag, attr, value: _filter_attribute(tag, attr, value, base_url),
    )
    cleaned = _INVISIBLE.sub("", cleaned.replace("&nbsp;", " ").replace("\u00a0", " "))
    return re.sub(r"<p>\s*</p>", "", cleaned).strip()


def html_to_text(html: str) -> str:
    """Readable plain text: entities decoded, paragraphs separated by blank lines."""
    return blocks_to_text(split_blocks(sanitise_html(html)))


def looks_like_html(text: str) -> bool:
    return bool(_REAL_TAG.search(text))


def body_to_html(raw: str) -> str:
    """A feed body as HTML, whether it came as HTML, over-escaped HTML or plain text."""
    unwrapped = _unwrap_escaped_markup(_fold_over_escaped(raw))
    return unwrapped if looks_like_html(unwrapped) else plain_text_to_html(raw)


def plain_text_to_html(text: str) -> str:
    """A plain-text body as paragraphs, one per line, so its lines stay apart."""
    lines = (_decode_entities(line).strip() for line in text.splitlines())
    return "".join(f"<p>{htmllib.escape(line, quote=False)}</p>" for line in lines if line)


def _fold_over_escaped(html: str) -> str:
    """`&amp;amp;nbsp;` -> `&nbsp;`: an entity escaped again is still that entity."""

    def fold(match: re.Match[str]) -> str:
        entity = match.group(1)
        if entity.startswith("#") or entity in _HTML5_ENTITIES:
            return "&" + entity
        return match.group(0)

    return _OVER_ESCAPED.sub(fold, html)


def _unwrap_escaped_markup(html: str) -> str:
    """`&lt;p&gt;text&lt;/p&gt;` with no real tag is markup escaped once too often."""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        if _REAL_TAG.search(html) or not _ESCAPED_TAG.search(html):
            break
        html = htmllib.unescape(html)
    return html


def _filter_attribute(tag: str, attr: str, value: str, base_url: str | None) -> str | None:
    if not (tag == "a" and attr == "href"):
        return value
    href = value.strip()
    if not urlsplit(href).scheme:
        if not base_url:
            return None  # a relative link means nothing in an email
        href = urljoin(base_url, href)
    return href if urlsplit(href).scheme.lower() in ALLOWED_SCHEMES else None


@dataclass(frozen=True, slots=True)
class Block:
    """One line of an excerpt: a paragraph, a <br>-separated line, or a whole list/quote.

    `html` is safe inline markup (the full element for a container); `text` its
    plain text; `soft` when it ended at a <br> (the next line is the same paragraph).
    """

    html: str
    text: str
    soft: bool = False
    container: bool = False
    link_texts: tuple[str, ...] = ()


def split_blocks(safe_html: str) -> tuple[Block, ...]:
    """Sanitised HTML (from `sanitise_html`) -> its lines, in order; empty lines dropped."""
    splitter = _Splitter()
    splitter.feed(safe_html)
    splitter.close()
    splitter.finish()
    return tuple(splitter.blocks)


def blocks_to_html(blocks: tuple[Block, ...] | list[Block]) -> str:
    out: list[str] = []
    paragraph: list[str] = []
    for block in blocks:
        if block.container:
            if paragraph:
                out.append("<p>" + "<br>".join(paragraph) + "</p>")
                paragraph = []
            out.append(block.html)
            continue
        paragraph.append(block.html)
        if not block.soft:
            out.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph = []
    if paragraph:
        out.append("<p>" + "<br>".join(paragraph) + "</p>")
    return "".join(out)


def blocks_to_text(blocks: tuple[Block, ...] | list[Block]) -> str:
    parts: list[str] = []
    for i, block in enumerate(blocks):
        if i:
            parts.append("\n" if blocks[i - 1].soft and not block.container else "\n\n")
        parts.append(block.text)
    return "".join(parts)


def truncate_blocks(blocks: tuple[Block, ...], limit: int) -> tuple[Block, ...]:
    """At most `limit` characters of text; the block that crosses it is cut at a word."""
    kept: list[Block] = []
    used = 0
    for block in blocks:
        if used + len(block.text) <= limit:
            kept.append(block)
            used += len(block.text) + 2
            continue
        room = limit - used
        if room > 20:
            text = truncate_text(block.text, room)
            kept.append(Block(html=htmllib.escape(text, quote=False), text=text))
        break
    return tuple(kept)


def truncate_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


class _Splitter(HTMLParser):
    """Walks nh3's output (only the safe tags, well formed) and cuts it into Blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._html: list[str] = []
        self._text: list[str] = []
        self._links: list[str] = []
        self._link_text: list[str] | None = None
        self._open: list[tuple[str, str | None]] = []  # inline tags open: (tag, start markup)
        self._depth = 0  # >0 inside a list or blockquote, which stays one Block

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _CONTAINER_TAGS:
            if not self._depth:
                self._flush(soft=False)
            self._depth += 1
            self._html.append(f"<{tag}>")
            self._text.append("\n")
        elif self._depth:
            self._container_start(tag, attrs)
        elif tag in ("p", "li"):
            self._flush(soft=False)
        elif tag == "br":
            self._flush(soft=True)
        elif tag in _INLINE_TAGS:
            self._inline_start(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _CONTAINER_TAGS and self._depth:
            self._html.append(f"</{tag}>")
            self._depth -= 1
            if not self._depth:
                self._flush(soft=False, container=True)
        elif self._depth and tag in ("li", "p"):
            self._html.append(f"</{tag}>")
            self._text.append("\n")
        elif tag in ("p", "li") and not self._depth:
            self._flush(soft=False)
        elif tag in _INLINE_TAGS:
            self._inline_end(tag)

    def handle_data(self, data: str) -> None:
        self._html.append(htmllib.escape(data, quote=False))
        self._text.append(data)
        if self._link_text is not None:
            self._link_text.append(data)

    def finish(self) -> None:
        self._depth = 0
        self._flush(soft=False)

    def _container_start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self._html.append("<li>")
            self._text.append("\n- ")
        elif tag == "p":
            self._html.append("<p>")
            self._text.append("\n")
        elif tag == "br":
            self._html.append("<br>")
            self._text.append("\n")
        elif tag in _INLINE_TAGS:
            self._inline_start(tag, attrs)

    def _inline_start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        markup: str | None = f"<{tag}>"
        if tag == "a":
            href = dict(attrs).get("href")
            # An <a> whose href the sanitiser removed is just text.
            markup = f'<a href="{htmllib.escape(href)}" rel="{LINK_REL}">' if href else None
            self._link_text = []
        self._open.append((tag, markup))
        if markup:
            self._html.append(markup)

    def _inline_end(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                _, markup = self._open.pop(i)
                if markup:
                    self._html.append(f"</{tag}>")
                break
        if tag == "a" and self._link_text is not None:
            self._links.append(unescape_all("".join(self._link_text)))
            self._link_text = None

    def _flush(self, *, soft: bool, container: bool = False) -> None:
        if self._depth:
            return
        # Inline tags spanning a line break are closed here and reopened on the next line.
        closing = "".join(f"</{tag}>" for tag, markup in reversed(self._open) if markup)
        html = re.sub(r"\s+", " ", "".join(self._html) + closing).strip()
        if container:
            lines = (unescape_all(line) for line in "".join(self._text).split("\n"))
            text = "\n".join(line for line in lines if line and line != "-")
        else:
            text = unescape_all("".join(self._text))
        links = tuple(link for link in self._links if link)
        self._html = [markup for _, markup in self._open if markup]
        self._text, self._links = [], []
        if text:
            self.blocks.append(Block(html, text, soft=soft, container=container, link_texts=links))
        elif soft and self.blocks and not self.blocks[-1].container:
            # "<br><br>" ends a paragraph: the line before is no longer soft.
            last = self.blocks[-1]
            self.blocks[-1] = Block(last.html, last.text, False, False, last.link_texts)
