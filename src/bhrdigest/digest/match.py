"""Which components each subscriber gets, and why: pure and indexed.

The Matcher never loops subscribers x components. Components are indexed
by tag (company, place, topic) as bit sets, one bit per component, newest
first; a subscriber's matches are the OR (match: any) or the AND of
per-facet ORs (match: all) of the bit sets of the tags they follow: a few
big-integer operations per subscriber, whatever the number of components.
The Match values (with their reasons) are built from the set bits only when
a subscriber's list is looked up, so the cost is paid per digest sent.

Subscribers with identical interests share one *profile*: a newsletter's
readers cluster (thousands follow "Asia & Pacific" and nothing else), so
each profile is matched, and its digest selection made, once for all its
subscribers. Match values are immutable, so each (component, reasons) pair
is built once per run and shared by every reader it concerns.

Rules:
- A place interest (a canonical region or country) matches when it is in
  the component's countries or regions. Components already carry parent
  places (Hong Kong -> China -> Asia & Pacific), so following a region
  covers its countries and following a country covers its territories.
- ``match: any`` (default): any facet matches. ``match: all``: every facet
  the subscriber filled in must match; empty facets are ignored.
- A subscriber with no interests matches nothing.
- Languages never filter: the digest shows a component in the reader's
  language when a translation exists, else in its own (see digest/views.py).
  Missing a followed company's news is worse than reading it in English.
- Dates play no part in matching: a backdated component matches like a fresh one.
  A digest lists one published long before it was first seen under "Earlier items
  newly added" (`published_long_before_seen`), never as the lead over new ones.
- A followed company that a component only mentions (`[Also referred to …]`) matches
  with a MENTION reason: it ranks after the components about that company and never
  leads over them.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from bhrdigest.errors import ConfigError
from bhrdigest.model import Component, Kind, Subscriber

COMPANY = "company"
MENTION = "mention"  # a followed company the component only mentions
PLACE = "place"
TOPIC = "topic"
FACETS = (COMPANY, MENTION, PLACE, TOPIC)  # also the order reasons are listed in

# Published this long before bhrdigest first saw it: a backfill (a feed's archive on its
# first fetch, an old story newly filed), not news of the week.
EARLIER_THAN_SEEN = timedelta(days=30)


def published_long_before_seen(component: Component) -> bool:
    """Whether a digest lists the component as an earlier item newly added."""
    published, seen = component.published, component.first_seen
    return published is not None and seen is not None and seen - published > EARLIER_THAN_SEEN


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a component is in a digest: one followed company (or its mention), place or topic."""

    facet: str  # "company" | "mention" | "place" | "topic"
    name: str

    def __str__(self) -> str:
        return f"{self.facet} {self.name}"


@dataclass(frozen=True, slots=True)
class Match:
    component: Component
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class _Profile:
    companies: frozenset[str]
    places: frozenset[str]
    topics: frozenset[str]
    match_all: bool

    @property
    def follows_anything(self) -> bool:
        return bool(self.companies or self.places or self.topics)

    def followed_tags(self) -> list[tuple[str, str]]:
        """(facet, name) of each tag followed: a company both as the subject and as a mention."""
        facets = ((COMPANY, self.companies), (MENTION, self.companies), (PLACE, self.places), (TOPIC, self.topics))
        return [(facet, name) for facet, names in facets for name in names]


class Matcher:
    """Interest profiles of a subscriber list, built once per run."""

    def __init__(self, subscribers: Iterable[Subscriber]):
        self._profiles: list[_Profile] = []
        self._emails: list[list[str]] = []  # profile id -> subscriber emails
        profile_ids: dict[_Profile, int] = {}
        seen: set[str] = set()
        for subscriber in subscribers:
            email = subscriber.email.strip().lower()
            if email in seen:
                raise ConfigError(
                    f"subscribers: {email} is listed twice; keep one entry per address"
                )
            seen.add(email)
            profile = _profile_of(subscriber)
            if not profile.follows_anything:
                continue  # follows nothing: can match nothing
            pid = profile_ids.get(profile)
            if pid is None:
                pid = profile_ids[profile] = len(self._profiles)
                self._profiles.append(profile)
                self._emails.append([])
            self._emails[pid].append(email)

    @property
    def profile_count(self) -> int:
        """Distinct interest combinations (for logs: how much sharing helped)."""
        return len(self._profiles)

    def match(self, components: Sequence[Component]) -> Matches:
        """Matches per subscriber email (lower-cased), ordered for the digest.

        Only subscribers with at least one match are keys. Each list is
        ordered company matches first, then place, then topic; newest first
        within those (undated last); then by component key. Each lookup
        returns a fresh list (safe to modify).
        """
        ordered = sorted(_unique(components), key=_newest_first)
        tags = _ComponentTags(ordered)
        by_email: dict[str, int] = {}
        hits: dict[int, int] = {}
        readers: dict[int, int] = {}  # profiles shared by several subscribers
        for pid, profile in enumerate(self._profiles):
            bits = tags.matching_bits(profile)
            if bits:
                hits[pid] = bits
                emails = self._emails[pid]
                for email in emails:
                    by_email[email] = pid
                if len(emails) > 1:
                    readers[pid] = len(emails)
        return Matches(tags, self._profiles, hits, by_email, readers)


