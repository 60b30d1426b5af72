"""One subscriber's weekly digest, grouped like the Weekly Update: a lead item, then
sections (your companies, your places, your topics), capped in number.

digest/render.py turns a Digest into HTML and plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bhrdigest.digest.match import COMPANY, FACETS, Match
from bhrdigest.i18n import N_
from bhrdigest.model import Kind, Subscriber

log = logging.getLogger(__name__)


DEFAULT_MAX_ITEMS = 40
SECTION_TITLES = {  # English; rendered in the reader's language (digest/render.py)
    "company": N_("Your companies"),
    "place": N_("Your places"),
    "topic": N_("Your topics"),
}


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    items: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    subscriber: Subscriber
    lead: Match | None
    sections: tuple[Section, ...]
    more_count: int  # matches left out by the item cap

    @property
    def matches(self) -> tuple[Match, ...]:
        """Every match shown, in reading order (lead first)."""
        lead = (self.lead,) if self.lead else ()
        return lead + tuple(m for section in self.sections for m in section.items)


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    html: str
    text: str
    item_count: int  # items shown (lead included), after the size cap
    component_keys: tuple[str, ...] = ()  # the components shown, in order


def build_digest(
    subscriber: Subscriber,
    matches: Sequence[Match],
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    total: int | None = None,
) -> Digest:
    """Group one subscriber's matches: a lead, then companies, places, topics.

    Each component appears once, in the first section it qualifies for
    (company before place before topic) with all its reasons. The lead is a
    company response or non-response if there is one, else the item matching
    most facets. At most `max_items` items (lead included); the rest are
    counted in `more_count`. Sections list newest first, undated last.
    `total`: how many matches there are when `matches` holds only those a
    digest can show (matching.Matches.for_digest); default len(matches).
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    unique = _merge_duplicates(matches)
    if not unique:
        return Digest(subscriber, None, (), 0)
    lead = min(unique, key=_lead_rank)
    buckets: dict[str, list[Match]] = {facet: [] for facet in FACETS}
    for match in unique:
        if match is not lead:
            buckets[_first_facet(match)].append(match)
    room = max_items - 1
    sections = []
    for facet in FACETS:
        items = sorted(buckets[facet], key=_newest_first)[: max(room, 0)]
        room -= len(items)
        if items:
            sections.append(Section(SECTION_TITLES[facet], tuple(items)))
    shown = 1 + sum(len(s.items) for s in sections)
    count = len(unique) if total is None else max(total, len(unique))
    return Digest(subscriber, lead, tuple(sections), count - shown)


def _merge_duplicates(matches: Sequence[Match]) -> list[Match]:
    """One match per component key, reasons merged (company, place, topic order)."""
    by_key: dict[str, Match] = {}
    for match in matches:
        key = match.component.key
        seen = by_key.get(key)
        if seen is None:
            by_key[key] = match
        elif set(match.reasons) - set(seen.reasons):
            reasons = tuple(dict.fromkeys(seen.reasons + match.reasons))
            reasons = tuple(sorted(reasons, key=lambda r: FACETS.index(r.facet)))
            by_key[key] = Match(seen.component, reasons)
    return [m for m in by_key.values() if m.reasons]


def _first_facet(match: Match) -> str:
    facets = {reason.facet for reason in match.reasons}
    return next(facet for facet in FACETS if facet in facets)


def _lead_rank(match: Match) -> tuple:
    """Smaller is a better lead: a company's (non-)response, then breadth, then news."""
    component = match.component
    facets = {reason.facet for reason in match.reasons}
    answer = component.kind != Kind.ARTICLE and COMPANY in facets
    return (not answer, -len(facets), -len(match.reasons)) + _newest_first(match)


def _newest_first(match: Match) -> tuple:
    published = match.component.published
    when = (0, -published.timestamp()) if published else (1, 0.0)
    return when + (match.component.title.casefold(), match.component.key)
