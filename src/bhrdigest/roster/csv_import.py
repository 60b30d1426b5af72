"""Read a CSV of subscribers (ours, or a Mailchimp audience export) and plan its import.

    read_rows    the file -> one Row per line with an address, named by its line number
    plan_import  rows + the catalogue + who is already subscribed -> ImportPlan: what is new,
                 what changes, what is invalid (line and why), duplicates; nothing written

Columns, matched case-insensitively (spaces, `_` and `-` alike):
    ours       email, name, languages, companies, places (or regions, countries), topics, match
    Mailchimp  Email Address, First Name, Last Name, LANGUAGE/Language, TAGS; a row with
               UNSUB_TIME or CLEAN_TIME (the unsubscribed and cleaned exports) is left out
Lists are separated by `;` or `|` (languages by `,` too). A Mailchimp tag that names a
company, place or topic of the catalogue is followed; other tags ("VIP") are counted and
ignored. Any other column is ignored and named in the report.

A column the file lacks leaves that field of an existing subscriber as it is, so a file of
names and addresses only never wipes what people follow. One address is one subscriber:
compared lower-cased; a later line with the same address is a duplicate and left out.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from bhrdigest.config.languages import LANGUAGE_CODE, canonical_language, language_problem
from bhrdigest.config.load import address_problem
from bhrdigest.config.preferences import OFFERED_LANGUAGES, Choices
from bhrdigest.config.yaml_reader import MAX_TEXT, header_text_problem
from bhrdigest.errors import ConfigError
from bhrdigest.model import Subscriber

_COLUMNS = {
    "email": "email", "email address": "email", "e mail": "email", "e mail address": "email",
    "name": "name", "full name": "name", "first name": "first_name", "last name": "last_name",
    "languages": "languages", "language": "languages",
    "companies": "companies", "places": "places", "regions": "places", "countries": "places",
    "topics": "topics", "match": "match", "tags": "tags",
    "unsub time": "left_out", "clean time": "left_out",
}  # fmt: skip
_FACETS = ("companies", "places", "topics")
_LIST = re.compile(r"\s*[;|]\s*")
_LANGUAGE_LIST = re.compile(r"\s*[;|,]\s*")
# Language names as lists export them ("English", "Français"), besides codes.
_LANGUAGE_NAMES = {name.casefold(): code for code, name in OFFERED_LANGUAGES.items()} | {
    "english": "en", "spanish": "es", "french": "fr", "german": "de", "portuguese": "pt", "russian": "ru",
    "ukrainian": "uk", "arabic": "ar", "chinese": "zh", "japanese": "ja", "korean": "ko",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    values: dict[str, str]  # field (as in _COLUMNS) -> text as written


@dataclass(frozen=True, slots=True)
class CsvFile:
    rows: list[Row]
    columns: frozenset[str]  # our fields the file has a column for
    ignored_columns: tuple[str, ...]  # its other columns, as written


@dataclass(frozen=True, slots=True)
class Refused:
    line: int
    email: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportPlan:
    new: tuple[Subscriber, ...] = ()
    changed: tuple[tuple[Subscriber, tuple[str, ...]], ...] = ()  # the subscriber as it will be, fields changed
    unchanged: int = 0
    in_yaml: tuple[Refused, ...] = ()  # staff manage these in subscriptions.yaml: left to it
    invalid: tuple[Refused, ...] = ()
    duplicates: tuple[Refused, ...] = ()
    left_out: tuple[Refused, ...] = ()  # unsubscribed or cleaned in the list they came from
    stay_unsubscribed: tuple[str, ...] = ()  # imported, but they unsubscribed: never mailed
    ignored_columns: tuple[str, ...] = ()
    ignored_tags: Mapping[str, int] = field(default_factory=dict)  # tag -> rows

    @property
    def writes(self) -> int:
        return len(self.new) + len(self.changed)


def read_rows(path: Path) -> CsvFile:
    """The rows of `path`; ConfigError for a file that cannot be read as a CSV with an email column."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}): save the file as CSV UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    # newline="": only \r and \n end lines (str.splitlines would also split a name at U+2028)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = next(reader, None)
    if header is None:
        raise ConfigError(f"{path}: the file is empty: give a header line such as email,name,companies")
    names = [_COLUMNS.get(re.sub(r"[\s_-]+", " ", column.strip().casefold())) for column in header]
    if "email" not in names:
        raise ConfigError(f"{path}: no email column among {', '.join(header)}: name one "
                          "'email' (or 'Email Address' as Mailchimp does)")
    ignored = tuple(column for column, name in zip(header, names, strict=True) if name is None)
    return CsvFile(list(_rows(reader, names)), frozenset(filter(None, names)), ignored)


