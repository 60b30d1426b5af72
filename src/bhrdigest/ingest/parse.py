"""Feed bytes -> de-duplicated, cleaned `Entry` values. Pure: no network, no files.

    parse_feed(data, feed_url=…) -> ParsedFeed(title, language, entries, warning)

feedparser reads the XML (declared, sniffed or guessed encodings); it is handed a
BytesIO, so it never fetches or opens anything, and its own sanitiser is off
because nh3 does that job (text.py). Each excerpt is then cut into blocks and
handed to conventions.py, which takes out and reads the lines the site adds by
convention (author, source headline and date, company markers, inline
translations) and classifies titles. Items with the same key are merged: see
`merge_entries`.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bhrdigest.errors import FeedError
from bhrdigest.ingest.conventions import (
    MAX_EXCERPT_CHARS,
    MAX_TITLE_CHARS,
    SiteLines,
    classify_title,
    dedupe,
    parse_human_date,
    read_site_lines,
)
from bhrdigest.ingest.identity import (
    canonical_url,
    component_key,
    is_bhrrc_host,
    language_from_url,
    published_url,
)
from bhrdigest.ingest.text import (
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
from bhrdigest.model import Entry, Translation

log = logging.getLogger(__name__)

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
    companies = dedupe(([responder] if responder else []) + list(body.markers))
    mentioned = [name for name in body.mentions if not responder or name.casefold() != responder.casefold()]
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
        feed_categories=tuple(dedupe([unescape_all(t.get("term") or "") for t in item.get("tags", [])])),
        link=published_url(link or web_guid or ""),
        mentioned_companies=tuple(mentioned),
        mention_line=body.mention_line,
    )


def clean_title(raw: str) -> str:
    """Plain one-line text: tags stripped, every entity layer decoded, CR/LF -> spaces."""
    raw = raw[:_MAX_RAW_TITLE]
    text = unescape_all(re.sub(r"<[^<>]*>", " ", raw) if looks_like_html(raw) else raw)
    return truncate_text(text, MAX_TITLE_CHARS)


def _absolute_link(link: str | None, feed_url: str) -> str | None:
    """The item's web address, or None: a `javascript:` or `data:` link is no link at all.

    Refused here, at the edge, it never becomes a component's url (nor its key), so no
    digest, alert or `components --json` consumer downstream can be handed one.
    """
    link = unescape_all(link or "").strip()
    if not link:
        return None
    if not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I) and feed_url.startswith(("http:", "https:")):
        link = urljoin(feed_url, link)
    if urlsplit(link).scheme.lower() not in ("", "http", "https"):
        log.debug("feed %s: item link %.60r is not a web address; ignored", feed_url, link)
        return None
    return link


def _site_language(url: str | None) -> str | None:
    """The /xx/ prefix, trusted only on the Resource Centre's site (elsewhere /uk/ may be a section)."""
    if not url:
        return None
    host = urlsplit(url).hostname
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
                found = datetime(*stamp[:6]).replace(tzinfo=UTC)
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


def _read_body(item: Any, *, base_url: str) -> SiteLines:
    raw = item.get("summary") or ""
    if not raw.strip() and item.get("content"):
        raw = item["content"][0].get("value") or ""
    raw = raw[:_MAX_RAW_BODY]
    html = body_to_html(raw)
    return read_site_lines(split_blocks(sanitise_html(html, base_url=base_url)))


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
    for field in ("published", "author", "source_title", "source_date", "marker_companies", "mentioned_companies",
                  "mention_line", "link"):
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
            language=entry.language, title=entry.title, url=entry.link or entry.url,
            author=entry.author, excerpt_text=entry.excerpt_text,
        )  # fmt: skip
    translations.pop(language, None)
    companies = dedupe(list(winner.marker_companies) + [c for e in others for c in e.marker_companies])
    # A company one language's version is about is not "only mentioned" in another's.
    about = {c.casefold() for e in (winner, *others) for c in _about(e)}
    mentioned = [c for e in (winner, *others) for c in e.mentioned_companies if c.casefold() not in about]
    categories = dedupe([c for e in group for c in e.feed_categories])
    return replace(
        winner,
        translations=tuple(translations.values()),
        marker_companies=tuple(companies),
        mentioned_companies=tuple(dedupe(mentioned)),
        feed_categories=tuple(categories),
    )


def _about(entry: Entry) -> list[str]:
    """The entry's marker companies that it is about, not only mentions."""
    mentioned = {c.casefold() for c in entry.mentioned_companies}
    return [c for c in entry.marker_companies if c.casefold() not in mentioned]