class Matches(Mapping[str, list[Match]]):
    """The result of `Matcher.match`: email -> that subscriber's matches.

    Which subscribers match is decided up front, with one bit set of
    components per interest profile; each subscriber's list of Match values
    is built when it is looked up, so a run's memory holds bit sets, not
    every subscriber's list at once. Match values are immutable and shared:
    every reader of the same component for the same reasons gets one object.
    """

    def __init__(
        self,
        tags: _ComponentTags,
        profiles: list[_Profile],
        hits: dict[int, int],
        by_email: dict[str, int],
        readers: Mapping[int, int] | None = None,
    ):
        self._tags = tags
        self._profiles = profiles
        self._hits = hits
        self._by_email = by_email
        self._readers = readers or {}  # profile id -> subscribers, when more than one
        self._matches_of = functools.lru_cache(maxsize=256)(self._build)
        # A shared profile's digest selection, kept until each of its readers had it.
        self._shared: dict[tuple[int, int], list] = {}

    def __getitem__(self, email: str) -> list[Match]:
        pid = self._by_email[email.strip().lower()]
        return list(self._matches_of(pid))

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_email)

    def __len__(self) -> int:
        return len(self._by_email)

    def __contains__(self, email: object) -> bool:
        return isinstance(email, str) and email.strip().lower() in self._by_email

    def _build(self, pid: int) -> tuple[Match, ...]:
        return self._tags.matches(self._profiles[pid], self._hits[pid])

    def for_digest(
        self, email: str, max_items: int, *, exclude: Collection[str] = ()
    ) -> tuple[tuple[Match, ...], int]:
        """(the matches a digest of `max_items` can show, how many matches there are).

        The same digest as from the whole list: `build_digest(subscriber, shown,
        max_items=max_items, total=count)` equals `build_digest(subscriber,
        self[email], max_items=max_items)`. It contains every possible lead and
        the first `max_items` of each section (ties in date included), so only
        those Match values are built: a reader of a region gets hundreds of
        matches a week, of which a digest shows 40. `exclude`: component keys
        already delivered to this subscriber.
        """
        pid = self._by_email.get(email.strip().lower())
        if pid is None:
            return (), 0
        bits = self._hits[pid]
        if exclude:
            bits &= ~self._tags.bits_of_keys(exclude)
            if not bits:
                return (), 0
            if bits != self._hits[pid]:  # what was delivered is among the matches
                return self._tags.shown(self._profiles[pid], bits, max_items)
        return self._shown_once(pid, max_items)

    def _shown_once(self, pid: int, max_items: int) -> tuple[tuple[Match, ...], int]:
        """The profile's selection, worked out once for all its readers (a countdown,
        not an LRU: a profile's readers are scattered through the subscriber list)."""
        key = (pid, max_items)
        kept = self._shared.get(key)
        if kept is None:
            shown = self._tags.shown(self._profiles[pid], self._hits[pid], max_items)
            others = self._readers.get(pid, 1) - 1
            if others > 0:
                self._shared[key] = [shown, others]
            return shown
        kept[1] -= 1
        if kept[1] <= 0:  # the last reader: memory stays bounded by profiles in progress
            del self._shared[key]
        return kept[0]


