"""Places: look-up by any spelling, title place prefixes, places in free text, expansion.

The taxonomy (`places_data`): BHRRC's five regions; every country in one region or
several (Sudan, Turkey, Iran); territories under their countries (Hong Kong in China);
two *composite* places that stand for their members ("Israel & Occupied Palestinian
Territories" = Israel + Occupied Palestinian Territories, "Morocco / Western Sahara");
and the European Union, a grouping of its member states.

A component carries countries (with their parents) and regions. Its regions are the
BHRRC regions of its countries plus the groupings they belong to (the EU, the two
composites), so that following "European Union" or "Israel & Occupied Palestinian
Territories" covers each member, as following a region covers its countries.

Free text is read conservatively: a name must be capitalised as a proper noun (`Turkey`,
not `turkey`), a capitals-only alias must be in capitals (`US`, not `us`), and some
spellings are accepted only where a place is expected (`Jordan`, `Georgia`, タイ).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bhrdigest.ingest.tagging import places_data as data
from bhrdigest.ingest.tagging.text import PhraseIndex, cased_words

log = logging.getLogger(__name__)

BHRRC_REGIONS = data.BHRRC_REGIONS


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str  # "region" | "country" | "territory"
    parents: tuple[str, ...] = ()  # canonical names of containing countries, for territories
    regions: tuple[str, ...] = ()  # BHRRC regions first, then groupings (EU, composites)
    members: tuple[str, ...] = ()  # countries a composite place stands for


@dataclass(frozen=True, slots=True)
class _TextAlias:
    place: str | None  # None: a phrase that names no place ("South China Sea")
    capitals: bool  # written in capitals only (US, DRC): must be so in the text too


class _Gazetteer:
    """Every place and spelling, indexed once."""

    def __init__(self) -> None:
        self.places: dict[str, Place] = {}
        self.by_key: dict[tuple[str, ...], str] = {}
        self.text: PhraseIndex[_TextAlias] = PhraseIndex()
        self.conflicts: list[str] = []  # spellings claimed by two places (a data error)
        self._lookup_only = {_key(s) for s in data.LOOKUP_ONLY}
        self._add_all()

    def _add_all(self) -> None:
        for name in data.BHRRC_REGIONS:
            self._add(Place(name, "region"), data.REGION_ALIASES.get(name, ""))
        for name, (regions, aliases) in data.GROUPINGS.items():
            self._add(Place(name, "region", regions=regions), aliases)
        for name, (regions, members, aliases) in data.COMPOSITES.items():
            self._add(Place(name, "region", regions=regions, members=members), aliases)
        for name, (regions, aliases) in data.COUNTRIES.items():
            self._add(Place(name, "country", regions=regions), aliases)
        for name, (parents, regions, aliases) in data.TERRITORIES.items():
            self._add(Place(name, "territory", parents=parents, regions=regions), aliases)
        for spelling, named in data.TEXT_ONLY.items():
            self.text.add(_key(spelling), _TextAlias(named, capitals=False))

    def _add(self, place: Place, aliases: str) -> None:
        self.places[place.name] = place
        for spelling in (place.name, *filter(None, aliases.split("|"))):
            key = _key(spelling)
            owner = self.by_key.setdefault(key, place.name)
            if owner != place.name:
                self.conflicts.append(f"{spelling!r} is a spelling of {owner!r} and {place.name!r}")
                continue
            if key not in self._lookup_only:
                self.text.add(key, _TextAlias(place.name, _in_capitals(spelling)))


def _key(spelling: str) -> tuple[str, ...]:
    return tuple(cased_words(spelling)[0])


def _in_capitals(spelling: str) -> bool:
    letters = [c for c in spelling if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


@functools.cache
def _gazetteer() -> _Gazetteer:
    gazetteer = _Gazetteer()
    for conflict in gazetteer.conflicts:
        log.warning("place data: %s; the first is kept", conflict)
    return gazetteer


def lookup_place(name: str) -> Place | None:
    """The place this spelling names (any case, accents, punctuation), or None."""
    gazetteer = _gazetteer()
    canonical = gazetteer.by_key.get(_key(name))
    return gazetteer.places[canonical] if canonical else None


def all_place_names() -> list[str]:
    """Canonical names of every region, grouping, country and territory."""
    return list(_gazetteer().places)


def countries_in(name: str) -> tuple[str, ...]:
    """Countries and territories a region, grouping, composite or country covers."""
    place = lookup_place(name)
    if place is None:
        return ()
    if place.kind != "region":
        covered = {place.name}
    else:
        covered = {
            p.name
            for p in _gazetteer().places.values()
            if p.kind != "region" and (place.name in p.regions or p.name in place.members)
        }
    # A country covers its territories.
    covered |= {p.name for p in _gazetteer().places.values() if covered & set(p.parents)}
    return tuple(n for n in _gazetteer().places if n in covered)


# --- title prefixes --------------------------------------------------------------------

_PREFIX_RE = re.compile(r"^\s*([^:：]{1,100}?)\s*[:：]\s*(\S.*)$", re.DOTALL)
_SEPARATOR_RE = re.compile(r"\s*(?:[,;/&、，・＆／]|\s(?:and|y|et|und|e)\s)\s*", re.IGNORECASE)
_PARENTHESIS_RE = re.compile(r"\s*[(（][^)）]*[)）]")
_MAX_PARTS = 12


def split_prefix(title: str) -> tuple[tuple[str, ...], str]:
    """The places a title's `Place:` prefix names, and the title without that prefix.

    `Israel/OPT & DRC: …` -> ((Israel, Occupied Palestinian Territories, Democratic
    Republic of the Congo), "…"). Countries and territories are returned; a composite
    place as its members; a region (`Asia: …`, `EU: …`) as itself. A prefix that is not
    wholly places (`Bahrain Watch: …`) leaves the title unchanged, with no places.
    """
    match = _PREFIX_RE.match(title)
    if not match:
        return (), title
    places = _prefix_places(match.group(1))
    if not places:
        return (), title
    return places, match.group(2)


def _prefix_places(prefix: str) -> tuple[str, ...]:
    spans, start = [], 0
    for sep in _SEPARATOR_RE.finditer(prefix):
        spans.append((start, sep.start()))
        start = sep.end()
    spans.append((start, len(prefix)))
    if len(spans) > _MAX_PARTS or any(a == b for a, b in spans):
        return ()
    found: list[str] = []
    i = 0
    while i < len(spans):
        # The longest run of parts that is one place: "Bosnia & Herzegovina", "Trinidad and Tobago".
        for j in range(len(spans) - 1, i - 1, -1):
            place = _lookup_part(prefix[spans[i][0] : spans[j][1]])
            if place is not None:
                found += place.members or (place.name,)
                i = j + 1
                break
        else:
            return ()
    return tuple(dict.fromkeys(found))


def _lookup_part(part: str) -> Place | None:
    return lookup_place(part) or lookup_place(_PARENTHESIS_RE.sub("", part))


# --- free text -------------------------------------------------------------------------

# "US$130,000" and "HK$100,000" are sums of money, not places.
_CURRENCY_RE = re.compile(r"\b(?:US|U\.S\.|HK|NZ|A|C|S)\$")


def find_places(text: str) -> tuple[str, ...]:
    """Canonical countries and territories named in `text`, in order of first mention.

    Regions and groupings in running text are ignored ("companies across Asia" is not news
    about the region); composite places count as their members.
    """
    return find_places_in_words(*cased_words(strip_money(text)))


def strip_money(text: str) -> str:
    """`text` without currency prefixes: `US$5` is a sum, not the USA."""
    return _CURRENCY_RE.sub(" ", text) if "$" in text else text


def find_places_in_words(folded: list[str], written: list[str]) -> tuple[str, ...]:
    """`find_places` for text split by `text.cased_words` / `cased_words_of` (after `strip_money`)."""
    gazetteer = _gazetteer()
    found: dict[str, None] = {}
    for start, end, aliases in gazetteer.text.scan(folded):
        alias = aliases[0]
        if alias.place is None or not _written_as_name(written[start:end], alias.capitals):
            continue
        place = gazetteer.places[alias.place]
        if place.kind != "region":
            found[place.name] = None
        elif place.members:
            found.update(dict.fromkeys(place.members))
    return tuple(found)


def _written_as_name(written: list[str], capitals: bool) -> bool:
    if capitals:
        return all(w.isupper() for w in written)
    # CJK characters are neither upper nor lower case: always accepted.
    return not written[0][0].islower()


# --- expansion -------------------------------------------------------------------------


def expand_places(names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(countries, regions) for the named places, with parents and regions added.

    Hong Kong -> countries (Hong Kong, China), regions (Asia & Pacific). A region keeps
    itself (and its own regions) without adding its countries; a composite place adds its
    members. Unknown names are ignored.
    """
    countries: dict[str, None] = {}
    regions: dict[str, None] = {}
    for name in names:
        place = lookup_place(name)
        if place is None:
            log.debug("expand_places: %r is not a known place", name)
            continue
        for covered in _standing_for(place):
            if covered.kind == "region":
                regions[covered.name] = None
            else:
                countries.update(dict.fromkeys((covered.name, *covered.parents)))
            regions.update(dict.fromkeys(covered.regions))
    return tuple(countries), tuple(regions)


def _standing_for(place: Place) -> list[Place]:
    if place.members:
        return [_gazetteer().places[m] for m in place.members]
    return [place]
