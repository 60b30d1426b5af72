"""Load subscriptions.yaml into a frozen Config, naming every problem by file, line and field.

The YAML is composed (never constructed) with a safe loader and the node tree is walked by
hand, so every value keeps its line and no YAML tag can build a Python object. Validation
never stops at the first problem: `load_config` raises one ConfigError listing them all.

Decisions an operator may want to know (CONTRACT.md has the file's shape):
- A list field (`languages`, `companies`, `regions`, `countries`, `topics`, `aliases`,
  `keywords`) also takes a single string, read as a one-item list.
- Where text is expected, a plain scalar is taken as written: `no` stays "no" (Norwegian),
  `3M` and `1` stay text. `null` or an empty value counts as absent.
- A subscriber's `regions` and `countries` both take regions or countries; both end up in
  `Subscriber.places`, canonicalised. Extra regions come from the top-level `regions:`.
- Subscriber emails are stored lower-cased; duplicates are found case-insensitively.
- `digest` and `worker` are optional; `digest.subject` defaults to DEFAULT_SUBJECT.
- `worker.max_items_per_feed` (default 1,000) caps what one fetch stores of one feed, the
  newest first: a feed of 60,000 items is a mistake or an attack, not news to store whole.
- `sender.list_id` defaults to "weekly.bhrdigest.<domain of sender.from>"; unsubscribe
  tokens are signed with it, so a config should set it explicitly and keep it.
- A feed is `{url: ...}` or a bare string; a path is made absolute against the YAML's folder.
- `sender.reply_to`, `postal_address`, `privacy_url` and `view_url` are optional: a monitored
  Reply-To address, and the footer's postal address, privacy link and "view in your browser"
  link (a page where the organisation publishes the week's update; a digest is personal, so
  bhrdigest keeps no public copy of it). `check` warns when the address or privacy link is
  missing: anti-spam laws in many countries require them in bulk mail.
- `sender.signup_url` (optional) is the public URL of `web`'s sign-up page; confirmation
  links are `<signup_url>/confirm/<token>`. Unset, it is preferences_url with its `/p/{token}`
  replaced by `/signup`; with neither, sign-up is off.
- A subscriber must follow at least one company, place or topic: one who follows nothing
  would never receive anything, which is almost certainly a mistake.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address, AddressHeader, HeaderRegistry
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import yaml

from bhrdigest.config.languages import LANGUAGE_CODE, canonical_language, language_problem
from bhrdigest.config.yaml_reader import MAX_TEXT, TAG, Reader, compose, describe, did_you_mean, has_control, is_null
from bhrdigest.errors import ConfigError
from bhrdigest.i18n import N_
from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.ingest.tagging.places import all_place_names, lookup_place
from bhrdigest.ingest.tagging.text import phrase_key
from bhrdigest.ingest.tagging.topics import all_topic_names, lookup_topic
from bhrdigest.model import Catalogue, Company, Subscriber

DEFAULT_SUBJECT = N_("Business & human rights: your weekly update")  # translated per reader
DEFAULT_MAX_ITEMS_PER_FEED = 1000
ENV_VAR = "BHRDIGEST_CONFIG"

_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
_ADDRESS_FORBIDDEN = set('<>()[]\\,;:"')

_TOP_KEYS = ("sender", "digest", "feeds", "companies", "topics", "regions", "subscribers", "worker")
_SENDER_KEYS = ("from", "unsubscribe_url", "unsubscribe_mailto", "list_id", "preferences_url", "bounce_address",
                "reply_to", "postal_address", "privacy_url", "view_url", "signup_url")
_DIGEST_KEYS = ("subject", "max_items", "period_days")
_SUBSCRIBER_KEYS = ("email", "name", "languages", "companies", "regions", "countries", "topics", "match", "telegram")


@dataclass(frozen=True, slots=True)
class Sender:
    from_addr: str  # "Display Name <addr@domain>", normalised
    unsubscribe_url: str | None  # https URL containing "{token}"
    unsubscribe_mailto: str | None  # bare address, no "mailto:"
    list_id: str = "weekly.bhrdigest"  # RFC 2919 id, without angle brackets
    preferences_url: str | None = None  # https URL containing "{token}" (the `web` preferences page)
    bounce_address: str | None = None  # VERP base of the envelope sender: bounces+alex=example.org@this.domain
    reply_to: str | None = None  # a monitored address for replies
    postal_address: str | None = None  # the organisation's, shown in every digest's footer
    privacy_url: str | None = None  # https URL of the privacy notice
    view_url: str | None = None  # https URL where the week's update can be read in a browser
    signup_url: str | None = None  # https URL of `web`'s sign-up page (default: beside preferences_url)


@dataclass(frozen=True, slots=True)
class DigestOptions:
    subject: str
    max_items: int = 40
    period_days: int = 7


@dataclass(frozen=True, slots=True)
class FeedSource:
    url: str  # http(s) URL as written, or an absolute path


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    sender: Sender
    digest: DigestOptions
    feeds: tuple[FeedSource, ...]
    catalogue: Catalogue
    subscribers: tuple[Subscriber, ...]
    worker_interval_minutes: int = 15
    max_items_per_feed: int = DEFAULT_MAX_ITEMS_PER_FEED


def load_config(path: Path, *, check_files: bool = False) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem found.

    `check_files` (for `check`) also requires feed paths to exist; other commands leave a
    missing file to `fetch`, which records it as that one feed's failure and goes on.
    """
    path = Path(path).absolute()  # named in full: staff run commands from other folders
    reader = Reader(str(path))
    root = compose(path, reader, missing_hint=f"give the right path with --config PATH or {ENV_VAR}")
    if root is None:
        raise ConfigError(reader.problems)
    config = _build_config(path, root, reader, check_files=check_files)
    if reader.problems:
        raise ConfigError(sorted(reader.problems, key=lambda p: p.line or 0))
    # Copied once the node tree is gone. A large file's nodes (a million for 100,000
    # subscribers) are freed after the walk, but the values built meanwhile sit among
    # them and keep that memory's arenas in use, which Python cannot give back: the
    # configuration of 100,000 subscribers held 627 MB as built, 160 MB as a copy.
    data = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
    del config, root
    return pickle.loads(data)


