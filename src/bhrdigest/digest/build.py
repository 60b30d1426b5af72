"""One subscriber's weekly digest, grouped like the Weekly Update: a lead item, then
sections (your companies, your places, your topics, earlier items newly added), capped
in number.

digest/render.py turns a Digest into HTML and plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bhrdigest.digest.match import COMPANY, FACETS, MENTION, Match, published_long_before_seen
from bhrdigest.i18n import N_
from bhrdigest.model import Kind, Subscriber

log = logging.getLogger(__name__)


DEFAULT_MAX_ITEMS = 40
EARLIER = "earlier"
# The order items are listed in (match.py's _digest_groups mirrors it): those about a
# followed company, those only mentioning one, places, topics, then the backfill.
DIGEST_GROUPS = (*FACETS, EARLIER)
SECTION_TITLES = {  # English; rendered in the reader's language (digest/render.py)
    "company": N_("Your companies"),
    "mention": N_("Your companies"),  # listed after those about them, in the same section
    "place": N_("Your places"),
    "topic": N_("Your topics"),
    "earlier": N_("Earlier items newly added"),
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
class PlannedDigest:
    """A subscriber's digest as a run plans it: the matches it can show, before grouping."""

    subscriber: Subscriber
    matches: tuple[Match, ...]  # those the digest can show (see match.Matches.for_digest)
    total: int  # every new match, shown or counted in "N more"


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    html: str
    text: str
    item_count: int  # items shown (lead included), after the size cap
    component_keys: tuple[str, ...] = ()  # the components shown, in order
    lead_title: str | None = None  # the lead's headline, in the reader's language
    more_count: int = 0  # items counted in "N more", not shown


def build_digest(
    subscriber: Subscriber,
    matches: Sequence[Match],
    *,
    max_items: int = DEFAULT_MAX_ITEMS,
    total: int | None = None,
) -> Digest:
    """Group one subscriber's matches: a lead, then companies, places, topics.

    Each component appears once, in the first section it qualifies for
    (company before place before topic) with all its reasons; in the companies
    section, items about a followed company come before those only mentioning
    one. Items published long before bhrdigest first saw them (a backfill) are
    listed last, under "Earlier items newly added". The lead is a new company
    response or non-response if there is one, else the new item matching most
    facets. At most `max_items` items (lead included); the rest are counted in
    `more_count`. Sections list newest first, undated last.
    `total`: how many matches there are when `matches` holds only those a
    digest can show (match.Matches.for_digest); default len(matches).
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    unique = _merge_duplicates(matches)
    if not unique:
        return Digest(subscriber, None, (), 0)
    lead = min(unique, key=_lead_rank)
    groups: dict[str, list[Match]] = {group: [] for group in DIGEST_GROUPS}
    for match in unique:
        if match is not lead:
            groups[_group_of(match)].append(match)
    room = max_items - 1
    sections: dict[str, list[Match]] = {}
    for group in DIGEST_GROUPS:
        items = sorted(groups[group], key=_newest_first)[: max(room, 0)]
        room -= len(items)
        if items:
            sections.setdefault(SECTION_TITLES[group], []).extend(items)
    shown = 1 + sum(len(items) for items in sections.values())
    count = len(unique) if total is None else max(total, len(unique))
    return Digest(subscriber, lead, tuple(Section(t, tuple(i)) for t, i in sections.items()), count - shown)


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


def _group_of(match: Match) -> str:
    if published_long_before_seen(match.component):
        return EARLIER
    facets = {reason.facet for reason in match.reasons}
    return next(facet for facet in FACETS if facet in facets)


def _lead_rank(match: Match) -> tuple:
    """Smaller is a better lead: a new item, a company's (non-)response, an item about
    a followed company rather than one only mentioning it, then breadth, then news."""
    component = match.component
    facets = {reason.facet for reason in match.reasons}
    answer = component.kind != Kind.ARTICLE and COMPANY in facets
    only_mentions = MENTION in facets and COMPANY not in facets
    breadth = len({COMPANY if facet == MENTION else facet for facet in facets})
    earlier = published_long_before_seen(component)
    return (earlier, not answer, only_mentions, -breadth, -len(match.reasons)) + _newest_first(match)


def _newest_first(match: Match) -> tuple:
    published = match.component.published
    when = (0, -published.timestamp()) if published else (1, 0.0)
    return when + (match.component.title.casefold(), match.component.key)
