"""A subscriber's own choices from the preferences page, checked against the catalogue.

    Preferences        what one subscriber chose on the web; a facet left None is "as in
                       subscriptions.yaml", so staff edits still reach what they never changed
    Choices            what can be chosen: the catalogue's companies (by name or alias),
                       places (built-in and the YAML's extra regions), topics, and languages
    apply_preferences  YAML subscriber + preferences -> the Subscriber a digest is made for

Pure: no I/O. The store keeps Preferences; the web pages and `send` use these rules, so a
name the catalogue has since dropped is ignored the same way everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from bhrdigest.i18n import N_
from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.ingest.tagging.places import BHRRC_REGIONS, all_place_names, lookup_place
from bhrdigest.ingest.tagging.topics import all_topic_names, lookup_topic
from bhrdigest.model import Catalogue, Subscriber

# The languages the Resource Centre publishes in, each named in itself.
OFFERED_LANGUAGES: dict[str, str] = {
    "en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "pt": "Português",
    "ru": "Русский", "uk": "Українська", "ar": "العربية", "zh": "中文", "ja": "日本語", "ko": "한국어",
}  # fmt: skip
MAX_PER_FACET = 500  # more would be a script, not a person; keeps a row small
# The page's wording of a refused choice, by facet: (unknown, unknown with a suggestion).
_UNKNOWN = {
    "company": (N_("unknown company %(name)r"), N_("unknown company %(name)r: did you mean %(close)r?")),
    "place": (N_("unknown place %(name)r"), N_("unknown place %(name)r: did you mean %(close)r?")),
    "topic": (N_("unknown topic %(name)r"), N_("unknown topic %(name)r: did you mean %(close)r?")),
    "language": (N_("unknown language %(name)r"), N_("unknown language %(name)r: did you mean %(close)r?")),
}
_TOO_MANY = {
    "companies": N_("at most %(max)s companies, please"), "places": N_("at most %(max)s places, please"),
    "topics": N_("at most %(max)s topics, please"), "languages": N_("at most %(max)s languages, please"),
}  # fmt: skip


def _english(message: str, **variables: object) -> str:
    return message % variables if variables else message


@dataclass(frozen=True, slots=True)
class Preferences:
    email: str  # lower-cased
    companies: tuple[str, ...] | None = None  # None: as in subscriptions.yaml
    places: tuple[str, ...] | None = None
    topics: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    paused: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    """A submitted form, canonicalised; `problems` name each choice that was refused."""

    companies: tuple[str, ...]
    places: tuple[str, ...]
    topics: tuple[str, ...]
    languages: tuple[str, ...]
    problems: tuple[str, ...] = ()


class Choices:
    """The catalogue as a set of valid choices, with "did you mean" for near misses."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self.company_index = CompanyIndex(catalogue.companies)
        self._regions = {name.casefold(): name for name in catalogue.regions}
        self.topics = tuple(all_topic_names(catalogue.topics))
        self.regions = tuple(dict.fromkeys([*BHRRC_REGIONS, *catalogue.regions]))
        self.places = tuple(dict.fromkeys([*self.regions, *sorted(all_place_names())]))

    def company(self, name: str) -> str | None:
        return self.company_index.lookup(name)

    def place(self, name: str) -> str | None:
        if name.strip().casefold() in self._regions:
            return self._regions[name.strip().casefold()]
        place = lookup_place(name)
        return place.name if place else None

    def topic(self, name: str) -> str | None:
        return lookup_topic(name, self.catalogue.topics)

    def select(
        self,
        *,
        companies: Iterable[str],
        places: Iterable[str],
        topics: Iterable[str],
        languages: Iterable[str],
        own_languages: Sequence[str] = (),
        gettext: Callable[..., str] = _english,
    ) -> Selection:
        """Canonical choices from what a form sent; unknown names become problems, worded
        by `gettext` (the page's language: bhrdigest.i18n.Chrome.gettext).

        `own_languages` (from the YAML) stay valid even when not among OFFERED_LANGUAGES.
        """
        problems: list[str] = []

        def resolve(names: Iterable[str], lookup: Callable[[str], str | None], what: str,
                    suggest: Callable[[str], str | None]) -> tuple[str, ...]:  # fmt: skip
            return self._resolve(names, lookup, what, problems, suggest, gettext)

        found = {}
        for facet, names in (("companies", companies), ("places", places), ("topics", topics)):
            found[facet], unknown = self.resolve(facet, names, gettext)
            problems += unknown
        allowed = {code.lower(): code for code in [*OFFERED_LANGUAGES, *own_languages]}
        chosen = resolve(languages, lambda c: allowed.get(c.strip().lower()), "language", lambda _: None)
        if not any(found.values()) and not problems:
            problems.append(gettext(N_("choose at least one company, place or topic, or pause your digest instead")))
        if not chosen and not problems:
            problems.append(gettext(N_("choose at least one language")))
        for facet, names in [*found.items(), ("languages", chosen)]:
            if len(names) > MAX_PER_FACET:
                problems.append(gettext(_TOO_MANY[facet], max=MAX_PER_FACET))
        return Selection(found["companies"], found["places"], found["topics"], chosen, tuple(problems))

    def keep_known(self, preferences: Preferences) -> Preferences:
        """The same preferences without names the catalogue no longer has."""

        def known(names: tuple[str, ...] | None, resolve: Callable[[str], str | None]) -> tuple[str, ...] | None:
            if names is None:
                return None
            return _unique(filter(None, map(resolve, names)))

        return replace(
            preferences,
            companies=known(preferences.companies, self.company),
            places=known(preferences.places, self.place),
            topics=known(preferences.topics, self.topic),
        )

    def resolve(self, facet: str, names: Iterable[str],
                gettext: Callable[..., str] = _english) -> tuple[tuple[str, ...], list[str]]:
        """Canonical names of one facet (companies, places or topics), and a problem naming
        each unknown one with the nearest known name (in `gettext`'s language)."""
        problems: list[str] = []
        resolve, what, suggest = {
            "companies": (self.company, "company", self._suggest_company),
            "places": (self.place, "place", self._suggest_place),
            "topics": (self.topic, "topic", self._suggest_topic),
        }[facet]
        return self._resolve(names, resolve, what, problems, suggest, gettext), problems

    @cached_property
    def _suggest_place(self) -> Callable[[str], str | None]:
        return self._suggest(self.places)

    @cached_property
    def _suggest_topic(self) -> Callable[[str], str | None]:
        return self._suggest(self.topics)

    @staticmethod
    def _resolve(names: Iterable[str], resolve: Callable[[str], str | None], what: str, problems: list[str],
                 suggest: Callable[[str], str | None], gettext: Callable[..., str]) -> tuple[str, ...]:  # fmt: skip
        canonical = []
        for name in names:
            name = name.strip()
            if not name:
                continue
            found = resolve(name)
            if found is None:
                close = suggest(name)
                unknown, suggested = _UNKNOWN[what]
                problems.append(gettext(suggested, name=name, close=close) if close else gettext(unknown, name=name))
            else:
                canonical.append(found)
        return _unique(canonical)

    def _suggest_company(self, name: str) -> str | None:
        close = self.company_index.suggest(name, n=1)
        return close[0] if close else None

    @staticmethod
    def _suggest(choices: Sequence[str]) -> Callable[[str], str | None]:
        folded = {choice.casefold(): choice for choice in choices}

        def suggest(name: str) -> str | None:
            close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
            return folded[close[0]] if close else None

        return suggest


def apply_preferences(subscriber: Subscriber, preferences: Preferences | None, choices: Choices) -> Subscriber:
    """The subscriber with their web choices in place of the YAML's (pausing is the caller's)."""
    if preferences is None:
        return subscriber
    kept = choices.keep_known(preferences)
    return replace(
        subscriber,
        companies=subscriber.companies if kept.companies is None else kept.companies,
        places=subscriber.places if kept.places is None else kept.places,
        topics=subscriber.topics if kept.topics is None else kept.topics,
        languages=kept.languages or subscriber.languages,
    )


def split_names(text: str, known: Callable[[str], str | None]) -> list[str]:
    """Names typed into an "add" box: one a line, or separated by commas or semicolons.

    A line that is itself a known name stays whole ("Sun Corporation, Inc.").
    """
    names = []
    for line in text.splitlines():
        line = line.strip()
        if line and known(line) is None:
            names += [part.strip() for part in line.replace(";", ",").split(",")]
        else:
            names.append(line)
    return [name for name in names if name]


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))
