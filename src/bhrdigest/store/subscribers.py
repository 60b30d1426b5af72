"""Subscribers' own changes from the web, the addresses never to be mailed again, and the
merge of subscriptions.yaml with the subscribers who live in the database.

    subscriber_preferences  a row per subscriber who changed something on the preferences
                            page: their facets (NULL: as in the YAML) and whether paused
    suppressions            a row per address that unsubscribed (one-click, the page, staff)
    subscribers             readers imported from a CSV (store/roster.py)

`effective_subscribers` is what `send` and `preview` use: the YAML's subscribers, then the
database's, with their web choices applied, the paused and the unsubscribed left out.

The rules where they meet (README, "Subscribers"):
- one address is one subscriber, compared lower-cased;
- an address in both subscriptions.yaml and the database is the YAML's (staff manage it);
  the database row is kept and `subscribers` shows the conflict;
- choices saved on the preferences page override the facets of either source;
- an unsubscribed address stays suppressed whatever the YAML or an import says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bhrdigest.config.preferences import Choices, Preferences, apply_preferences
from bhrdigest.model import Catalogue, Subscriber
from bhrdigest.store.roster import StoredSubscriber, get_stored, load_roster
from bhrdigest.store.schema import subscriber_preferences as prefs_table
from bhrdigest.store.schema import suppressions as suppressions_table
from bhrdigest.store.sql import insert_ignore

if TYPE_CHECKING:
    from bhrdigest.config.load import Config

log = logging.getLogger(__name__)

REASONS = ("one-click", "web", "staff", "hard-bounce", "complaint", "soft-bounces")
_FACETS = ("companies", "places", "topics", "languages")


@dataclass(frozen=True, slots=True)
class Suppression:
    email: str
    reason: str  # one of REASONS
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberView:
    """One line of `bhrdigest subscribers`: the YAML, the database, the web's changes and suppression merged."""

    email: str
    status: str  # active | paused | unsubscribed
    in_yaml: bool
    subscriber: Subscriber | None  # as a digest would be made for them (None: only unsubscribed)
    changed_on_web: tuple[str, ...]  # facets the subscriber set on the preferences page
    preferences_updated_at: datetime | None
    suppression: Suppression | None
    source: str = "yaml"  # yaml | import | web | "" (an unsubscribed address listed nowhere)
    also_stored: str | None = None  # a YAML subscriber also in the database: that row's source

    @property
    def conflict(self) -> str | None:
        """Why two sources name this address, and which one counts."""
        if self.also_stored is None:
            return None
        return f"also in the database ({self.also_stored}); subscriptions.yaml wins"

    def to_json(self) -> dict:
        s = self.subscriber
        return {
            "email": self.email,
            "name": s.name if s else "",
            "status": self.status,
            "source": self.source or None,
            "in_yaml": self.in_yaml,
            "conflict": self.conflict,
            "companies": list(s.companies) if s else [],
            "places": list(s.places) if s else [],
            "topics": list(s.topics) if s else [],
            "languages": list(s.languages) if s else [],
            "match": ("all" if s.match_all else "any") if s else None,
            "changed_on_web": list(self.changed_on_web),
            "preferences_updated_at": _iso(self.preferences_updated_at),
            "unsubscribed_at": _iso(self.suppression.created_at if self.suppression else None),
            "unsubscribe_reason": self.suppression.reason if self.suppression else None,
        }


# --- preferences -------------------------------------------------------------


def get_preferences(engine: sa.Engine, email: str) -> Preferences | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(prefs_table).where(prefs_table.c.email == email.lower())).first()
    return _preferences(row) if row else None


def load_preferences(engine: sa.Engine) -> dict[str, Preferences]:
    with engine.connect() as conn:
        return {row.email: _preferences(row) for row in conn.execute(sa.select(prefs_table))}


def save_preferences(
    engine: sa.Engine,
    email: str,
    *,
    companies: Sequence[str] | None,
    places: Sequence[str] | None,
    topics: Sequence[str] | None,
    languages: Sequence[str] | None,
    now: datetime,
) -> None:
    """Store a subscriber's choices (canonical names; None: as in the YAML), keeping whether they paused."""
    facets = {"companies": companies, "places": places, "topics": topics, "languages": languages}
    _upsert(engine, email, {name: None if v is None else list(v) for name, v in facets.items()}, now)


def set_paused(engine: sa.Engine, email: str, paused: bool, *, now: datetime) -> None:
    """Pause or resume one subscriber's digest; their choices stay as they are."""
    _upsert(engine, email, {"paused": paused}, now)


def _upsert(engine: sa.Engine, email: str, values: dict[str, Any], now: datetime) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    changes = {**values, "updated_at": now}
    stmt = dialect.insert(prefs_table).values(email=email.lower(), **{"paused": False, **changes})
    stmt = stmt.on_conflict_do_update(index_elements=[prefs_table.c.email], set_=changes)
    with engine.begin() as conn:
        conn.execute(stmt)


