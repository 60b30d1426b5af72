"""Feed bytes -> de-duplicated, cleaned `Entry` values. Pure: no network, no files.

    parse_feed(data, feed_url=…) -> ParsedFeed(title, language, entries, warning)

feedparser reads the XML (declared, sniffed or guessed encodings); it is handed a
BytesIO, so it never fetches or opens anything, and its own sanitiser is off
because nh3 does that job (text.py). Each excerpt is then cut into lines so the
site's conventions can be taken out of it: the `Author:` line, the quoted source
headline and date, `[Also referred to …]` markers, inline translations
(`+ 日本語 - Hide`) and "Read the full post here". Items with the same key are
merged: see `merge_entries`.
"""

from __future__ import annotations

import html as htmllib
import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bhrdigest.components import Entry, Kind, Translation
from bhrdigest.errors import FeedError
from bhrdigest.sources.identity import canonical_url, component_key, is_bhrrc_host, language_from_url
from bhrdigest.sources.text import (
    Block,
    blocks_to_html,
    blocks_to_text,
    body_to_html,
    looks_like_html,
    sanitise_html,
    split_blocks,
    truncate_blocks,
    truncate_text,
    unescape_all,
)

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 1_000
MAX_EXCERPT_CHARS = 20_000
# Raw input is cut before any work so a hostile 1 MB field costs little.
_MAX_RAW_TITLE = 20_000
_MAX_RAW_BODY = 400_000
# A pubDate further ahead than this is a typo or a clock error: published=None.
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    language: str
    entries: tuple[Entry, ...]
    warning: str | None = None


def parse_feed(
    data: bytes,
    *,
    feed_url: str,
    content_type: str | None = None,
    default_language: str = "en",
    now: datetime | None = None,
) -> ParsedFeed:
    """Parse one feed's bytes. Raises FeedError when the bytes are not a feed at all.

    A feed feedparser finds malformed but that still yields items is parsed, and
    `warning` says what was wrong. `now` (default: the clock) only serves to
    reject publication dates in the future.
    """
    parsed = _run_feedparser(data, feed_url=feed_url, content_type=content_type)
    _reject_non_feed(parsed, data, feed_url)
    feed_language = normalise_language(parsed.feed.get("language")) or default_language
    now = now or datetime.now(UTC)
    guid_counts = Counter(g for item in parsed.entries if (g := _guid(item)))
    entries = [
        _entry_from_item(item, feed_url=feed_url, feed_language=feed_language, now=now,
                         guid_unique=guid_counts[_guid(item)] == 1)
        for item in parsed.entries
    ]  # fmt: skip
    title = truncate_text(unescape_all(parsed.feed.get("title", "")[:_MAX_RAW_TITLE]), MAX_TITLE_CHARS)
    return ParsedFeed(
        title=title or feed_url,
        language=feed_language,
        entries=merge_entries(entries),
        warning=_warning(parsed, feed_url),
    )


# --- feedparser, at the edge -------------------------------------------------------------


def _run_feedparser(data: bytes, *, feed_url: str, content_type: str | None) -> Any:
    # No headers at all unless we know the content type: given headers without one,
    # feedparser decodes an undeclared feed as ISO-8859-1 instead of UTF-8.
    headers = {"content-type": _trusted_content_type(content_type, data)} if content_type else None
    try:
        return feedparser.parse(
            io.BytesIO(data), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser has no exception tree of its own; one feed fails, not the run
        raise FeedError(f"feed {feed_url}: the parser gave up on this response ({exc!r})") from exc


_XML_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_SINGLE_BYTE_CHARSETS = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}


def _trusted_content_type(content_type: str, data: bytes) -> str:
    """The header with the charset the bytes themselves declare, when they disagree.

    Servers often send a stale default (`charset=ISO-8859-1`) while the feed's own
    XML declaration, written by the software that wrote the bytes, is right.
    """
    media, _, params = content_type.partition(";")
    charset = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", params, re.IGNORECASE)
    if not charset:
        return content_type
    declared = _XML_DECLARED_ENCODING.match(data[:512])
    if declared and declared.group(1).decode("ascii").lower() != charset.group(1).lower():
        return f"{media.strip()}; charset={declared.group(1).decode('ascii')}"
    if not declared and charset.group(1).lower() in _SINGLE_BYTE_CHARSETS and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return content_type
        return f"{media.strip()}; charset=utf-8"  # valid UTF-8 with non-ASCII bytes: not Latin-1
    return content_type


