"""Tagging: an `Entry` becomes a `Component` with canonical companies, places and topics.

Pure and fast: the catalogue is indexed once (`Tagger(catalogue)`), then each entry is
read in one pass per text. What each part finds:

    companies  what it is about: the responder of a response title and `Related companies:`
               first, canonical when the catalogue knows them and as written otherwise;
               then catalogue names and aliases found in the titles and excerpts; then
               feed categories
    mentions   companies only an `[Also referred to …]` line names (kept apart: a story
               that mentions a company is not news about it)
    countries  the title's place prefix, places named in the text, feed categories,
               each with its containing country (Hong Kong -> China); place_origins
               says, for each country and region, which named place gave it and where
    regions    the BHRRC regions and groupings of those, plus YAML regions covering one
    topics     keywords of built-in and YAML topics, feed categories, with big issues
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.ingest.tagging.places import (
    countries_in,
    expand_places,
    find_places_in_words,
    lookup_place,
    split_prefix,
    strip_money,
)
from bhrdigest.ingest.tagging.text import cased_words_of, phrase_key
from bhrdigest.ingest.tagging.topics import TopicIndex
from bhrdigest.model import Catalogue, Component, Entry, PlaceOrigin

__all__ = ["Tagger", "CompanyIndex", "TopicIndex"]

log = logging.getLogger(__name__)

# "Acacia (formerly African Barrick Gold)": the name outside and the former name inside.
_FORMERLY_RE = re.compile(
    r"^(.*?)\s*[(（]\s*(?:formerly|previously|now|ex\.?|antes|anciennement)?\s*([^)）]*)[)）]\s*$", re.I
)


class Tagger:
    """Tags entries against one catalogue; build once, call `tag` per entry."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.companies = CompanyIndex(catalogue.companies)
        self.topics = TopicIndex(catalogue.topics)
        self._extra_regions = _resolve_regions(catalogue.regions)

    def tag(self, entry: Entry) -> Component:
        titles = [entry.title, *(t.title for t in entry.translations)]
        excerpts = [entry.excerpt_text, *(t.excerpt_text for t in entry.translations)]
        # Split once, read three times.
        folded, written = cased_words_of(map(strip_money, filter(None, [*titles, *excerpts])))
        countries, regions, origins = self._places(titles, folded, written, entry.feed_categories)
        companies, mentions = self._companies(entry, folded)
        return Component(
            key=entry.key,
            url=entry.url,
            title=entry.title,
            language=entry.language,
            published=entry.published,
            author=entry.author,
            source_title=entry.source_title,
            source_date=entry.source_date,
            excerpt_html=entry.excerpt_html,
            excerpt_text=entry.excerpt_text,
            kind=entry.kind,
            companies=companies,
            countries=countries,
            regions=regions,
            topics=self._topics(folded, entry.feed_categories),
            translations=entry.translations,
            guid=entry.guid,
            link=entry.link,
            mentions=mentions,
            mention_line=entry.mention_line if mentions else "",
            place_origins=origins,
        )

    def _companies(self, entry: Entry, text_words: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(what the entry is about, what it only mentions): the text itself naming a
        mentioned company makes it a subject."""
        mentioned = {m.casefold() for m in entry.mentioned_companies}
        names = [self._canonical_marker(m) for m in entry.marker_companies if m.casefold() not in mentioned]
        names += self.companies.find_in_words(text_words)
        names += filter(None, map(self.companies.lookup, entry.feed_categories))
        # One spelling per company: "Whatsapp" and "WhatsApp" are one.
        unique: dict[tuple[str, ...], str] = {}
        for name in filter(None, names):
            unique.setdefault(phrase_key(name) or (name,), name)
        mentions: dict[tuple[str, ...], str] = {}
        for name in map(self._canonical_marker, entry.mentioned_companies):
            if name and (phrase_key(name) or (name,)) not in unique:
                mentions.setdefault(phrase_key(name) or (name,), name)
        return tuple(unique.values()), tuple(mentions.values())

    def _canonical_marker(self, marker: str) -> str:
        marker = " ".join(marker.split())
        known = self.companies.lookup(marker)
        if known:
            return known
        formerly = _FORMERLY_RE.match(marker)
        if not formerly:
            return marker
        outside, inside = formerly.group(1), formerly.group(2)
        return self.companies.lookup(outside) or self.companies.lookup(inside) or outside or marker

    def _places(
        self, titles: list[str], folded: list[str], written: list[str], categories: Iterable[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[PlaceOrigin, ...]]:
        # Prefixes first: they name the places a component is about, and accept
        # spellings too ambiguous for running text ("Jordan: …").
        named = [(place, "title") for title in titles for place in split_prefix(title)[0]]
        named += [(place, "text") for place in find_places_in_words(folded, written)]
        named += [(place.name, "tag") for place in filter(None, map(lookup_place, categories))]
        countries: dict[str, None] = {}
        regions: dict[str, None] = {}
        origins: dict[str, PlaceOrigin] = {}  # the first named place standing for each place
        for name, where in named:
            found_countries, found_regions = expand_places([name])
            countries.update(dict.fromkeys(found_countries))
            regions.update(dict.fromkeys(found_regions))
            for place in (*found_countries, *found_regions):
                origins.setdefault(place, PlaceOrigin(place, name, where))
        extra = [name for name, covered in self._extra_regions.items() if covered.intersection(countries)]
        for region in extra:
            first = next(origins[c] for c in countries if c in self._extra_regions[region])
            origins.setdefault(region, PlaceOrigin(region, first.named, first.where))
        return tuple(countries), tuple(dict.fromkeys([*regions, *extra])), tuple(origins.values())

    def _topics(self, text_words: list[str], categories: Iterable[str]) -> tuple[str, ...]:
        found = [*self.topics.find_in_words(text_words)]
        found += filter(None, map(self.topics.lookup, categories))
        return self.topics.expand(found)


def _resolve_regions(regions: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """YAML region name -> every country and territory it covers."""
    resolved: dict[str, frozenset[str]] = {}
    for name, members in regions.items():
        covered: set[str] = set()
        for member in members:
            found = countries_in(member)
            if not found:
                log.warning("region %r: %r is not a known place; it is ignored", name, member)
            covered.update(found)
        resolved[name] = frozenset(covered)
    return resolved