def _build_config(path: Path, root: yaml.Node, r: Reader, *, check_files: bool) -> Config:
    top = r.mapping(root, "", _TOP_KEYS)
    sender = _read_sender(top.get("sender"), r, root)
    digest = _read_digest(top.get("digest"), r)
    feeds = _read_feeds(top.get("feeds"), r, path.absolute().parent, check_files=check_files)
    companies = _read_companies(top.get("companies"), r)
    topics = _read_topics(top.get("topics"), r)
    regions = _read_regions(top.get("regions"), r)
    catalogue = Catalogue(companies=companies, topics=topics, regions=regions)
    resolver = _InterestResolver(r, CompanyIndex(companies), topics, regions)
    subscribers = _read_subscribers(top.get("subscribers"), r, resolver)
    worker = r.mapping(top.get("worker"), "worker", ("interval_minutes", "max_items_per_feed"))
    interval = r.integer(worker.get("interval_minutes"), "worker.interval_minutes", 1, 7 * 24 * 60)
    max_items = r.integer(worker.get("max_items_per_feed"), "worker.max_items_per_feed", 1, 100_000)
    return Config(
        path=path.absolute(),
        sender=sender,
        digest=digest,
        feeds=feeds,
        catalogue=catalogue,
        subscribers=subscribers,
        worker_interval_minutes=15 if interval is None else interval,
        max_items_per_feed=DEFAULT_MAX_ITEMS_PER_FEED if max_items is None else max_items,
    )


def address_problem(address: str) -> str | None:
    """Why `address` (local@domain) cannot be used as an email address, or None.

    A syntax check, not RFC 5322 in full: no quoted local parts, no comments."""
    if len(address) > 254:
        return "is longer than 254 characters"
    if any(c.isspace() or c in _ADDRESS_FORBIDDEN for c in address) or has_control(address):
        return 'contains a space, line break, control character or one of <>()[]\\,;:"'
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "must look like name@domain"
    if "@" in local:
        return "has more than one @"
    if len(local) > 64:
        return "has more than 64 characters before the @"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "has a misplaced dot before the @"
    labels = domain.split(".")
    if any(not label or len(label) > 63 for label in labels):
        return "has an empty or over-long part in the domain"
    if any(label.startswith("-") or label.endswith("-") or not label.replace("-", "").isalnum() for label in labels):
        return "has a domain with characters other than letters, digits, hyphens and dots"
    return None