def _reject_non_feed(parsed: Any, data: bytes, feed_url: str) -> None:
    if not data.strip():
        raise FeedError(f"feed {feed_url} answered with an empty body: check that the URL serves RSS")
    if parsed.entries:
        return
    head = data[:2048].lstrip().lower()
    if not parsed.version:
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise FeedError(
                f"feed {feed_url} answered with an HTML page, not RSS or Atom: the URL may be a "
                "listing page (use its 'Get RSS feed' link), a login or an error page"
            )
        raise FeedError(
            f"feed {feed_url} is not an RSS or Atom feed (no <rss>, <feed> or <rdf:RDF> found); "
            f"it starts with {data[:60]!r}"
        )
    exc = parsed.get("bozo_exception")
    if parsed.bozo and not isinstance(exc, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType):
        raise FeedError(f"feed {feed_url} is malformed and yielded no items: {exc}")


def _warning(parsed: Any, feed_url: str) -> str | None:
    if not parsed.bozo:
        return None
    return f"feed {feed_url}: {parsed.get('bozo_exception')}; parsed it anyway"


def _guid(item: Any) -> str:
    return (item.get("id") or "").strip()


# --- one item -> Entry --------------------------------------------------------------------


def _entry_from_item(item: Any, *, feed_url: str, feed_language: str, now: datetime, guid_unique: bool) -> Entry:
    guid = _guid(item) or None
    link = _absolute_link(item.get("link"), feed_url)
    web_guid = guid if guid and guid.lower().startswith(("http://", "https://")) else None
    title = clean_title(item.get("title") or "")
    body = _read_body(item, base_url=link or web_guid or feed_url)
    kind, responder = classify_title(title)
    companies = _dedupe(([responder] if responder else []) + list(body.markers))
    excerpt = truncate_blocks(body.blocks, MAX_EXCERPT_CHARS)
    excerpt_text = blocks_to_text(excerpt)
    return Entry(
        key=component_key(
            link=link, guid=guid, guid_unique=guid_unique, title=title, description=excerpt_text
        ),
        url=canonical_url(link or web_guid or ""),
        title=title or body.source_title or truncate_text(excerpt_text.split("\n")[0], 200),
        language=_site_language(link or web_guid) or _item_language(item)
        or feed_language,
        published=_published(item, now),
        author=body.author or _creator(item),
        source_title=body.source_title,
        source_date=body.source_date,
        excerpt_html=blocks_to_html(excerpt),
        excerpt_text=excerpt_text,
        kind=kind,
        marker_companies=tuple(companies),
        translations=body.translations,
        guid=guid,
        feed_categories=tuple(_dedupe([unescape_all(t.get("term") or "") for t in item.get("tags", [])])),
    )


def clean_title(raw: str) -> str:
    """Plain one-line text: tags stripped, every entity layer decoded, CR/LF -> spaces."""
    raw = raw[:_MAX_RAW_TITLE]
    text = unescape_all(re.sub(r"<[^<>]*>", " ", raw) if looks_like_html(raw) else raw)
    return truncate_text(text, MAX_TITLE_CHARS)


def _absolute_link(link: str | None, feed_url: str) -> str | None:
    link = unescape_all(link or "")
    if not link:
        return None
    if not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) and feed_url.startswith(("http:", "https:")):
        link = urljoin(feed_url, link)
    return link


def _site_language(url: str | None) -> str | None:
    """The /xx/ prefix, trusted only on the Resource Centre's site (elsewhere /uk/ may be a section)."""
    host = urlsplit(url).hostname if url else None
    return language_from_url(url) if host and is_bhrrc_host(host) else None


def _item_language(item: Any) -> str | None:
    for detail in ("title_detail", "summary_detail"):
        if found := normalise_language((item.get(detail) or {}).get("language")):
            return found
    return None