class _ComponentTags:
    """Components in newest-first order, indexed by tag as bit sets."""

    def __init__(self, ordered: list[Component]):
        self.components = ordered
        self._position_of: dict[str, int] | None = None
        # Company responses and non-responses: they lead a digest.
        self.answers = _bits_from([i for i, c in enumerate(ordered) if c.kind != Kind.ARTICLE])
        # Backfilled components: listed last, under "Earlier items newly added".
        self.earlier = _bits_from([i for i, c in enumerate(ordered) if published_long_before_seen(c)])
        self.bits: dict[tuple[str, str], int] = {}
        # Each (facet, name) gets a small id; per component, its tag ids in reason
        # order (facet order, de-duplicated) and as a set, to intersect with a profile's.
        self.tag_ids: dict[tuple[str, str], int] = {}
        self.reasons: list[Reason] = []  # tag id -> Reason
        self.tags: list[tuple[int, ...]] = []
        self.tag_sets: list[frozenset[int]] = []
        positions: list[list[int]] = []  # tag id -> component positions
        for index, component in enumerate(ordered):
            own = []
            for facet, names in _facets_of(component):
                for name in dict.fromkeys(names):
                    tag = self.tag_ids.get((facet, name))
                    if tag is None:
                        tag = self.tag_ids[(facet, name)] = len(self.reasons)
                        self.reasons.append(Reason(facet, name))
                        positions.append([])
                    own.append(tag)
                    positions[tag].append(index)
            self.tags.append(tuple(own))
            self.tag_sets.append(frozenset(own))
        for key, tag in self.tag_ids.items():
            self.bits[key] = _bits_from(positions[tag])
        # Components dated alike are neighbours: the last position of each one's date.
        self.date_ends = _date_ends([c.published for c in ordered])
        # Per position, the followed tags it has -> Match: readers share Match values.
        self._built: list[dict[frozenset[int], Match]] = [{} for _ in ordered]
        self._built_count = 0

    def bits_of_keys(self, keys: Collection[str]) -> int:
        if self._position_of is None:
            self._position_of = {c.key: i for i, c in enumerate(self.components)}
        return _bits_from([self._position_of[k] for k in keys if k in self._position_of])

    def shown(self, profile: _Profile, bits: int, max_items: int) -> tuple[tuple[Match, ...], int]:
        """See Matches.for_digest: the possible leads and each section's head."""
        facets = tuple(facet & bits for facet in self.facet_bits(profile))
        groups = self._digest_groups(bits, *facets)
        heads = []
        room = max_items  # the sections share the digest's room, companies first
        for group in groups:
            head = self._head(group, room)
            heads.append(head)
            room = max(0, room - len(head))
        for position in self._leads(profile, bits, *facets):
            for head, group in zip(heads, groups, strict=True):
                if group >> position & 1:
                    if position not in head:
                        bisect.insort(head, position)
                    break
        chosen = [position for head in heads for position in head]
        return self._built_matches(profile, chosen), bits.bit_count()

    def _digest_groups(self, bits: int, company: int, mention: int, place: int, topic: int) -> tuple[int, ...]:
        """`bits` split as a digest lists them (build.DIGEST_GROUPS): about a followed
        company, only mentioning one, a place, a topic; then the earlier items."""
        new = ~self.earlier
        mention &= ~company
        place &= ~company & ~mention
        topic &= ~company & ~mention & ~place
        return (company & new, mention & new, place & new, topic & new, bits & self.earlier)

    def _leads(self, profile: _Profile, bits: int, company: int, mention: int, place: int, topic: int) -> list[int]:
        """Every match that may lead (build._lead_rank): a new item before an earlier one,
        a company's answer, an item about a followed company before one only mentioning
        it, then the most facets, the most reasons, the newest (ties in date all kept)."""
        candidates = bits & ~self.earlier or bits
        candidates = candidates & company & self.answers or candidates
        candidates = candidates & ~(mention & ~company) or candidates
        named = company | mention  # a company is one facet, about it or mentioning it
        for tier in (named & place & topic, (named & place) | (named & topic) | (place & topic)):
            if candidates & tier:
                candidates &= tier
                break
        followed = [self.bits.get(tag, 0) & candidates for tag in profile.followed_tags()]
        candidates = _most_often_set(candidates, followed)
        return self._head(candidates, 1)

    def _head(self, group: int, count: int) -> list[int]:
        """The first `count` positions of `group`, and any later ones dated like the last."""
        if count <= 0 or not group:
            return []
        head = _lowest(group, count)
        if len(head) == count:
            last = head[-1]
            end = self.date_ends[last]
            if end > last:  # positions last+1 .. end share the last one's date
                head.extend(_bit_positions(group & ((2 << end) - (2 << last))))
        return head

    def facet_bits(self, profile: _Profile) -> tuple[int, int, int, int]:
        """Components about the profile's companies, mentioning them, in its places, on its topics."""
        get = self.bits.get  # plain loops: per profile and per digest, it shows in profiles
        company = mention = place = topic = 0
        for name in profile.companies:
            company |= get((COMPANY, name), 0)
            mention |= get((MENTION, name), 0)
        for name in profile.places:
            place |= get((PLACE, name), 0)
        for name in profile.topics:
            topic |= get((TOPIC, name), 0)
        return company, mention, place, topic

    def matching_bits(self, profile: _Profile) -> int:
        company, mention, place, topic = self.facet_bits(profile)
        if not profile.match_all:
            return company | mention | place | topic
        result = -1  # all bits: AND each facet the subscriber filled in
        for facet_bits, given in (
            (company | mention, profile.companies),
            (place, profile.places),
            (topic, profile.topics),
        ):
            if given:
                result &= facet_bits
        return result

    def matches(self, profile: _Profile, bits: int) -> tuple[Match, ...]:
        """Match values of all of `bits`, in list order."""
        company, mention, place, _ = self.facet_bits(profile)
        named = company | mention
        groups = (bits & company, bits & mention & ~company, bits & place & ~named, bits & ~named & ~place)
        return self._built_matches(profile, [p for group in groups for p in _bit_positions(group)])

    def _built_matches(self, profile: _Profile, positions: Iterable[int]) -> tuple[Match, ...]:
        """The Match values of `positions` for this profile, each built once per run:
        a match's reasons are the component's tags the profile follows, in tag order."""
        ids = self.tag_ids
        followed = frozenset([ids[tag] for tag in profile.followed_tags() if tag in ids])
        built, tag_sets = self._built, self.tag_sets
        found = []
        for position in positions:
            hit = tag_sets[position] & followed
            match = built[position].get(hit)
            if match is None:
                match = self._new_match(position, hit)
            found.append(match)
        return tuple(found)

    def _new_match(self, position: int, hit: frozenset[int]) -> Match:
        reasons = tuple([self.reasons[tag] for tag in self.tags[position] if tag in hit])
        match = Match(self.components[position], reasons)
        if self._built_count < _BUILT_MAX:
            self._built[position][hit] = match
            self._built_count += 1
        return match


