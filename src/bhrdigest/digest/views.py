"""What a digest's templates are given: the reader's view of each item and of the digest.

    ItemView     one item in the first of the reader's languages it exists in, dates in
                 theirs, its excerpt trimmed, why it matched (item_view)
    DigestView   the `digest` variable of digest.html.j2 and digest.txt.j2: sections,
                 what the reader follows, the "N more" listing, the footer's links

Languages: each item is shown in the first of the subscriber's languages
that the component has (its own language or a translation). A component in
none of them is still included, in its own language: missing news on a
followed company is worse than reading it in another language. Everything
around the items (wording, dates, numbers, direction) is in the subscriber's
first language when it has a catalogue, else English (bhrdigest.i18n).

render.py renders these into HTML and text under the size cap.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from bhrdigest.config.languages import site_language
from bhrdigest.digest.match import Match
from bhrdigest.digest.why import ReasonView, reason_views
from bhrdigest.i18n import N_, Chrome, chrome_for, text_direction
from bhrdigest.model import Component, Subscriber, Translation

SITE_URL = "https://www.business-humanrights.org"
EXCERPT_CHARS = 600
# Words the templates translate with _(…) from a value (reason.facet, link.label, a
# facet's label): marked here so `pybabel extract` puts them in the catalogue.
FACET_WORDS = {"company": N_("company"), "place": N_("place"), "topic": N_("topic")}
FOLLOWED_LABELS = {"companies": N_("companies"), "places": N_("places"), "topics": N_("topics")}


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item as templates see it, in the language chosen for the reader."""

    title: str
    url: str
    lang: str
    translated: bool
    dir: str  # "rtl" when item.lang is written right to left, else "ltr"
    align: str  # "right" or "left", for mail clients that ignore dir (Outlook)
    date: str | None  # "10 August 2020" in the reader's language, or None: "date not given"
    kind: str  # "article" | "company_response" | "company_non_response"
    author: str | None
    source_title: str | None
    source_date: str | None
    paragraphs: tuple[str, ...]  # the excerpt, trimmed to ~600 characters
    reasons: tuple[ReasonView, ...]  # what matched, company first (see why.py)
    excerpt_lang: str  # the excerpt's: a translated text may sit under the original headline


@dataclass(frozen=True, slots=True)
class SectionView:
    title: str
    items: tuple[ItemView, ...]


@dataclass(frozen=True, slots=True)
class FollowedView:
    label: str  # "companies" | "places" | "topics"
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FooterLink:
    url: str
    label: str  # English; templates show _(link.label)


@dataclass(frozen=True, slots=True)
class Mailbox:
    """What the footer says of the sender (subscriptions.yaml `sender:`)."""

    reply_to: bool = False  # replies reach a monitored mailbox
    postal_address: str | None = None
    privacy_url: str | None = None
    view_url: str | None = None


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
    following_text: str  # "companies HSBC, Cellebrite; places Asia & Pacific", translated
    match_all: bool
    unsubscribe_url: str | None
    preferences_url: str | None
    footer_links: tuple[FooterLink, ...] = ()  # unsubscribe, preferences, view, privacy
    reply_to: bool = False
    postal_address: str | None = None


def item_view(
    match: Match, languages: Sequence[str], *, site_url: str = SITE_URL, chrome: Chrome | None = None
) -> ItemView:
    """The item in the first of `languages` it exists in, else its own; dates in
    `chrome`'s language (default: the one `languages` choose).

    Links other than http(s) (a feed's `javascript:`) point to the site instead.
    """
    chrome = chrome or chrome_for(languages)
    component = match.component
    translation = _choose_translation(component, languages)
    kind = str(component.kind)  # a StrEnum: "company_response", …
    if translation is None:
        return ItemView(
            title=component.title,
            url=_web_link(component.web_url, site_url),
            lang=component.language,
            translated=False,
            dir=text_direction(component.language),
            align=_ALIGN[text_direction(component.language)],
            date=chrome.format_date(component.published),
            kind=kind,
            author=component.author,
            source_title=component.source_title,
            source_date=chrome.format_date(component.source_date),
            paragraphs=_excerpt(component.excerpt_text),
            reasons=reason_views(match),
            excerpt_lang=component.language,
        )
    # A translation quotes its own source (often another outlet); without
    # one, the original's source line still tells where the story is from.
    own_source = translation.author is not None
    # The old site's inline translations (`+ 日本語 - Hide`) carry a text but no
    # headline or page of their own: the original's headline and link stay.
    titled = bool(translation.title.strip())
    lang = translation.language if titled else component.language
    return ItemView(
        title=translation.title if titled else component.title,
        url=_web_link((translation.url if titled else "") or component.web_url, site_url),
        lang=lang,
        translated=True,
        dir=text_direction(lang),
        align=_ALIGN[text_direction(lang)],
        date=chrome.format_date(component.published),
        kind=kind,
        author=translation.author if own_source else component.author,
        source_title=None if own_source else component.source_title,
        source_date=None if own_source else chrome.format_date(component.source_date),
        paragraphs=_excerpt(translation.excerpt_text),
        reasons=reason_views(match),
        excerpt_lang=translation.language,
    )


_ALIGN = {"rtl": "right", "ltr": "left"}


def _choose_translation(component: Component, languages: Sequence[str]) -> Translation | None:
    """None: show the original; else the Translation to show instead."""
    by_language = {t.language: t for t in component.translations}
    for language in languages:
        # Items carry the site's codes (pt, zh-hans); a reader's regional code (pt-BR, es-419,
        # ja-JP, which `check` accepts) reads the site's language it belongs to.
        code = site_language(language) or language
        if code == component.language:
            return None
        if code in by_language:
            return by_language[code]
    return None


def _web_link(url: str, fallback: str) -> str:
    return url if url.lower().startswith(("https://", "http://")) else fallback


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


def listing_url(site_url: str, subscriber: Subscriber) -> str:
    """Where "N more" leads: the site's latest-news listing searched for what the reader
    follows first (their first company, else place, else topic), in their first language
    the site has. The site's filters take its own numeric ids, which feeds do not carry;
    its search takes a name (the same `search=` its RSS feeds take)."""
    language = next(filter(None, map(site_language, subscriber.languages)), "en")
    followed = (*subscriber.companies, *subscriber.places, *subscriber.topics)
    query = f"?&search={quote(followed[0])}" if followed else ""
    return f"{site_url}/{language}/latest-news/{query}"



def following(subscriber: Subscriber) -> tuple[FollowedView, ...]:
    facets = (
        ("companies", subscriber.companies),
        ("places", subscriber.places),
        ("topics", subscriber.topics),
    )
    return tuple(FollowedView(label, tuple(names)) for label, names in facets if names)


def footer_links(unsubscribe_url: str | None, preferences_url: str | None,
                  mailbox: Mailbox) -> tuple[FooterLink, ...]:  # fmt: skip
    links = (
        (unsubscribe_url, N_("Unsubscribe")),
        (preferences_url, N_("Change what you follow")),
        (mailbox.view_url, N_("View in your browser")),
        (mailbox.privacy_url, N_("Privacy notice")),
    )
    return tuple(FooterLink(url, label) for url, label in links if url)


def preheader(
    lead: ItemView | None, sections: tuple[SectionView, ...], chrome: Chrome, limit: int = 140
) -> str:
    titles = ([lead.title] if lead else []) + [
        i.title for s in sections for i in s.items
    ]
    if not titles:
        return chrome.gettext("Nothing new matched your interests this week.")
    text = " · ".join(titles[:3])
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