def normalise_language(value: str | None) -> str | None:
    """`en-GB` -> `en`; anything that is not a language tag -> None."""
    match = re.match(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*\s*$", value or "")
    return match.group(1).lower() if match else None


def _published(item: Any, now: datetime) -> datetime | None:
    """The item's date in UTC, or None: never invented, never in the future."""
    found: datetime | None = None
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get would alias fields and warn about it.
        if stamp := dict.get(item, field):
            try:
                found = datetime(*stamp[:6], tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
            break
    if found is None:
        raw = dict.get(item, "published") or dict.get(item, "updated") or ""
        if day := parse_human_date(unescape_all(raw)):  # "13 July 2021", which feedparser skips
            found = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if found is not None and (found.year < 1900 or found > now + FUTURE_TOLERANCE):
        log.debug("ignoring implausible date %s on %r", found.isoformat(), item.get("title", "")[:80])
        return None
    return found


def _creator(item: Any) -> str | None:
    """dc:creator / author, unless it is a staff login or an e-mail address (older site)."""
    detail = item.get("author_detail") or {}
    name = unescape_all(detail.get("name") or item.get("author") or "")
    if not name or "@" in name or _looks_like_login(name):
        return None
    return truncate_text(name, 300)


def _looks_like_login(name: str) -> bool:
    """`jsmith`, `k.müller`: one lower-case token. `東京新聞` has no case, so it is a name."""
    return (
        not any(c.isspace() for c in name)
        and name == name.lower()
        and any(c.islower() for c in name)
        and not any(c in name for c in "&,()")
    )


# --- the excerpt: lines the site adds by convention ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Body:
    blocks: tuple[Block, ...]
    author: str | None
    source_title: str | None
    source_date: date | None
    markers: tuple[str, ...]
    translations: tuple[Translation, ...]


def _read_body(item: Any, *, base_url: str) -> _Body:
    raw = item.get("summary") or ""
    if not raw.strip() and item.get("content"):
        raw = item["content"][0].get("value") or ""
    raw = raw[:_MAX_RAW_BODY]
    html = body_to_html(raw)
    main, translations = _split_translations(split_blocks(sanitise_html(html, base_url=base_url)))
    main, author, published_on = _take_author(main)
    source_title, source_date, main = _take_source_line(main, dated_by_author_line=published_on is not None)
    markers, main = _take_markers(main)
    return _Body(
        blocks=tuple(b for b in main if not _READ_MORE.match(b.text)),
        author=author,
        source_title=source_title,
        source_date=source_date or published_on,
        markers=markers,
        translations=translations,
    )


_AUTHOR_LINE = re.compile(
    r"^(?:Authors?|Autor(?:es|a)?|Auteurs?|著者|作者)\s*[:：]\s*(?P<author>.+?)"
    r"(?:\s*,?\s*Published\s+on\s*[:：]\s*(?P<date>.+))?$",
    re.IGNORECASE,
)
_READ_MORE = re.compile(
    r"^(?:read the full (?:post|article|story|report|statement)(?: here)?"
    r"|lea (?:la publicación|el artículo) completo? aquí"
    r"|lire l['’]article (?:complet|intégral) ici|(?:記事)?全文(?:を読む|はこちら))\s*[.。]?$",
    re.IGNORECASE,
)


def _take_author(blocks: list[Block]) -> tuple[list[Block], str | None, date | None]:
    """`Author: Guardian, Published on: 22 March 2016` -> ("Guardian", 2016-03-22)."""
    author, published_on, rest = None, None, []
    for block in blocks:
        match = _AUTHOR_LINE.match(block.text)
        if match and not block.container:
            if author is None:
                author = truncate_text(match["author"].strip(" ,;"), 300) or None
                published_on = parse_human_date(match["date"] or "")
            continue
        rest.append(block)
    return rest, author, published_on


_SOURCE_LINE = re.compile(
    r"^[“\"«„「『‘'](?P<title>.+)[”\"»“」』’'](?:\s*[,，、]?\s*(?P<date>[^,，、\"“”]{6,40}))?$"
)


def _take_source_line(
    blocks: list[Block], *, dated_by_author_line: bool
) -> tuple[str | None, date | None, list[Block]]:
    """The first line `“Headline”, 13 July 2021` names the source; it leaves the excerpt.

    The older site put the date on the Author line and the bare quoted headline first;
    only then is an undated quoted line a headline (otherwise it may be a quotation).
    """
    if not blocks or blocks[0].container or not (match := _SOURCE_LINE.match(blocks[0].text)):
        return None, None, blocks
    title = truncate_text(match["title"].strip(), MAX_TITLE_CHARS)
    if match["date"] is None:
        return (title, None, blocks[1:]) if dated_by_author_line else (None, None, blocks)
    if day := parse_human_date(match["date"]):
        return title, day, blocks[1:]
    return None, None, blocks


_MARKERS = (
    re.compile(r"\[\s*(?:also\s+)?refer(?:red|s)?\s+to\s*:?\s*(?P<names>[^\]]*)\]", re.IGNORECASE),
    # "(refers to …)" only closing a paragraph: mid-sentence it is ordinary prose.
    re.compile(r"\(\s*(?:also\s+)?refer(?:red|s)?\s+to\s*:?\s*(?P<names>(?:[^()]|\([^()]*\))*)\)(?=\W*$)", re.I),
    re.compile(r"^related\s+compan(?:y|ies)\s*[:：]\s*(?P<names>.*)$", re.IGNORECASE),
)


def _take_markers(blocks: list[Block]) -> tuple[tuple[str, ...], list[Block]]:
    """Company names from marker lines; a line that is only a marker leaves the excerpt."""
    names: list[str] = []
    rest: list[Block] = []
    listing = False  # after a bare "Related companies:", the next short lines are names
    for block in blocks:
        if listing and _looks_like_name_line(block):
            names.extend(split_company_names(block.text))
            continue
        listing = False
        residue = block
        for pattern in _MARKERS:
            for match in pattern.finditer(block.text):
                found = match["names"].strip()
                if pattern is _MARKERS[2] and block.link_texts:
                    names.extend(_clean_company_name(t) for t in block.link_texts)  # links split cleanly
                elif found:
                    names.extend(split_company_names(found))
                else:
                    listing = pattern is _MARKERS[2]
                residue = _without(residue, match.group(0))
        if residue.text.strip(" .,;:–-") or block.container:
            rest.append(residue)
    return tuple(_dedupe(names)), rest


def _without(block: Block, marker: str) -> Block:
    """The block minus an inline marker, when the marker is plain text in its markup too."""
    escaped = htmllib.escape(marker, quote=False)
    if block.container or escaped not in block.html:
        return Block(block.html, block.text.replace(marker, ""), block.soft, block.container, block.link_texts)
    html = re.sub(r"\s+(?=</|$)", "", block.html.replace(escaped, "").rstrip())
    text = " ".join(block.text.replace(marker, "").split())
    return Block(html, text, block.soft, block.container, block.link_texts)


def _looks_like_name_line(block: Block) -> bool:
    text = block.text
    return (
        not block.container
        and len(text) <= 80
        and not text.endswith((".", "…", "!", "?"))
        and not _READ_MORE.match(text)
        and not _AUTHOR_LINE.match(text)
    )


_LEGAL_SUFFIX = re.compile(r"^(?:inc|ltd|llc|plc|corp|co|s\.?a|a\.?g|gmbh|n\.?v|b\.?v|limited|l\.?p)\.?$", re.I)


def split_company_names(text: str) -> tuple[str, ...]:
    """`A, B & C` -> (A, B, C); `Acacia (formerly African Barrick Gold)` -> Acacia.

    Commas (and 、 ;) always separate. " & " and " and " separate only in the
    last comma-separated part, so "Procter & Gamble, Unilever" keeps its name.
    """
    text = re.sub(r"\)\s+(?=\S)", ")\x1f", unescape_all(text))  # "Acacia (formerly X) Barrick Gold"
    parts = [p.strip() for p in re.split(r"[,;\x1f、，]", text)]
    merged: list[str] = []
    for part in parts:
        if merged and _LEGAL_SUFFIX.match(part):
            merged[-1] = f"{merged[-1]}, {part}"  # "Apple, Inc." is one name
        elif part:
            merged.append(part)
    if merged:
        merged[-1:] = re.split(r"\s+(?:&|and)\s+", merged[-1])
    return tuple(_dedupe(_clean_company_name(name) for name in merged))


def _clean_company_name(name: str) -> str:
    """`Acacia (formerly African Barrick Gold)` -> `Acacia`; over-long text -> ''."""
    name = re.sub(r"\s*\([^)]*\)?\s*$", "", name).strip(" :;\"“”'")
    return name if len(name) <= 120 else ""


# --- inline translations ------------------------------------------------------------------

_TRANSLATION_HEADER = re.compile(r"^\+\s*(?P<name>[^+]{1,40}?)\s*[-–—]\s*(?:hide|show)\s*$", re.IGNORECASE)
_LANGUAGE_NAMES = {
    "日本語": "ja", "japanese": "ja", "english": "en", "español": "es", "spanish": "es",
    "français": "fr", "french": "fr", "deutsch": "de", "german": "de", "português": "pt",
    "portuguese": "pt", "中文": "zh", "简体中文": "zh", "繁體中文": "zh", "chinese": "zh",
    "한국어": "ko", "korean": "ko", "العربية": "ar", "arabic": "ar", "русский": "ru",
    "russian": "ru", "українська": "uk", "ukrainian": "uk", "bahasa indonesia": "id",
    "tiếng việt": "vi", "ไทย": "th", "italiano": "it", "türkçe": "tr", "မြန်မာ": "my",
    "burmese": "my", "polski": "pl", "nederlands": "nl", "kiswahili": "sw", "हिन्दी": "hi",
    "فارسی": "fa", "עברית": "he", "bahasa melayu": "ms", "română": "ro", "magyar": "hu",
}  # fmt: skip


def _split_translations(blocks: tuple[Block, ...]) -> tuple[list[Block], tuple[Translation, ...]]:
    """`+ 日本語 - Hide`, then that language's author line and text, up to the next header."""
    main: list[Block] = []
    sections: list[tuple[str, list[Block]]] = []
    for block in blocks:
        header = None if block.container else _TRANSLATION_HEADER.match(block.text)
        if header:
            name = header["name"].strip()
            if (language := _LANGUAGE_NAMES.get(name.casefold())) is None:
                log.debug("inline translation in unknown language %r kept as 'und'", name)
            sections.append((language or "und", []))
        elif sections:
            sections[-1][1].append(block)
        else:
            main.append(block)
    translations = {}
    for language, section in sections:
        rest, author, _ = _take_author(section)
        rest = [b for b in rest if not _READ_MORE.match(b.text)]
        text = blocks_to_text(truncate_blocks(tuple(rest), MAX_EXCERPT_CHARS))
        translations[language] = Translation(language=language, title="", url="", author=author, excerpt_text=text)
    return main, tuple(translations.values())


# --- titles: response, non-response, article ----------------------------------------------

_CO = r"(?P<co>[^:：]{1,120}?)"
_OF = r"(?:de\s+(?:la\s+|l['’]|el\s+)?|del\s+|d['’]|von\s+|der\s+|des\s+|by\s+|from\s+|of\s+)"
_NON_RESPONSE = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_CO}\s+(?:did\s+not|didn['’]t|does\s+not|has\s+not|have\s+not|failed\s+to|declined\s+to"
        rf"|refused\s+to|chose\s+not\s+to)\s+respond\b",
        rf"^{_CO}\s+no\s+(?:respondi[óo]|responde|ha\s+respondido)\b",
        rf"^(?:la\s+)?non[-\s]r[ée]ponse\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s*[:：–-]?\s*non[-\s]r[ée]ponse\b",
        rf"^{_CO}\s+n['’]a\s+pas\s+r[ée]pondu\b",
        rf"^{_CO}\s+hat\s+nicht\s+geantwortet\b",
        rf"^keine\s+(?:stellungnahme|antwort)\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s*[:：–-]?\s*keine\s+(?:stellungnahme|antwort)\b",
        rf"^{_CO}\s*[はが]?(?:回答しなかった|回答なし|返答なし|回答せず)",
    )
)
_RESPONSE = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"^{_CO}['’]s?\s+(?:[\w-]+\s+)?(?:response|responses|reply|replies)\b",
        rf"^{_CO}\s+(?:responds|responded|replies|replied)\b",
        rf"^(?:the\s+|la\s+|die\s+)?(?:response|reply|respuesta|r[ée]ponse|stellungnahme|antwort)\s+{_OF}(?P<co>.+)$",
        rf"^{_CO}\s+(?:respuesta|responde|respondi[óo]|r[ée]pond|a\s+r[ée]pondu|antwortet)\b",
        rf"^{_CO}\s*[:：–-]?\s+stellungnahme\b",
        rf"^{_CO}\s*の(?:回答|返答|反論)\s*$",
    )
)
# "Response by X to the open letter": the company ends where the subject begins.
_COMPANY_TAIL = re.compile(r"\s+(?:to|regarding|about|on|a|al|sobre|ante|à|au|aux|sur|zu|zum|zur|auf|über)\s+.*$", re.I)