# Distinct (component, reasons) pairs kept; a week of 2,000 components and 100,000
# readers has about 21,000 in the digests, and ~320 bytes each caps this at ~21 MB.
_BUILT_MAX = 1 << 16


def _profile_of(subscriber: Subscriber) -> _Profile:
    return _Profile(
        companies=frozenset(subscriber.companies),
        places=frozenset(subscriber.places),
        topics=frozenset(subscriber.topics),
        match_all=subscriber.match_all,
    )


def _facets_of(component: Component) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return (
        (COMPANY, component.companies),
        (MENTION, component.mentions),
        (PLACE, _title_places_first(component)),
        (TOPIC, component.topics),
    )


def _title_places_first(component: Component) -> tuple[str, ...]:
    """Countries and regions, those the title's place prefix gave first: what the
    component is about before what its text also names."""
    places = component.countries + component.regions
    from_title = {o.place for o in component.place_origins if o.where == "title"}
    return tuple(sorted(places, key=lambda place: place not in from_title))


def _unique(components: Sequence[Component]) -> list[Component]:
    """One component per key (the first given): a key is one component."""
    return list({c.key: c for c in reversed(components)}.values())


def _newest_first(component: Component) -> tuple:
    published = component.published
    when = (0, -published.timestamp()) if published else (1, 0.0)
    return (when, component.key)


def _bits_from(positions: list[int]) -> int:
    value = 0
    for position in positions:
        value |= 1 << position
    return value


def _date_ends(published: Sequence[object]) -> list[int]:
    """For each position, the last position with its date (equal dates are neighbours)."""
    ends = [0] * len(published)
    end = len(published) - 1
    for position in range(end, -1, -1):
        if position < len(published) - 1 and published[position] != published[position + 1]:
            end = position
        ends[position] = end
    return ends


def _lowest(bits: int, count: int) -> list[int]:
    """The `count` lowest set bit positions of `bits` (fewer if it has fewer), lowest first."""
    positions: list[int] = []
    while bits and len(positions) < count:
        low = bits & -bits
        positions.append(low.bit_length() - 1)
        bits ^= low
    return positions


def _most_often_set(candidates: int, sets: Sequence[int]) -> int:
    """The candidates found in the most of `sets` (bit-sliced counting, a few big-int ops)."""
    planes: list[int] = []  # planes[i]: bit i of each position's count
    for found in sets:
        carry = found
        for level, plane in enumerate(planes):
            planes[level], carry = plane ^ carry, plane & carry
            if not carry:
                break
        if carry:
            planes.append(carry)
    for plane in reversed(planes):
        if candidates & plane:
            candidates &= plane
    return candidates


def _bit_positions(bits: int) -> list[int]:
    """Set bit positions, lowest first (one str.find per set bit; few bits: one by one)."""
    if bits.bit_count() <= 48:
        positions = []
        while bits:
            low = bits & -bits
            positions.append(low.bit_length() - 1)
            bits ^= low
        return positions
    text = format(bits, "b")[::-1]
    positions = []
    at = text.find("1")
    while at >= 0:
        positions.append(at)
        at = text.find("1", at + 1)
    return positions
