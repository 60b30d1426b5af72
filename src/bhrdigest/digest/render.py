"""Rendering a Digest: HTML + plain text under the size cap (DigestRenderer).

CSS is inlined with premailer once per renderer, not once per email: the
HTML template's Jinja tags are swapped for inert markers, premailer inlines
the CSS into that skeleton once, the markers are swapped back and the result
is compiled as a second Jinja template (`inline_template`). An email then
costs one plain Jinja render. That inlining lives in mailhtml.py; what the
templates are given (each item in the reader's language), in views.py.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from bhrdigest.digest import message as messages
from bhrdigest.digest import views
from bhrdigest.digest.build import Digest, RenderedDigest, build_digest
from bhrdigest.digest.mailhtml import STYLESHEET, inline_template, premailer_inline
from bhrdigest.digest.match import COMPANY, Match
from bhrdigest.digest.templating import RenderingEnvironment
from bhrdigest.digest.views import (
    EXCERPT_CHARS,
    FOLLOWED_LABELS,
    SITE_URL,
    DigestView,
    ItemView,
    Mailbox,
    SectionView,
    item_view,
    listing_url,
)
from bhrdigest.errors import ConfigError, Problem
from bhrdigest.i18n import LOCALE_DIR, Chrome, chrome_for
from bhrdigest.model import Component, Kind, Subscriber, Translation

log = logging.getLogger(__name__)


HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
MAX_ENCODED_BYTES = 90_000  # whole message; Gmail clips at ~102 KB


class DigestRenderer:
    """Renders digests from staff-editable templates, CSS inlined once."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        site_url: str = SITE_URL,
        inline_css: Callable[[str, str], str] = premailer_inline,
        locale_dir: Path = LOCALE_DIR,
    ):
        self.templates_dir = Path(templates_dir)
        self.locale_dir = locale_dir
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
            extensions=["jinja2.ext.i18n"],
        )
        # {% trans %} as {{ _() }}: placeholders by name, escaped (bhrdigest.i18n).
        self._env.newstyle_gettext = True  # type: ignore[attr-defined]
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
        mailbox: Mailbox = Mailbox(),  # noqa: B008 - frozen: one shared default is safe
    ) -> RenderedDigest:
        """HTML and text of one digest: as many items as fit under the cap, the tail dropped.

        The count is the largest that fits, whatever this renderer rendered before, so
        `preview` (a fresh renderer) and `send` (one renderer for every digest) show the
        same items. Usually one render: a digest under the cap is rendered once. When it
        is over, the size model this renderer learns from its own renders (see
        _SizeModel) proposes counts, each rendered and measured, until the largest count
        that fits sits next to the smallest that does not; then the search halves.
        """
        entries = _entries(digest)
        weights = [_weight(match) for _, match in entries]
        model = self._sizes
        renders: dict[int, tuple[str, str, int]] = {}

        def attempt(keep: int) -> int:
            if keep not in renders:
                html, text = self._render_kept(digest, entries, keep, unsubscribe_url, preferences_url, mailbox)
                size = _message_size(html, text)
                if keep == 0:
                    model.base = size
                else:
                    model.learn(weights[:keep], size)
                renders[keep] = (html, text, size)
            return renders[keep][2]

        fits, too_many = -1, len(entries) + 1  # the largest count known to fit, the smallest known not to
        keep = model.items_that_fit(weights)
        for step in itertools.count():
            size = attempt(keep)
            if size <= MAX_ENCODED_BYTES:
                fits = keep
                guess = keep + model.items_that_fit(weights[keep:], room=MAX_ENCODED_BYTES - size)
            else:
                too_many = keep
                if keep and model.base is None and attempt(0) > MAX_ENCODED_BYTES:
                    too_many = 0  # once per renderer: the cost of a digest without items
                guess = model.fewer_items(weights, keep, size - MAX_ENCODED_BYTES)
            if too_many - fits <= 1:
                break
            # The model's guess, kept between the bounds; halving when it stops helping.
            keep = min(max(guess, fits + 1), too_many - 1) if step < _MODEL_STEPS else (fits + too_many) // 2
        if fits < 0:
            log.warning("digest for %s is %d bytes even without items", digest.subscriber.email, renders[0][2])
            fits = 0
        html, text, _ = renders[fits]
        shown = tuple(match.component.key for _, match in entries[:fits])
        languages = digest.subscriber.languages
        lead = self._item_view(digest.lead, languages, self.chrome(languages)).title if fits and digest.lead else None
        return RenderedDigest(html=html, text=text, item_count=fits, component_keys=shown, lead_title=lead,
                              more_count=digest.more_count + len(entries) - fits)  # fmt: skip

    def check(self) -> None:
        """Render a small sample digest: catches unknown variables in templates."""
        self.render(
            sample_digest(),
            unsubscribe_url="https://example.org/u/x",
            preferences_url=None,
            mailbox=Mailbox(True, "1 Example Street", "https://example.org/privacy", "https://example.org/v"),
        )

    def chrome(self, languages: Sequence[str]) -> Chrome:
        """The language of a digest for a reader of `languages` (bhrdigest.i18n)."""
        return chrome_for(languages, self.locale_dir)

    def _render_kept(
        self,
        digest: Digest,
        entries: list[tuple[int, Match]],
        keep: int,
        unsubscribe_url: str | None,
        preferences_url: str | None,
        mailbox: Mailbox,
    ) -> tuple[str, str]:
        chrome = self.chrome(digest.subscriber.languages)
        view = self._view(digest, entries[:keep], len(entries) - keep, chrome,
                          unsubscribe_url, preferences_url, mailbox)
        return (
            self._run(self._html_template, HTML_TEMPLATE, view, chrome),
            self._run(self._text_template, TEXT_TEMPLATE, view, chrome),
        )

    def _view(
        self,
        digest: Digest,
        kept: list[tuple[int, Match]],
        dropped: int,
        chrome: Chrome,
        unsubscribe_url: str | None,
        preferences_url: str | None,
        mailbox: Mailbox,
    ) -> DigestView:
        subscriber = digest.subscriber
        languages = subscriber.languages
        lead = None
        items: list[list[ItemView]] = [[] for _ in digest.sections]
        for slot, match in kept:
            if slot < 0:
                lead = self._item_view(match, languages, chrome)
            else:
                items[slot].append(self._item_view(match, languages, chrome))
        sections = tuple(
            SectionView(chrome.gettext(section.title), tuple(views))
            for section, views in zip(digest.sections, items, strict=True)
            if views
        )
        following = views.following(subscriber)
        return DigestView(
            name=subscriber.name.strip(),
            preheader=views.preheader(lead, sections, chrome),
            lead=lead,
            sections=sections,
            has_items=bool(kept),
            more_count=digest.more_count + dropped,
            more_url=listing_url(self.site_url, subscriber),
            site_host=self.site_host,
            following=following,
            following_text="; ".join(
                f"{chrome.gettext(FOLLOWED_LABELS[f.label])} {', '.join(f.names)}" for f in following
            ),
            match_all=subscriber.match_all,
            unsubscribe_url=unsubscribe_url,
            preferences_url=preferences_url,
            footer_links=views.footer_links(unsubscribe_url, preferences_url, mailbox),
            reply_to=mailbox.reply_to,
            postal_address=mailbox.postal_address,
        )

    def _item_view(self, match: Match, languages: tuple[str, ...], chrome: Chrome) -> ItemView:
        # A run shares one Match per (component, reasons) among its digests (match.py):
        # the same view serves each reader of the same languages, and the remembered item
        # blocks (templating.py) are found by it.
        key = (id(match), languages)
        known = self._item_views.get(key)
        if known is not None and known[0] is match:  # the entry holds the match: no reused id
            return known[1]
        if len(self._item_views) >= _REMEMBERED_VIEWS:
            self._item_views.clear()
        view = item_view(match, languages, site_url=self.site_url, chrome=chrome)
        self._item_views[key] = (match, view)
        return view

    def _run(self, template: jinja2.Template, name: str, view: DigestView, chrome: Chrome) -> str:
        try:
            return template.render(digest=view, **chrome.template_globals())
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
_MODEL_STEPS = 3  # renders guided by the size model before the search halves instead


class _SizeModel:
    """A digest's encoded size from its items' text lengths, learned render by render.

    size ≈ base + Σ (overhead + 2 × weight): `weight` is an item's characters of text
    (they appear in both parts), `overhead` its markup, learned from every render with
    items, and `base` the digest without items, measured once. The model only chooses
    which counts to try: every count is rendered and measured before it is used.
    """

    _PER_CHAR = 2.0

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
        room = MAX_ENCODED_BYTES - self.base if room is None else room
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
            if dropped >= excess:
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
    built from them takes the same encodings (message._encoded remembers them)."""
    return messages.encoded_size(html) + messages.encoded_size(text) + messages.HEADER_ALLOWANCE