def _read_sender(node: yaml.Node | None, r: Reader, root: yaml.Node) -> Sender:
    if node is None or is_null(node):
        r.add(node or root, "sender", 'missing: give sender.from, such as "Resource Centre <updates@example.org>"')
        return Sender("", None, None)
    m = r.mapping(node, "sender", _SENDER_KEYS)
    from_addr, domain = _read_from(m.get("from"), r, node)
    url = r.text(m.get("unsubscribe_url"), "sender.unsubscribe_url")
    if url is not None and (reason := _unsubscribe_url_problem(url)):
        r.add(m["unsubscribe_url"], "sender.unsubscribe_url", reason)
    mailto = r.text(m.get("unsubscribe_mailto"), "sender.unsubscribe_mailto")
    if mailto is not None:
        mailto = mailto.removeprefix("mailto:")
        if reason := address_problem(mailto):
            r.add(m["unsubscribe_mailto"], "sender.unsubscribe_mailto", f"{mailto!r} {reason}")
    list_id = r.text(m.get("list_id"), "sender.list_id")
    if list_id is not None and (len(list_id) > 255 or not _DOT_ATOM.fullmatch(list_id)):
        r.add(m["list_id"], "sender.list_id",
              "must be dotted words without spaces or <>, such as weekly.bhrdigest.example.org")
    preferences = r.text(m.get("preferences_url"), "sender.preferences_url")
    if preferences is not None and (reason := _unsubscribe_url_problem(preferences, "/p/{token}")):
        r.add(m["preferences_url"], "sender.preferences_url", reason)
    bounce = r.text(m.get("bounce_address"), "sender.bounce_address", header=True)
    if bounce is not None and (reason := address_problem(bounce) or ("+" in bounce and "must not contain '+'") or None):
        r.add(m["bounce_address"], "sender.bounce_address", f"{bounce!r} {reason}")
        bounce = None
    reply_to = r.text(m.get("reply_to"), "sender.reply_to", header=True)
    if reply_to is not None and (reason := address_problem(reply_to)):
        r.add(m["reply_to"], "sender.reply_to", f"{reply_to!r} {reason}")
    return Sender(from_addr or "", url, mailto, list_id or _default_list_id(domain), preferences,
                  bounce_address=bounce.lower() if bounce else None, reply_to=reply_to,
                  postal_address=r.text(m.get("postal_address"), "sender.postal_address"),
                  privacy_url=_read_page_url(m, "privacy_url", r), view_url=_read_page_url(m, "view_url", r),
                  signup_url=_read_page_url(m, "signup_url", r))


def _read_page_url(m: dict[str, yaml.Node], key: str, r: Reader) -> str | None:
    """A footer link (sender.privacy_url, sender.view_url): an https page anyone may open."""
    url = r.text(m.get(key), f"sender.{key}", header=True)
    if url is not None and (reason := _https_problem(url, "https://www.example.org/privacy")):
        r.add(m[key], f"sender.{key}", reason)
    return url


def _read_from(node: yaml.Node | None, r: Reader, parent: yaml.Node) -> tuple[str | None, str]:
    """Normalised "Name <addr>" and its domain; problems recorded."""
    if node is None:
        if isinstance(parent, yaml.MappingNode):
            r.add(parent, "sender.from", 'missing: the From address, such as "Resource Centre <updates@example.org>"')
        return None, ""
    value = r.text(node, "sender.from", header=True, required=True)
    if value is None:
        return None, ""
    addresses: tuple[Address, ...]
    defects: tuple[object, ...]
    try:
        header = HeaderRegistry()("from", value)
        # The registry builds the class at run time; for "from" it is an AddressHeader.
        addresses, defects = cast(AddressHeader, header).addresses, header.defects
    except Exception:  # noqa: BLE001 - the stdlib parser raises assorted errors on odd input
        addresses, defects = (), ("unparsable",)
    if len(addresses) != 1 or defects:
        r.add(node, "sender.from", f'{value!r} is not one address such as "Resource Centre <updates@example.org>"')
        return None, ""
    address = addresses[0]
    if reason := address_problem(address.addr_spec):
        r.add(node, "sender.from", f"{address.addr_spec!r} {reason}")
        return None, ""
    return str(address), address.domain