def classify_title(title: str) -> tuple[Kind, str | None]:
    """(kind, the company that responded or did not) from a component's title."""
    candidates = [title]
    if (cut := max(title.rfind(":"), title.rfind("："))) > 0:
        candidates.append(title[cut + 1 :].strip())  # after a place prefix: "Israel: X responds"
    for kind, patterns in ((Kind.COMPANY_NON_RESPONSE, _NON_RESPONSE), (Kind.COMPANY_RESPONSE, _RESPONSE)):
        for text in candidates:
            for pattern in patterns:
                if (match := pattern.match(text)) and (company := _company_name(match["co"])):
                    return kind, company
    return Kind.ARTICLE, None


def _company_name(raw: str) -> str | None:
    name = _COMPANY_TAIL.sub("", raw).strip(" \"“”'‘’«»「」.,;:")
    # A long "company" is a sentence ("Workers say the firm did not respond"), not a name.
    if not name or len(name) > 80 or len(name.split()) > 8:
        return None
    return name


# --- dates --------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan enero janvier januar jänner janeiro",
            "february feb febrero février fevrier februar fevereiro",
            "march mar marzo mars märz maerz março",
            "april apr abril avril",
            "may mayo mai maio",
            "june jun junio juin juni junho",
            "july jul julio juillet juli julho",
            "august aug agosto août aout",
            "september sep sept septiembre setiembre septembre setembro",
            "october oct octubre octobre oktober outubro",
            "november nov noviembre novembre novembro",
            "december dec diciembre décembre decembre dezember dezembro",
        ),
        start=1,
    )
    for name in names.split()
}
_HUMAN_DATES = (
    re.compile(r"^(?P<d>\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?(?P<m>[^\W\d_]+)\.?\s+(?:de\s+)?(?P<y>\d{4})$"),
    re.compile(r"^(?P<m>[^\W\d_]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日$"),
)


