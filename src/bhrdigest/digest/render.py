"""Rendering a Digest: HTML + plain text under the size cap (DigestRenderer).

CSS is inlined with premailer once per renderer, not once per email: the
HTML template's Jinja tags are swapped for inert markers, premailer inlines
the CSS into that skeleton once, the markers are swapped back and the result
is compiled as a second Jinja template (`inline_template`). An email then
costs one plain Jinja render. That inlining lives in mailhtml.py.

Languages: each item is shown in the first of the subscriber's languages
that the component has (its own language or a translation). A component in
none of them is still included, in its own language: missing news on a
followed company is worse than reading it in another language.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from bhrdigest.digest import message as messages
from bhrdigest.digest.build import Digest, RenderedDigest, build_digest
from bhrdigest.digest.mailhtml import STYLESHEET, inline_template, premailer_inline
from bhrdigest.digest.match import COMPANY, Match
from bhrdigest.digest.templating import RenderingEnvironment
from bhrdigest.errors import ConfigError, Problem
from bhrdigest.model import Component, Kind, Subscriber, Translation

log = logging.getLogger(__name__)


HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
SITE_URL = "https://www.business-humanrights.org"
MAX_ENCODED_BYTES = 90_000  # whole message; Gmail clips at ~102 KB
EXCERPT_CHARS = 600
# English whatever the process locale (strftime("%B") follows the locale).
# fmt: off
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")
# fmt: on


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item as templates see it, in the language chosen for the reader."""

    title: str
    url: str
    lang: str
    translated: bool
    date: str | None  # "10 August 2020", or None: templates say "date not given"
    kind: str  # "article" | "company_response" | "company_non_response"
    author: str | None
    source_title: str | None
    source_date: str | None
    paragraphs: tuple[str, ...]  # the excerpt, trimmed to ~600 characters
    reasons: tuple  # Reason(facet, name), company first


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True, slots=True)
class FollowedView:
    label: str  # "companies" | "places" | "topics"
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestView:
    """The `digest` variable of digest.html.j2 and digest.txt.j2."""

    name: str
    preheader: str
    lead: ItemView | None
    sections: tuple[SectionView, ...]
    has_items: bool
    more_count: int
    more_url: str
    site_host: str
    following: tuple[FollowedView, ...]
    following_text: str  # "companies HSBC, Cellebrite; places Asia & Pacific"
    match_all: bool
    unsubscribe_url: str | None
    preferences_url: str | None


def item_view(
    match: Match, languages: Sequence[str], *, site_url: str = SITE_URL
) -> ItemView:
    """The item in the first of `languages` it exists in, else its own.

    Links other than http(s) (a feed's `javascript:`) point to the site instead.
    """
    component = match.component
    translation = _choose_translation(component, languages)
    kind = str(component.kind)  # a StrEnum: "company_response", …
    if translation is None:
        return ItemView(
            title=component.title,
            url=_web_link(component.url, site_url),
            lang=component.language,
            translated=False,
            date=_format_date(component.published),
            kind=kind,
            author=component.author,
            source_title=component.source_title,
            source_date=_format_date(component.source_date),
            paragraphs=_excerpt(component.excerpt_text),
            reasons=match.reasons,
        )
    # A translation quotes its own source (often another outlet); without
    # one, the original's source line still tells where the story is from.
    own_source = translation.author is not None
    return ItemView(
        title=translation.title,
        url=_web_link(translation.url or component.url, site_url),
        lang=translation.language,
        translated=True,
        date=_format_date(component.published),
        kind=kind,
        author=translation.author if own_source else component.author,
        source_title=None if own_source else component.source_title,
        source_date=None if own_source else _format_date(component.source_date),
        paragraphs=_excerpt(translation.excerpt_text),
        reasons=match.reasons,
    )