def _default_list_id(domain: str) -> str:
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_domain = ""
    candidate = f"weekly.bhrdigest.{ascii_domain}"
    return candidate if ascii_domain and _DOT_ATOM.fullmatch(candidate) else "weekly.bhrdigest"


def _unsubscribe_url_problem(url: str, path: str = "/u/{token}") -> str | None:
    if reason := _https_problem(url, f"https://digest.example.org{path}"):
        return reason
    if "{token}" not in url:
        return "must contain {token}, where each subscriber's own token goes"
    if "{" in url.replace("{token}", "") or "}" in url.replace("{token}", ""):
        return "may contain no braces other than {token}"
    return None


def _https_problem(url: str, example: str) -> str | None:
    if has_control(url) or any(c.isspace() for c in url):
        return "contains a space, line break or control character"
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("https", "http"):
        return f"must be an https:// URL such as {example}"
    if parts.scheme == "http" and host not in _LOCAL_HOSTS:
        return "must use https:// (plain http is accepted only for localhost)"
    return None


def _read_digest(node: yaml.Node | None, r: Reader) -> DigestOptions:
    m = r.mapping(node, "digest", _DIGEST_KEYS)
    subject = r.text(m.get("subject"), "digest.subject", header=True)
    max_items = r.integer(m.get("max_items"), "digest.max_items", 1, 10_000)
    period_days = r.integer(m.get("period_days"), "digest.period_days", 1, 366)
    return DigestOptions(subject or DEFAULT_SUBJECT, max_items or 40, period_days or 7)


def _read_feeds(node: yaml.Node | None, r: Reader, base: Path, *, check_files: bool) -> tuple[FeedSource, ...]:
    feeds: list[FeedSource] = []
    first: dict[str, tuple[str, int]] = {}  # resolved url -> where it was first given
    for i, item in enumerate(r.sequence(node, "feeds")):
        field = f"feeds[{i}].url"
        url_node: yaml.Node | None
        if isinstance(item, yaml.ScalarNode):
            url_node = item
        else:
            url_node = r.mapping(item, f"feeds[{i}]", ("url",)).get("url")
            if url_node is None and isinstance(item, yaml.MappingNode):
                r.add(item, field, "missing: give an https:// URL or a path to an RSS file")
        raw = r.text(url_node, field, required=True)
        if raw is None or url_node is None:
            continue
        url = _feed_url(raw, base, r, url_node, field)
        if url is None:
            continue
        if url in first:
            first_field, first_line = first[url]
            r.add(url_node, field, f"duplicate feed: same as {first_field} (line {first_line})")
            continue
        first[url] = (field, url_node.start_mark.line + 1)
        if check_files and not _SCHEME.match(url) and not os.path.isfile(url):
            r.add(url_node, field, f"no such file {url} (a path is relative to the folder of this file)")
        feeds.append(FeedSource(url))
    return tuple(feeds)


def _feed_url(raw: str, base: Path, r: Reader, node: yaml.Node, field: str) -> str | None:
    if has_control(raw):
        r.add(node, field, "contains a line break or control character")
        return None
    scheme = _SCHEME.match(raw)
    if scheme is None:
        return os.path.normpath(base / raw)
    if scheme.group(1).lower() not in ("http", "https"):
        r.add(node, field, f"scheme {scheme.group(1)!r} is not allowed: give an http(s):// URL or a file path")
        return None
    try:
        host = urlsplit(raw).hostname
    except ValueError:
        host = None
    if not host or " " in raw:
        r.add(node, field, f"{raw!r} is not a valid URL (no host, or spaces)")
        return None
    return raw


