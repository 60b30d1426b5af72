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
each profile is matched once and its result handed to all its subscribers.

Rules:
- A place interest (a canonical region or country) matches when it is in
  the component's countries or regions. Components already carry parent
  places (Hong Kong -> China -> Asia & Pacific), so following a region
  covers its countries and following a country covers its territories.
- ``match: any`` (default): any facet matches. ``match: all``: every facet
  the subscriber filled in must match; empty facets are ignored.
- A subscriber with no interests matches nothing.
- Languages never filter: the digest shows a component in the reader's
  language when a translation exists, else in its own (see digests.py).
  Missing a followed company's news is worse than reading it in English.
- Dates play no part: a backdated component matches like a fresh one.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from bhrdigest.components import Component, Kind, Subscriber
from bhrdigest.errors import ConfigError

COMPANY = "company"
PLACE = "place"
TOPIC = "topic"
FACETS = (COMPANY, PLACE, TOPIC)  # also the order reasons are listed in


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a component is in a digest: one followed company, place or topic."""

    facet: str  # "company" | "place" | "topic"
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
        for pid, profile in enumerate(self._profiles):
            bits = tags.matching_bits(profile)
            if bits:
                hits[pid] = bits
                for email in self._emails[pid]:
                    by_email[email] = pid
        return Matches(tags, self._profiles, hits, by_email)


class Matches(Mapping[str, list[Match]]):
    """The result of `Matcher.match`: email -> that subscriber's matches.

    Which subscribers match is decided up front, with one bit set of
    components per interest profile; each subscriber's list of Match values
    is built when it is looked up (about a microsecond a match), so a run's
    memory holds bit sets, not every subscriber's list at once.
    """

    def __init__(
        self,
        tags: _ComponentTags,
        profiles: list[_Profile],
        hits: dict[int, int],
        by_email: dict[str, int],
    ):
        self._tags = tags
        self._profiles = profiles
        self._hits = hits
        self._by_email = by_email
        # Subscribers sharing a profile share the work (bounded: memory stays flat).
        self._matches_of = functools.lru_cache(maxsize=256)(self._build)
        self._shown_of = functools.lru_cache(maxsize=4096)(self._shown)

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
        if not exclude:
            return self._shown_of(pid, max_items)
        return self._tags.shown(self._profiles[pid], bits, max_items)

    def _shown(self, pid: int, max_items: int) -> tuple[tuple[Match, ...], int]:
        return self._tags.shown(self._profiles[pid], self._hits[pid], max_items)


class _ComponentTags:
    """Components in newest-first order, indexed by tag as bit sets."""

    def __init__(self, ordered: list[Component]):
        self.components = ordered
        self._position_of: dict[str, int] | None = None
        # Company responses and non-responses: they lead a digest.
        self.answers = _bits_from([i for i, c in enumerate(ordered) if c.kind != Kind.ARTICLE])
        self.bits: dict[tuple[str, str], int] = {}
        # Per component: (facet, name, Reason) in facet order, de-duplicated.
        self.tags: list[tuple[tuple[str, str, Reason], ...]] = []
        reasons: dict[tuple[str, str], Reason] = {}
        positions: dict[tuple[str, str], list[int]] = {}
        for index, component in enumerate(ordered):
            own = []
            for facet, names in _facets_of(component):
                for name in dict.fromkeys(names):
                    key = (facet, name)
                    reason = reasons.get(key) or reasons.setdefault(
                        key, Reason(facet, name)
                    )
                    own.append((facet, name, reason))
                    positions.setdefault(key, []).append(index)
            self.tags.append(tuple(own))
        for key, found in positions.items():
            self.bits[key] = _bits_from(found)

    def bits_of_keys(self, keys: Collection[str]) -> int:
        if self._position_of is None:
            self._position_of = {c.key: i for i, c in enumerate(self.components)}
        return _bits_from([self._position_of[k] for k in keys if k in self._position_of])

    def shown(self, profile: _Profile, bits: int, max_items: int) -> tuple[tuple[Match, ...], int]:
        """See Matches.for_digest: the possible leads and each section's head."""
        company, place, topic = (facet & bits for facet in self.facet_bits(profile))
        positions = set(self._leads(profile, bits, company, place, topic))
        room = max_items  # the sections share the digest's room, companies first
        for group in (company, place & ~company, topic & ~company & ~place):
            head = self._head(group, room)
            positions.update(head)
            room = max(0, room - len(head))
        chosen = sorted(positions)
        return self.matches(profile, bits, chosen), bits.bit_count()

    def _leads(self, profile: _Profile, bits: int, company: int, place: int, topic: int) -> list[int]:
        """Every match that may lead (digests._lead_rank): a company's answer, then the
        most facets, then the most reasons, then the newest (ties in date all kept)."""
        candidates = company & self.answers or bits
        for tier in (company & place & topic, (company & place) | (company & topic) | (place & topic)):
            if candidates & tier:
                candidates &= tier
                break
        followed = [
            self.bits.get((facet, name), 0) & candidates
            for facet, names in ((COMPANY, profile.companies), (PLACE, profile.places), (TOPIC, profile.topics))
            for name in names
        ]
        candidates = _most_often_set(candidates, followed)
        return self._head(candidates, 1)

    def _head(self, group: int, count: int) -> list[int]:
        """The first `count` positions of `group`, and any later ones dated like the last."""
        head: list[int] = []
        if count <= 0 or not group:
            return head
        last = None
        while group:
            low = group & -group  # the lowest set bit: the newest left
            position = low.bit_length() - 1
            published = self.components[position].published
            if len(head) >= count and published != last:
                break
            head.append(position)
            last = published
            group ^= low
        return head

    def facet_bits(self, profile: _Profile) -> tuple[int, int, int]:
        """Components hitting the profile's companies, places, topics."""
        bits = self.bits
        return tuple(  # type: ignore[return-value]
            functools.reduce(operator.or_, (bits.get((facet, n), 0) for n in names), 0)
            for facet, names in (
                (COMPANY, profile.companies),
                (PLACE, profile.places),
                (TOPIC, profile.topics),
            )
        )

    def matching_bits(self, profile: _Profile) -> int:
        company, place, topic = self.facet_bits(profile)
        if not profile.match_all:
            return company | place | topic
        result = -1  # all bits: AND each facet the subscriber filled in
        for facet_bits, given in (
            (company, profile.companies),
            (place, profile.places),
            (topic, profile.topics),
        ):
            if given:
                result &= facet_bits
        return result

    def matches(self, profile: _Profile, bits: int, only: Sequence[int] | None = None) -> tuple[Match, ...]:
        """Match values of `bits` in list order; of the positions `only` when given."""
        company, place, _ = self.facet_bits(profile)
        groups = (bits & company, bits & place & ~company, bits & ~company & ~place)
        if only is not None:
            wanted = _bits_from(only)
            groups = tuple(group & wanted for group in groups)
        followed = {
            COMPANY: profile.companies,
            PLACE: profile.places,
            TOPIC: profile.topics,
        }
        found = []
        for group in groups:
            for index in _bit_positions(group):
                reasons = tuple(
                    [
                        reason
                        for facet, name, reason in self.tags[index]
                        if name in followed[facet]
                    ]
                )
                found.append(Match(self.components[index], reasons))
        return tuple(found)


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
        (PLACE, component.countries + component.regions),
        (TOPIC, component.topics),
    )


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