def parse_human_date(text: str) -> date | None:
    """`13 July 2021`, `July 13, 2021`, `2 de junio de 2019`, `13. Juli 2021`, `2021年7月13日`."""
    text = text.strip().rstrip(".")
    for pattern in _HUMAN_DATES:
        if match := pattern.match(text):
            month = match["m"]
            number = int(month) if month.isdigit() else _MONTHS.get(month.casefold())
            try:
                return date(int(match["y"]), number, int(match["d"])) if number else None
            except ValueError:
                return None
    return None


# --- merging occurrences ------------------------------------------------------------------


def merge_entries(entries: list[Entry]) -> tuple[Entry, ...]:
    """One Entry per key, in order of first appearance.

    The last occurrence in the first occurrence's language wins (an edited title
    under the same GUID is an update); a value it lacks (date, author, source,
    markers) is kept from an earlier one, as an edit that drops a line is more
    likely an omission than a retraction. Occurrences in other languages become Translations.
    """
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.key, []).append(entry)
    return tuple(_merge_group(group) for group in groups.values())


def _merge_group(group: list[Entry]) -> Entry:
    language = group[0].language
    same = [e for e in group if e.language == language]
    winner = same[-1]
    for field in ("published", "author", "source_title", "source_date", "marker_companies"):
        if not getattr(winner, field):
            earlier = next((getattr(e, field) for e in reversed(same) if getattr(e, field)), None)
            if earlier:
                winner = replace(winner, **{field: earlier})
    translations: dict[str, Translation] = {}
    for entry in same:
        translations.update((t.language, t) for t in entry.translations)
    others = [e for e in group if e.language != language]
    for entry in others:
        translations.update((t.language, t) for t in entry.translations)
        translations[entry.language] = Translation(
            language=entry.language, title=entry.title, url=entry.url,
            author=entry.author, excerpt_text=entry.excerpt_text,
        )  # fmt: skip
    translations.pop(language, None)
    companies = _dedupe(list(winner.marker_companies) + [c for e in others for c in e.marker_companies])
    categories = _dedupe([c for e in group for c in e.feed_categories])
    return replace(
        winner,
        translations=tuple(translations.values()),
        marker_companies=tuple(companies),
        feed_categories=tuple(categories),
    )


def _dedupe(names: Any) -> list[str]:
    """Trimmed, non-empty, first spelling kept, compared case-insensitively."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        name = (name or "").strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out