def _delimiter(text: str) -> str:
    """Comma, or the `;` or tab a spreadsheet in some locales writes: whichever the header has most of."""
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count)


def _rows(reader: Iterator[list[str]], names: list[str | None]) -> Iterator[Row]:
    line = 2  # where the next row starts: a quoted value may span lines
    for cells in reader:
        values: dict[str, str] = {}
        for name, cell in zip(names, cells, strict=False):
            if name and cell.strip():  # two columns of one field (regions and countries) add up
                values[name] = f"{values[name]};{cell.strip()}" if name in values else cell.strip()
        if values:
            yield Row(line, values)
        line = reader.line_num + 1  # type: ignore[attr-defined]


def plan_import(
    csv_file: CsvFile,
    choices: Choices,
    *,
    existing: Mapping[str, Subscriber],
    in_yaml: set[str],
    suppressed: set[str],
) -> ImportPlan:
    """What importing `rows` would change, given the subscribers already in the database
    (`existing`, by lower-cased address), the YAML's addresses and the unsubscribed."""
    reader = _RowReader(choices, csv_file.columns)
    first: dict[str, int] = {}  # address -> the line it was first given on
    new: list[Subscriber] = []
    changed: list[tuple[Subscriber, tuple[str, ...]]] = []
    refused: dict[str, list[Refused]] = {"in_yaml": [], "invalid": [], "duplicates": [], "left_out": []}
    accepted: set[str] = set()
    unchanged = 0
    for row in csv_file.rows:
        email = row.values.get("email", "").lower()
        if not email:
            refused["invalid"].append(Refused(row.line, "", "no email address"))
        elif email in first:
            refused["duplicates"].append(Refused(row.line, email, f"same address as line {first[email]}"))
        elif "left_out" in row.values:
            first[email] = row.line
            refused["left_out"].append(Refused(row.line, email, "unsubscribed or cleaned in the exported list"))
        elif email in in_yaml:
            first[email] = row.line
            refused["in_yaml"].append(Refused(row.line, email, "in subscriptions.yaml, which wins"))
        else:
            first[email] = row.line
            subscriber, problems = reader.subscriber(row, email, existing.get(email))
            if problems:
                refused["invalid"].append(Refused(row.line, email, "; ".join(problems)))
                continue
            accepted.add(email)
            if email not in existing:
                new.append(subscriber)
            elif differ := _changed_fields(existing[email], subscriber):
                changed.append((subscriber, differ))
            else:
                unchanged += 1
    return ImportPlan(
        new=tuple(new), changed=tuple(changed), unchanged=unchanged,
        in_yaml=tuple(refused["in_yaml"]), invalid=tuple(refused["invalid"]),
        duplicates=tuple(refused["duplicates"]), left_out=tuple(refused["left_out"]),
        stay_unsubscribed=tuple(sorted(accepted & suppressed)),
        ignored_columns=csv_file.ignored_columns,
        ignored_tags=dict(reader.ignored_tags.most_common()),
    )


def _changed_fields(before: Subscriber, after: Subscriber) -> tuple[str, ...]:
    return tuple(f.name for f in fields(Subscriber) if getattr(before, f.name) != getattr(after, f.name))


