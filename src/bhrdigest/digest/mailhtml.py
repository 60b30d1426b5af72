"""HTML email templates with their CSS inlined once, then rendered many times.

    inline_template(source, css, inline_css=…, template_path=…) -> Jinja source
    premailer_inline(html, css) -> html    the default `inline_css`

Mail clients ignore most <style> rules, so the CSS must sit in style="…"
attributes; premailer puts it there, but it is slow and cannot read Jinja. So
the template's Jinja tags are swapped for inert markers, premailer inlines the
CSS into that skeleton once, the markers are swapped back and the result is
Jinja source again, compiled once by the caller (render.DigestRenderer). A
template premailer would have to restructure is refused as a ConfigError that
names the template line.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import premailer

from bhrdigest.errors import ConfigError, Problem

# The stylesheet staff edit next to the templates; named in premailer's errors.
STYLESHEET = "digest.css"

_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
# Letters and digits only: they survive any HTML parser untouched. Statements
# between elements travel as comments (<!--bhrJs7sJ-->), the rest as words.
_MARKER = "bhrJx{}xJ"
_STATEMENT_MARKER = "<!--bhrJs{}sJ-->"
_MARKER_IN_OUTPUT = re.compile(r"<!--\s*bhrJs(\d+)sJ\s*-->|bhrJx(\d+)xJ")
_HTML_TAG_OR_COMMENT = re.compile(r"<!--.*?-->|<[a-zA-Z/][^<>]*>", re.DOTALL)
_OPEN_ATTRIBUTE = re.compile(r"([\w:.-]+)\s*=\s*([\"'])[^\"']*$")
_ELEMENT_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
_HTML_START = re.compile(r"<html[\s>]", re.IGNORECASE)
_HTML_END = re.compile(r"</html\s*>", re.IGNORECASE)


def premailer_inline(html: str, css: str) -> str:
    """Inline `css` into `html` with premailer; @media rules stay in <style>."""
    try:
        return premailer.Premailer(
            html,
            css_text=css,
            strip_important=False,  # dark-mode and mobile rules need their !important
            # Keep the template's width="600" for Outlook; CSS makes it fluid elsewhere.
            disable_basic_attributes=["width", "height"],
            allow_network=False,
            allow_loading_external_files=False,
            cssutils_logging_level=logging.CRITICAL,
        ).transform()
    except (
        Exception
    ) as exc:  # premailer and cssutils raise many kinds: all mean bad CSS
        raise ConfigError(
            f"{STYLESHEET}: premailer could not inline it ({exc}); check the CSS syntax"
        ) from exc


def inline_template(
    source: str, css: str, *, inline_css: Callable[[str, str], str], template_path: Path
) -> str:
    """The Jinja source of `source` with `css` inlined: call once, render many times.

    Jinja tags are swapped for inert markers (comments between elements, bare
    words in text and attribute values), the skeleton is inlined, the markers
    are swapped back. What premailer's parser would have to restructure
    (unclosed elements, tags split by {% if %}) is refused with the line.
    """
    # Blank out Jinja tags first: a "<html>" inside a Jinja comment is not the start.
    masked = _JINJA_TAG.sub(lambda tag: " " * len(tag.group()), source)
    start, ends = _HTML_START.search(masked), list(_HTML_END.finditer(masked))
    end = ends[-1] if ends else None
    if start is None or end is None:
        raise _template_problem(template_path, None, "it must contain <html> … </html>")
    prologue, body, epilogue = (
        source[: start.start()],
        source[start.start() : end.end()],
        source[end.end() :],
    )
    first_line = prologue.count("\n") + 1
    skeleton, tags = _set_aside_jinja(body, template_path, first_line)
    inlined = inline_css(skeleton, css).strip()
    _check_same_elements(skeleton, inlined, template_path)
    return prologue + _restore_jinja(inlined, tags, template_path) + epilogue


def _set_aside_jinja(
    body: str, path: Path, first_line: int
) -> tuple[str, list[tuple[str, int]]]:
    tags: list[tuple[str, int]] = []  # (original Jinja tag, its line)

    def set_aside(match: re.Match) -> str:
        tag = match.group()
        if tag.startswith("{#"):
            return ""  # a Jinja comment renders as nothing: drop it now
        marker = _MARKER.format(len(tags))
        tags.append((tag, first_line + body.count("\n", 0, match.start())))
        return marker

    draft = _JINJA_TAG.sub(set_aside, body)
    # Where HTML tags and comments sit, to tell where each marker landed.
    spans = [(m.start(), m.end()) for m in _HTML_TAG_OR_COMMENT.finditer(draft)]
    pieces, pos, span_index = [], 0, 0
    for number, (tag, line) in enumerate(tags):
        marker = _MARKER.format(number)
        at = draft.index(marker, pos)
        while span_index < len(spans) and spans[span_index][1] <= at:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= at
        pieces.append(draft[pos:at])
        if inside and not draft.startswith("<!--", spans[span_index][0]):
            _check_attribute_context(draft[spans[span_index][0] : at], path, line)
            pieces.append(marker)
        elif tag.startswith("{%") and not inside:
            pieces.append(_STATEMENT_MARKER.format(number))  # fits between any elements
        else:
            pieces.append(marker)
        pos = at + len(marker)
    pieces.append(draft[pos:])
    return "".join(pieces), tags


def _check_attribute_context(tag_head: str, path: Path, line: int) -> None:
    """A Jinja tag inside an HTML tag must sit in a quoted value, not style or class."""
    attribute = _OPEN_ATTRIBUTE.search(tag_head)
    if attribute is None:
        raise _template_problem(
            path,
            line,
            "Jinja tags inside an HTML tag must sit inside a quoted attribute value",
        )
    if attribute.group(1).lower() in ("style", "class"):
        raise _template_problem(
            path,
            line,
            f'no Jinja inside {attribute.group(1)}="…": the CSS is inlined once, before '
            "rendering; choose between whole elements with {% if %} instead",
        )


def _check_same_elements(skeleton: str, inlined: str, path: Path) -> None:
    def count(html: str) -> Counter:
        found = Counter(
            (slash, name.lower()) for slash, name in _ELEMENT_TAG.findall(html)
        )
        found.pop(("", "style"), None)  # premailer moves <style> rules around
        found.pop(("/", "style"), None)
        return found

    before, after = count(skeleton), count(inlined)
    if before != after:
        changed = sorted(set(before) | set(after))
        details = ", ".join(
            f"<{s}{n}> {before[(s, n)]}→{after[(s, n)]}"
            for s, n in changed
            if before[(s, n)] != after[(s, n)]
        )
        raise _template_problem(
            path,
            None,
            f"the HTML parser had to repair the markup ({details}): close every element "
            "you open and keep {% if %}/{% for %} around whole elements",
        )


def _restore_jinja(inlined: str, tags: list[tuple[str, int]], path: Path) -> str:
    pieces, pos, expected = [], 0, 0
    for found in _MARKER_IN_OUTPUT.finditer(inlined):
        number = int(found.group(1) or found.group(2))
        if number != expected:
            line = tags[min(expected, len(tags) - 1)][1]
            raise _template_problem(
                path,
                line,
                "premailer moved or dropped this Jinja tag: keep tags between whole elements",
            )
        pieces.append(_literal(inlined[pos : found.start()]))
        pieces.append(tags[number][0])
        pos, expected = found.end(), expected + 1
    if expected != len(tags):
        raise _template_problem(
            path,
            tags[expected][1],
            "premailer dropped this Jinja tag: keep tags between whole elements",
        )
    pieces.append(_literal(inlined[pos:]))
    return "".join(pieces)


def _literal(text: str) -> str:
    """Text premailer produced, protected from being read as Jinja."""
    if "{{" in text or "{%" in text or "{#" in text:
        return "{% raw %}" + text + "{% endraw %}"
    return text


def _template_problem(path: Path, line: int | None, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), line, "template", message)])