def _read_companies(node: yaml.Node | None, r: Reader) -> tuple[Company, ...]:
    """The catalogue; two companies may not share a spelling as tagging folds it
    (case, accents, punctuation: `ABN Amro` is `ABN AMRO`), or tags would be ambiguous."""
    owners: dict[tuple[str, ...], tuple[str, int]] = {}  # folded spelling -> (company, line)
    companies: list[Company] = []
    for name, key_node, value in r.entries(node, "companies"):
        field = f"companies.{name}"
        if not phrase_key(name) or len(name) > MAX_TEXT or has_control(name):
            r.add(key_node, field, "a company name must be text on one line with letters or digits")
            continue
        aliases = r.texts(r.mapping(value, field, ("aliases",)).get("aliases"), f"{field}.aliases", header=True)
        kept: list[str] = []
        for spelling, where in [(name, key_node), *aliases]:
            folded = phrase_key(spelling)
            owner, line = owners.get(folded, (None, 0))
            if not folded:
                r.add(where, f"{field}.aliases", f"alias {spelling!r} has no letters or digits")
            elif owner is None:
                owners[folded] = (name, where.start_mark.line + 1)
                kept += [spelling] if where is not key_node else []
            elif owner != name:
                what, at = ("company name", field) if where is key_node else (f"alias {spelling!r}", f"{field}.aliases")
                r.add(where, at, f"{what} is also a name or alias of {owner!r} (line {line}); "
                      "a spelling may mean one company only")
        companies.append(Company(name, tuple(kept)))
    return tuple(companies)


def _read_topics(node: yaml.Node | None, r: Reader) -> dict[str, tuple[str, ...]]:
    topics: dict[str, tuple[str, ...]] = {}
    for name, key_node, value in r.entries(node, "topics"):
        field = f"topics.{name}"
        keywords = r.texts(r.mapping(value, field, ("keywords",)).get("keywords"), f"{field}.keywords")
        builtin = lookup_topic(name, {})
        if builtin is None and not keywords:
            r.add(key_node, f"{field}.keywords", "a new topic needs keywords, or it can never match")
        canonical = builtin or name
        topics[canonical] = _unique([*topics.get(canonical, ()), *(k for k, _ in keywords)])
    return topics


def _read_regions(node: yaml.Node | None, r: Reader) -> dict[str, tuple[str, ...]]:
    regions: dict[str, tuple[str, ...]] = {}
    for name, key_node, value in r.entries(node, "regions"):
        field = f"regions.{name}"
        if lookup_place(name) is not None:
            r.add(key_node, field, f"{name!r} is already a built-in region or country; choose another name")
            continue
        countries = []
        for country, where in r.texts(value, field):
            place = lookup_place(country)
            if place is None:
                r.add(where, field, f"unknown country {country!r}{did_you_mean(country, all_place_names())}")
            else:
                countries.append(place.name)
        if not countries:
            r.add(key_node, field, "a region needs at least one known country")
        regions[name] = _unique(countries)
    return regions