class _RowReader:
    """One row -> a Subscriber (over the one stored, if any) and its problems; names looked up once."""

    def __init__(self, choices: Choices, columns: frozenset[str]):
        self.choices, self.columns = choices, columns
        self.ignored_tags: Counter[str] = Counter()
        self._names: dict[tuple[str, str], tuple[tuple[str, ...], list[str]]] = {}
        self._tags: dict[str, tuple[str, str] | None] = {}

    def subscriber(self, row: Row, email: str, stored: Subscriber | None) -> tuple[Subscriber, list[str]]:
        v = row.values
        problems = [f"email {email!r} {reason}"] if (reason := address_problem(email)) else []
        base = stored or Subscriber(email=email)
        changes: dict[str, object] = {}
        if {"name", "first_name", "last_name"} & self.columns:
            name = v.get("name") or " ".join(filter(None, (v.get("first_name"), v.get("last_name"))))
            if len(name) > MAX_TEXT:
                problems.append(f"the name is longer than {MAX_TEXT} characters")
            elif problem := header_text_problem(name):
                problems.append(f"the name {problem}")
            changes["name"] = name
        if "languages" in self.columns:
            changes["languages"] = self._languages(v.get("languages", ""), problems)
        if "match" in self.columns:
            match = v.get("match", "any").lower()
            if match not in ("any", "all"):
                problems.append(f"match must be 'any' or 'all', not {v['match']!r}")
            changes["match_all"] = match == "all"
        from_tags = self._tagged(v.get("tags", ""))
        for facet in _FACETS:
            if facet in self.columns or "tags" in self.columns:
                names = [*_LIST.split(v.get(facet, "")), *from_tags[facet]]
                changes[facet], unknown = self._resolve(facet, names)
                problems += unknown
        subscriber = replace(base, **changes)  # type: ignore[arg-type]
        if not problems and not (subscriber.companies or subscriber.places or subscriber.topics):
            problems.append("follows nothing: give companies, places or topics (or catalogue names as tags)")
        return subscriber, problems

    def _resolve(self, facet: str, names: list[str]) -> tuple[tuple[str, ...], list[str]]:
        found: list[str] = []
        problems: list[str] = []
        for name in filter(None, names):
            if (facet, name) not in self._names:
                self._names[facet, name] = self.choices.resolve(facet, [name])
            canonical, unknown = self._names[facet, name]
            found += canonical
            problems += unknown
        return tuple(dict.fromkeys(found)), problems

    def _tagged(self, text: str) -> dict[str, list[str]]:
        """Mailchimp's TAGS cell (`"HSBC","Asia & Pacific"`) sorted into facets; other tags counted."""
        found: dict[str, list[str]] = {facet: [] for facet in _FACETS}
        for tag in next(csv.reader([text]), []) if text else []:
            tag = tag.strip()
            if tag and tag not in self._tags:
                self._tags[tag] = self._facet_of(tag)
            if tag and (where := self._tags[tag]) is not None:
                found[where[0]].append(where[1])
            elif tag:
                self.ignored_tags[tag] += 1
        return found

    def _facet_of(self, tag: str) -> tuple[str, str] | None:
        for facet, lookup in (("companies", self.choices.company), ("places", self.choices.place),
                              ("topics", self.choices.topic)):
            if (name := lookup(tag)) is not None:
                return facet, name
        return None

    @staticmethod
    def _languages(text: str, problems: list[str]) -> tuple[str, ...]:
        codes = []
        for item in filter(None, _LANGUAGE_LIST.split(text)):
            code = _LANGUAGE_NAMES.get(item.casefold()) or item.replace("_", "-")
            if not LANGUAGE_CODE.fullmatch(code):
                problems.append(f"{item!r} is not a language code such as en, fr, pt-BR (or a name such as French)")
            elif problem := language_problem(code):  # the rule `check` applies to the YAML
                problems.append(problem)
            else:
                codes.append(canonical_language(code))
        return tuple(dict.fromkeys(codes)) or ("en",)
