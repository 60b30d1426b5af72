"""Frozen domain values passed between the stages.

This module imports nothing of ours: every other stage imports it.

    Entry        one feed item, parsed and cleaned but not yet tagged
    Component    an Entry plus what tagging understood (companies, places, topics)
    Translation  another language's version of a component
    PlaceOrigin  why a component has a place: which place it names, and where
    Company / Subscriber / Catalogue   what subscriptions.yaml describes
    FeedState    what is remembered of a feed between fetches (the store keeps it)
    Alert        one component to tell one Telegram chat about (the store queues it)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime


class Kind(enum.StrEnum):
    ARTICLE = "article"
    COMPANY_RESPONSE = "company_response"
    COMPANY_NON_RESPONSE = "company_non_response"


@dataclass(frozen=True, slots=True)
class Translation:
    language: str
    title: str
    url: str = ""
    author: str | None = None
    excerpt_text: str = ""


@dataclass(frozen=True, slots=True)
class PlaceOrigin:
    """`India (in the text) -> Asia & Pacific`: a component's place, and what gave it."""

    place: str  # one of the component's countries or regions
    named: str  # the place the component names that stands for it
    where: str  # "title" (the place prefix), "text" (title or excerpt), "tag" (a feed category)


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item after parsing and cleaning, before tagging.

    `key` is the component's identity: the same for every URL variant,
    language path, feed and story the component appears under.
    """

    key: str
    url: str  # canonical URL: identity, not for display
    title: str  # plain text, unescaped, place prefix kept
    language: str  # ISO 639-1, e.g. "en", "ja"
    published: datetime | None  # timezone-aware UTC, or None
    author: str | None  # the source (newspaper, NGO), never a staff login
    source_title: str | None  # quoted source headline
    source_date: date | None
    excerpt_html: str  # sanitised safe subset
    excerpt_text: str  # plain text
    kind: Kind
    marker_companies: tuple[str, ...] = ()  # from [Also referred to …], response titles
    translations: tuple[Translation, ...] = ()
    guid: str | None = None
    feed_categories: tuple[str, ...] = ()  # <category> tags, when a feed has them
    link: str = ""  # the URL the site published (www. and all): what readers click
    # Of marker_companies, those only an `[Also referred to …]` line names: the story
    # mentions them, it is not about them. mention_line is that line, as written.
    mentioned_companies: tuple[str, ...] = ()
    mention_line: str = ""


@dataclass(frozen=True, slots=True)
class Component:
    key: str
    url: str
    title: str
    language: str
    published: datetime | None
    author: str | None
    source_title: str | None
    source_date: date | None
    excerpt_html: str
    excerpt_text: str
    kind: Kind
    companies: tuple[str, ...] = ()  # canonical catalogue names (or marker names): what it is about
    countries: tuple[str, ...] = ()  # canonical, with their parents (Hong Kong -> China)
    regions: tuple[str, ...] = ()  # canonical BHRRC regions of those countries
    topics: tuple[str, ...] = ()  # canonical topic names
    translations: tuple[Translation, ...] = ()
    guid: str | None = None
    link: str = ""  # the URL the site published; `url` is the identity form
    mentions: tuple[str, ...] = ()  # companies only mentioned ([Also referred to …]), not in companies
    mention_line: str = ""  # that line, as the site wrote it
    place_origins: tuple[PlaceOrigin, ...] = ()  # one per country and region, title prefix first
    first_seen: datetime | None = None  # when bhrdigest first stored it (None before it is stored)

    @property
    def web_url(self) -> str:
        """Where a reader goes: the published URL, else the identity form."""
        return self.link or self.url

    def to_json(self) -> dict:
        """The `components --json` shape of CONTRACT.md."""
        return {
            "key": self.key,
            "url": self.url,
            "link": self.web_url,
            "title": self.title,
            "language": self.language,
            "published": self.published.isoformat() if self.published else None,
            "author": self.author,
            "kind": self.kind.value,
            "companies": list(self.companies),
            "mentions": list(self.mentions),
            "countries": list(self.countries),
            "regions": list(self.regions),
            "topics": list(self.topics),
            "translations": [{"language": t.language, "title": t.title} for t in self.translations],
            "source_title": self.source_title,
            "source_date": self.source_date.isoformat() if self.source_date else None,
            "excerpt": self.excerpt_text,
        }


@dataclass(frozen=True, slots=True)
class Company:
    name: str  # canonical
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    name: str = ""
    languages: tuple[str, ...] = ("en",)
    companies: tuple[str, ...] = ()  # canonical company names
    places: tuple[str, ...] = ()  # canonical region or country names
    topics: tuple[str, ...] = ()  # canonical topic names
    match_all: bool = False
    telegram: int | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """What can be followed: companies, topics (name -> keywords), extra places."""

    companies: tuple[Company, ...] = ()
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    regions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # extra region -> countries


@dataclass(frozen=True, slots=True)
class FeedState:
    """What we remember per feed between runs."""

    url: str  # as configured: an http(s) URL, or an absolute file path / file:// URL
    fetch_url: str | None = None  # after a permanent redirect (301/308), fetch this next time
    etag: str | None = None
    last_modified: str | None = None
    error_count: int = 0
    last_error: str | None = None
    next_check_at: datetime | None = None  # back-off: skip until then
    broken_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One component to tell one chat about, with the tracked companies it names."""

    key: str
    kind: Kind
    title: str
    url: str
    companies: tuple[str, ...]  # tracked by this chat and named by the component
    places: tuple[str, ...] = ()  # countries first, then regions
    source: str | None = None  # the author: newspaper, NGO, the company itself
    excerpt: str = ""  # plain text