class DigestRenderer:
    """Renders digests from staff-editable templates, CSS inlined once."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        site_url: str = SITE_URL,
        inline_css: Callable[[str, str], str] = premailer_inline,
    ):
        self.templates_dir = Path(templates_dir)
        self.site_url = site_url.rstrip("/")
        self.site_host = (
            urlsplit(self.site_url).hostname or self.site_url
        ).removeprefix("www.")
        self._env = RenderingEnvironment(
            loader=jinja2.FileSystemLoader(self.templates_dir),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html.j2", "html"), default_for_string=True
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._sizes = _SizeModel()
        self._item_views: dict[tuple[int, tuple[str, ...]], tuple[Match, ItemView]] = {}
        self._text_template = self._load(TEXT_TEMPLATE)
        self._env.learn_pure_macros(self._read(TEXT_TEMPLATE), TEXT_TEMPLATE)
        # Syntax errors are reported against the file staff edit, with its lines.
        self._load(HTML_TEMPLATE)
        source = self._read(HTML_TEMPLATE)
        css = self._read(STYLESHEET)
        # The one premailer call of this renderer's life.
        self.inlined_source = inline_template(
            source, css, inline_css=inline_css, template_path=self._path(HTML_TEMPLATE)
        )
        try:
            self._html_template = self._env.from_string(self.inlined_source)
        except jinja2.TemplateSyntaxError as exc:
            raise self._problem(
                HTML_TEMPLATE, None, f"after inlining CSS: {exc.message}"
            ) from exc
        self._env.learn_pure_macros(self.inlined_source, None)  # from_string: no name

    def render(
        self,
        digest: Digest,
        *,
        unsubscribe_url: str | None,
        preferences_url: str | None,
    ) -> RenderedDigest:
        """HTML and text of one digest; tail items dropped to stay under the cap.

        Usually one render. How many items fit is predicted from their text lengths
        by a size model this renderer learns from its own renders (see _SizeModel);
        each count tried is rendered and measured, so the result is always under the
        cap, and a count that leaves room for more items is raised.
        """
        entries = _entries(digest)
        weights = [_weight(match) for _, match in entries]
        model = self._sizes

        def attempt(keep: int) -> tuple[str, str, int]:
            html, text = self._render_kept(
                digest, entries, keep, unsubscribe_url, preferences_url
            )
            size = _message_size(html, text)
            if keep == 0:
                model.base = size
            else:
                model.learn(weights[:keep], size)
            return html, text, size

        keep = model.items_that_fit(weights)
        fitting: tuple[int, str, str] | None = None
        too_many = len(entries) + 1  # the smallest count known not to fit
        for _ in range(_MAX_ATTEMPTS):
            html, text, size = attempt(keep)
            if size <= MAX_ENCODED_BYTES:
                fitting = (keep, html, text)
                # Raised only when the model left room for a few more: a render each.
                more = keep + model.items_that_fit(weights[keep:], room=MAX_ENCODED_BYTES - size)
                if keep == len(entries) or more < keep + _WORTH_ANOTHER_RENDER or keep + 1 >= too_many:
                    break
                keep = min(more, too_many - 1)
                continue
            too_many = keep
            if keep == 0:
                break
            if model.base is None:
                attempt(0)  # once per renderer: the cost of a digest without items
            keep = model.fewer_items(weights, keep, size - MAX_ENCODED_BYTES)
            if fitting is not None and keep <= fitting[0]:
                break
        if fitting is None:
            log.warning(
                "digest for %s is %d bytes even without items",
                digest.subscriber.email,
                size,
            )
            fitting = (keep, html, text)
        keep, html, text = fitting
        shown = tuple(match.component.key for _, match in entries[:keep])
        return RenderedDigest(
            html=html, text=text, item_count=keep, component_keys=shown
        )

    def check(self) -> None:
        """Render a small sample digest: catches unknown variables in templates."""
        self.render(
            sample_digest(),
            unsubscribe_url="https://example.org/u/x",
            preferences_url=None,
        )

    def _render_kept(
        self,
        digest: Digest,
        entries: list[tuple[int, Match]],
        keep: int,
        unsubscribe_url: str | None,
        preferences_url: str | None,
    ) -> tuple[str, str]:
        view = self._view(
            digest,
            entries[:keep],
            len(entries) - keep,
            unsubscribe_url,
            preferences_url,
        )
        return (
            self._run(self._html_template, HTML_TEMPLATE, view),
            self._run(self._text_template, TEXT_TEMPLATE, view),
        )

    def _view(
        self,
        digest: Digest,
        kept: list[tuple[int, Match]],
        dropped: int,
        unsubscribe_url: str | None,
        preferences_url: str | None,
    ) -> DigestView:
        subscriber = digest.subscriber
        languages = subscriber.languages
        lead = None
        items: list[list[ItemView]] = [[] for _ in digest.sections]
        for slot, match in kept:
            if slot < 0:
                lead = self._item_view(match, languages)
            else:
                items[slot].append(self._item_view(match, languages))
        sections = tuple(
            SectionView(section.title, tuple(views))
            for section, views in zip(digest.sections, items, strict=True)
            if views
        )
        following = _following(subscriber)
        return DigestView(
            name=subscriber.name.strip(),
            preheader=_preheader(lead, sections),
            lead=lead,
            sections=sections,
            has_items=bool(kept),
            more_count=digest.more_count + dropped,
            more_url=self.site_url,
            site_host=self.site_host,
            following=following,
            following_text="; ".join(
                f"{f.label} {', '.join(f.names)}" for f in following
            ),
            match_all=subscriber.match_all,
            unsubscribe_url=unsubscribe_url,
            preferences_url=preferences_url,
        )

    def _item_view(self, match: Match, languages: tuple[str, ...]) -> ItemView:
        # A run shares one Match per (component, reasons) among its digests (matching.py):
        # the same view serves each reader of the same languages, and the remembered item
        # blocks (templating.py) are found by it.
        key = (id(match), languages)
        known = self._item_views.get(key)
        if known is not None and known[0] is match:  # the entry holds the match: no reused id
            return known[1]
        if len(self._item_views) >= _REMEMBERED_VIEWS:
            self._item_views.clear()
        view = item_view(match, languages, site_url=self.site_url)
        self._item_views[key] = (match, view)
        return view

    def _run(self, template: jinja2.Template, name: str, view: DigestView) -> str:
        try:
            return template.render(digest=view)
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None) or _template_line(exc, self._path(name))
            raise self._problem(name, line, str(exc)) from exc

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self._env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise self._problem(name, None, "template not found") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise self._problem(
                name, exc.lineno, exc.message or "syntax error"
            ) from exc

    def _read(self, name: str) -> str:
        try:
            return self._path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise self._problem(name, None, f"cannot read it ({exc})") from exc

    def _path(self, name: str) -> Path:
        return self.templates_dir / name

    def _problem(self, name: str, line: int | None, message: str) -> ConfigError:
        return ConfigError([Problem(str(self._path(name)), line, "template", message)])


_REMEMBERED_VIEWS = 50_000  # distinct (match, languages) a renderer keeps
_MAX_ATTEMPTS = 6  # renders of one digest at most; each is measured, so the cap always holds
_WORTH_ANOTHER_RENDER = 3  # items that must fit in the room left before rendering again


class _SizeModel:
    """A digest's encoded size from its items' text lengths, learned render by render.

    size ≈ base + Σ (overhead + 2 × weight): `weight` is an item's characters of text
    (they appear in both parts), `overhead` its markup, learned from every render with
    items, and `base` the digest without items, measured once. The model only chooses
    which counts to try: every count is rendered and measured before it is used.
    """

    _PER_CHAR = 2.0
    _MARGIN = 0.975  # aim under the cap: a near miss costs a render and an encode

    def __init__(self) -> None:
        self.base: int | None = None
        self.overhead: float | None = None

    def learn(self, weights: Sequence[int], size: int) -> None:
        if self.base is None or len(weights) < 3:
            return
        observed = (size - self.base - self._PER_CHAR * sum(weights)) / len(weights)
        self.overhead = observed if self.overhead is None else 0.8 * self.overhead + 0.2 * observed

    def items_that_fit(self, weights: Sequence[int], room: float | None = None) -> int:
        """How many of `weights` fit in `room` (default: a whole digest's); all when unknown."""
        if self.base is None or self.overhead is None:
            return len(weights)
        room = (MAX_ENCODED_BYTES - self.base if room is None else room) * self._MARGIN
        used = 0.0
        for count, weight in enumerate(weights):
            used += self.overhead + self._PER_CHAR * weight
            if used > room:
                return count
        return len(weights)

    def fewer_items(self, weights: Sequence[int], keep: int, excess: int) -> int:
        """A count below `keep` whose dropped items cover `excess` bytes (by the model)."""
        overhead = self.overhead or 0.0
        dropped = 0.0
        while keep > 0:
            keep -= 1
            dropped += overhead + self._PER_CHAR * weights[keep]
            if dropped >= excess / self._MARGIN:
                break
        return keep


def _weight(match: Match) -> int:
    component = match.component
    return (
        len(component.title)
        + min(len(component.excerpt_text), EXCERPT_CHARS)
        + len(component.author or "")
        + len(component.source_title or "")
    )


def _template_line(exc: BaseException, path: Path) -> int | None:
    """The template line a render error came from: Jinja puts template frames in the traceback."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (str(path), "<template>"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sample_digest() -> Digest:
    """A small digest with every kind of item, for `check` and template previews."""
    from datetime import date, datetime

    from bhrdigest.digest.match import PLACE, Reason
    from bhrdigest.model import Translation

    story = Component(
        key="story", url=f"{SITE_URL}/en/latest-news/story/", title="Hong Kong: a story",
        language="ko", published=datetime(2020, 8, 10, tzinfo=UTC), author="Jerusalem Post",
        source_title="A quoted headline", source_date=date(2020, 7, 31), excerpt_html="",
        excerpt_text="First paragraph.\n\nSecond paragraph.", kind=Kind.ARTICLE,
        translations=(Translation("ja", "香港：記事", f"{SITE_URL}/ja/s/", "Japan In-Depth", "…"),),
    )  # fmt: skip
    response = replace(story, key="response", kind=Kind.COMPANY_RESPONSE, language="en")
    silence = replace(
        response, key="silence", kind=Kind.COMPANY_NON_RESPONSE, published=None
    )
    company, place = Reason(COMPANY, "Cellebrite"), Reason(PLACE, "Asia & Pacific")
    subscriber = Subscriber(
        email="sample@example.org", name="Sample", languages=("en", "ja"),
        companies=("Cellebrite",), places=("Asia & Pacific",),
    )  # fmt: skip
    matches = [
        Match(response, (company,)),
        Match(silence, (company,)),
        Match(story, (place,)),
    ]
    return build_digest(subscriber, matches, max_items=2)


def _entries(digest: Digest) -> list[tuple[int, Match]]:
    """(slot, match) in reading order; slot -1 is the lead, else a section index."""
    entries = [(-1, digest.lead)] if digest.lead else []
    for index, section in enumerate(digest.sections):
        entries.extend((index, match) for match in section.items)
    return entries


def _message_size(html: str, text: str) -> int:
    """The message's size on the wire. The parts are encoded here, once: the message
    built from them takes the same encodings (messages._encoded remembers them)."""
    return messages.encoded_size(html) + messages.encoded_size(text) + messages.HEADER_ALLOWANCE


def _choose_translation(component: Component, languages: Sequence[str]) -> Translation | None:
    """None: show the original; else the Translation to show instead."""
    by_language = {t.language: t for t in component.translations}
    for language in languages:
        if language == component.language:
            return None
        if language in by_language:
            return by_language[language]
    return None


def _web_link(url: str, fallback: str) -> str:
    return url if url.lower().startswith(("https://", "http://")) else fallback


def _format_date(value: date | None) -> str | None:
    if value is None:
        return None
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


@functools.lru_cache(maxsize=8192)  # a component's excerpt recurs in many digests
def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> tuple[str, ...]:
    """Paragraphs of `text`, cut at a word boundary after about `limit` characters."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r", "").split("\n")]
    kept: list[str] = []
    room = limit
    for paragraph in filter(None, paragraphs):
        if len(paragraph) > room:
            cut = (
                paragraph[:room].rsplit(" ", 1)[0]
                if " " in paragraph[:room]
                else paragraph[:room]
            )
            kept.append(cut.rstrip(" ,;:.…") + " …")
            break
        kept.append(paragraph)
        room -= len(paragraph)
    return tuple(kept)


def _following(subscriber: Subscriber) -> tuple[FollowedView, ...]:
    facets = (
        ("companies", subscriber.companies),
        ("places", subscriber.places),
        ("topics", subscriber.topics),
    )
    return tuple(FollowedView(label, tuple(names)) for label, names in facets if names)


def _preheader(
    lead: ItemView | None, sections: tuple[SectionView, ...], limit: int = 140
) -> str:
    titles = ([lead.title] if lead else []) + [
        i.title for s in sections for i in s.items
    ]
    if not titles:
        return "Nothing new matched your interests this week."
    text = " · ".join(titles[:3])
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