def _preferences(row: sa.Row[Any]) -> Preferences:
    def names(value: Sequence[object] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(str(v) for v in value)

    return Preferences(
        email=row.email,
        companies=names(row.companies),
        places=names(row.places),
        topics=names(row.topics),
        languages=names(row.languages),
        paused=bool(row.paused),
        updated_at=row.updated_at,
    )


# --- suppressions ------------------------------------------------------------


def suppress(engine: sa.Engine, email: str, reason: str, *, now: datetime) -> tuple[Suppression, bool]:
    """Never mail `email` again; idempotent. Returns the suppression and whether it is new
    (the first one's time and reason are kept)."""
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}, not {reason!r}")
    address = email.lower()
    with engine.begin() as conn:
        created = insert_ignore(conn, suppressions_table, [{"email": address, "reason": reason, "created_at": now}])
        row = conn.execute(sa.select(suppressions_table).where(suppressions_table.c.email == address)).one()
    if created:
        log.info("unsubscribed (%s)", reason)  # no address: logs are no mailing list
    return _suppression(row), bool(created)


def unsuppress(engine: sa.Engine, email: str) -> bool:
    """Lift a suppression (the person asked to come back); True if there was one."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.delete(suppressions_table).where(suppressions_table.c.email == email.lower())
            .execution_options(preserve_rowcount=True)
        )
    return result.rowcount > 0


def get_suppression(engine: sa.Engine, email: str) -> Suppression | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(suppressions_table).where(suppressions_table.c.email == email.lower())
        ).first()
    return _suppression(row) if row else None


def load_suppressions(engine: sa.Engine) -> dict[str, Suppression]:
    with engine.connect() as conn:
        return {row.email: _suppression(row) for row in conn.execute(sa.select(suppressions_table))}


def _suppression(row: sa.Row[Any]) -> Suppression:
    return Suppression(row.email, row.reason, row.created_at)


# --- the merged view -----------------------------------------------------------


def effective_subscribers(
    engine: sa.Engine, subscribers: Sequence[Subscriber], catalogue: Catalogue
) -> list[Subscriber]:
    """Who gets a digest, and for what: YAML + web choices, minus the paused and unsubscribed."""
    return [
        view.subscriber
        for view in subscriber_views(engine, subscribers, catalogue, include_unlisted=False)
        if view.status == "active" and view.subscriber is not None
    ]


def subscriber_views(
    engine: sa.Engine,
    subscribers: Sequence[Subscriber],
    catalogue: Catalogue,
    *,
    include_unlisted: bool = True,
) -> list[SubscriberView]:
    """Every YAML subscriber (in YAML order), then the database's (oldest first), then
    unsubscribed addresses neither lists."""
    preferences = load_preferences(engine)
    suppressed = load_suppressions(engine)
    stored = {row.subscriber.email: row for row in load_roster(engine)}
    choices = Choices(catalogue)

    def view(subscriber: Subscriber, source: str, also_stored: str | None = None) -> SubscriberView:
        email = subscriber.email.lower()
        mine, suppression = preferences.get(email), suppressed.get(email)
        status = "unsubscribed" if suppression else "paused" if mine and mine.paused else "active"
        return SubscriberView(
            email=email,
            status=status,
            in_yaml=source == "yaml",
            subscriber=apply_preferences(subscriber, mine, choices),
            changed_on_web=tuple(f for f in _FACETS if mine and getattr(mine, f) is not None),
            preferences_updated_at=mine.updated_at if mine else None,
            suppression=suppression,
            source=source,
            also_stored=also_stored,
        )

    views = []
    for subscriber in subscribers:
        row = stored.pop(subscriber.email.lower(), None)
        views.append(view(subscriber, "yaml", row.source if row else None))
    known = _known_names(choices)
    views += [view(known(row.subscriber), row.source) for row in stored.values()]
    if include_unlisted:
        listed = {view.email for view in views}
        for email in sorted(set(suppressed) - listed):
            views.append(SubscriberView(email, "unsubscribed", False, None, (), None, suppressed[email], source=""))
    return views


def find_subscriber(
    engine: sa.Engine, in_yaml: Mapping[str, Subscriber], choices: Choices, email: str
) -> Subscriber | None:
    """The subscriber `email` names (the YAML's first, then the database's), web choices not applied."""
    address = email.lower()
    if address in in_yaml:
        return in_yaml[address]
    row: StoredSubscriber | None = get_stored(engine, address)
    return _known_names(choices)(row.subscriber) if row else None


def _known_names(choices: Choices) -> Callable[[Subscriber], Subscriber]:
    """A stored subscriber without the names the catalogue has since dropped.

    Each distinct name is looked up once: 100,000 subscribers share a few thousand names."""
    cache: dict[tuple[str, str], str | None] = {}
    resolvers = {"companies": choices.company, "places": choices.place, "topics": choices.topic}

    def known(facet: str, names: tuple[str, ...]) -> tuple[str, ...]:
        found = []
        for name in names:
            if (facet, name) not in cache:
                cache[facet, name] = resolvers[facet](name)
            if (canonical := cache[facet, name]) is not None:
                found.append(canonical)
        return tuple(dict.fromkeys(found))

    def clean(subscriber: Subscriber) -> Subscriber:
        return replace(subscriber, companies=known("companies", subscriber.companies),
                       places=known("places", subscriber.places), topics=known("topics", subscriber.topics))

    return clean


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def effective_config(engine: sa.Engine, config: Config) -> Config:
    """`config` (a Config) with its subscribers as `send` must see them: see `effective_subscribers`."""
    return replace(config, subscribers=tuple(effective_subscribers(engine, config.subscribers, config.catalogue)))