class _InterestResolver:
    """Canonical names for what a subscriber follows, with suggestions when unknown."""

    def __init__(self, r: Reader, companies: CompanyIndex,
                 topics: dict[str, tuple[str, ...]], regions: dict[str, tuple[str, ...]]):
        self.r, self.companies, self.topics = r, companies, topics
        self.regions = {n.casefold(): n for n in regions}

    def company(self, name: str, node: yaml.Node, field: str) -> str | None:
        found = self.companies.lookup(name)
        if found is None:
            close = self.companies.suggest(name, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.r.add(node, field, f"unknown company {name!r}: not in the companies catalogue by name or alias{hint}")
        return found

    def place(self, name: str, node: yaml.Node, field: str) -> str | None:
        if name.casefold() in self.regions:
            return self.regions[name.casefold()]
        place = lookup_place(name)
        if place is None:
            choices = [*all_place_names(), *self.regions.values()]
            self.r.add(node, field, f"unknown region or country {name!r}{did_you_mean(name, choices)}")
            return None
        return place.name

    def topic(self, name: str, node: yaml.Node, field: str) -> str | None:
        found = lookup_topic(name, self.topics)
        if found is None:
            self.r.add(node, field, f"unknown topic {name!r}{did_you_mean(name, all_topic_names(self.topics))}")
        return found

    def all(self, kind: str, m: dict[str, yaml.Node], field: str) -> list[str]:
        """Canonical names under key `kind` of subscriber mapping `m`; unknown ones reported."""
        resolve = {"companies": self.company, "topics": self.topic}.get(kind, self.place)
        found = []
        for name, node in self.r.texts(m.get(kind), f"{field}.{kind}"):
            canonical = resolve(name, node, f"{field}.{kind}")
            if canonical is not None:
                found.append(canonical)
        return found


def _read_subscribers(node: yaml.Node | None, r: Reader, resolve: _InterestResolver) -> tuple[Subscriber, ...]:
    subscribers: list[Subscriber] = []
    first: dict[str, tuple[str, int]] = {}  # email -> where it was first given
    for i, item in enumerate(r.sequence(node, "subscribers")):
        field = f"subscribers[{i}]"
        read = _read_subscriber(item, field, r, resolve)
        if read is None:
            continue
        subscriber, email_node = read
        if subscriber.email in first:
            first_field, first_line = first[subscriber.email]
            r.add(email_node, f"{field}.email",
                  f"duplicate subscriber {subscriber.email!r}: already {first_field} (line {first_line})")
            continue
        first[subscriber.email] = (f"{field}.email", email_node.start_mark.line + 1)
        subscribers.append(subscriber)
    return tuple(subscribers)


def _read_subscriber(
    node: yaml.Node, field: str, r: Reader, resolve: _InterestResolver
) -> tuple[Subscriber, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        r.add(node, field, f"expected a mapping with email, companies, regions, topics…, got {describe(node)}")
        return None
    m = r.mapping(node, field, _SUBSCRIBER_KEYS)
    if "email" not in m:
        r.add(node, f"{field}.email", "missing: every subscriber needs an email address")
    email = r.text(m.get("email"), f"{field}.email", required=True)
    if email is not None and (reason := address_problem(email)):
        r.add(m["email"], f"{field}.email", f"{email!r} {reason}")
        email = None
    name = r.text(m.get("name"), f"{field}.name", header=True) or ""
    languages = _read_languages(m.get("languages"), f"{field}.languages", r)
    companies = resolve.all("companies", m, field)
    places = resolve.all("regions", m, field) + resolve.all("countries", m, field)
    topics = resolve.all("topics", m, field)
    match = r.text(m.get("match"), f"{field}.match")
    if match is not None and match.lower() not in ("any", "all"):
        r.add(m["match"], f"{field}.match", f"must be 'any' or 'all', not {match!r}")
    telegram = _read_telegram(m.get("telegram"), f"{field}.telegram", r)
    if not any(_given(m.get(k)) for k in ("companies", "regions", "countries", "topics")):
        r.add(node, field, "follows nothing: give at least one of companies, regions, countries or topics")
    if email is None:
        return None
    subscriber = Subscriber(
        email=email.lower(),
        name=name,
        languages=languages,
        companies=_unique(companies),
        places=_unique(places),
        topics=_unique(topics),
        match_all=(match or "any").lower() == "all",
        telegram=telegram,
    )
    return subscriber, m["email"]


def _given(node: yaml.Node | None) -> bool:
    return node is not None and not is_null(node) and not (isinstance(node, yaml.SequenceNode) and not node.value)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _read_languages(node: yaml.Node | None, field: str, r: Reader) -> tuple[str, ...]:
    if node is None or is_null(node):
        return ("en",)
    if isinstance(node, yaml.SequenceNode) and not node.value:
        r.add(node, field, "give at least one language, such as [en]")
    languages = []
    for code, item in r.texts(node, field):
        if not LANGUAGE_CODE.fullmatch(code):
            r.add(item, field, f"{code!r} is not a language code such as en, ja, pt-BR")
        elif problem := language_problem(code):
            r.add(item, field, problem)
        else:
            languages.append(canonical_language(code))
    return _unique(languages) or ("en",)


def _read_telegram(node: yaml.Node | None, field: str, r: Reader) -> int | None:
    if node is None or is_null(node):
        return None
    if not isinstance(node, yaml.ScalarNode) or node.tag != TAG + "int":
        r.add(node, field, f"must be a numeric Telegram chat id (the bot tells it on /start), got {describe(node)}")
        return None
    chat_id = r.integer(node, field, -(2**53), 2**53)
    if chat_id == 0:
        r.add(node, field, "0 is not a Telegram chat id")
        return None
    return chat_id
