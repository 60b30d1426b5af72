"""The subscribers who live in the database: imported from a CSV (later: signed up on the web).

subscriptions.yaml keeps the staff-managed subscribers; store/subscribers.py merges both
into what `send` sees. Here: read them all (one query, for `send`), one by address (the
web pages), and write an import's new and changed subscribers in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bhrdigest.model import Subscriber
from bhrdigest.store.schema import subscribers as table
from bhrdigest.store.sql import chunked, insert_ignore, store_errors

SOURCES = ("import", "web")
_BATCH = 5_000  # rows per executemany: bounded memory, few round trips


@dataclass(frozen=True, slots=True)
class StoredSubscriber:
    id: int
    subscriber: Subscriber  # facets as stored: canonical when written, re-checked on use
    source: str  # one of SOURCES
    created_at: datetime
    updated_at: datetime


@store_errors("the subscribers table")
def load_roster(engine: sa.Engine) -> list[StoredSubscriber]:
    """Every subscriber in the database, oldest first."""
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(sa.select(table).order_by(table.c.id))]


@store_errors("the subscribers table")
def stored_emails(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.email)).scalars())


@store_errors("the subscribers table")
def get_stored(engine: sa.Engine, email: str) -> StoredSubscriber | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.email == email.lower())).first()
    return _stored(row) if row else None


@store_errors("the subscribers table")
def write_roster(
    engine: sa.Engine, *, new: Sequence[Subscriber], changed: Sequence[Subscriber], source: str, now: datetime
) -> int:
    """Insert `new` and update `changed` (by address) in one transaction; returns rows inserted.

    An address another process inserted meanwhile is left as it is (insert-or-ignore), so two
    imports at once never fail half-way or make one address two subscribers."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    update = (
        sa.update(table)
        .where(table.c.email == sa.bindparam("key"))
        .values({name: sa.bindparam(f"new_{name}") for name in (*_FIELDS, "updated_at")})
    )
    inserted = 0
    with engine.begin() as conn:
        for batch in chunked(new, _BATCH):
            rows = [{**_values(s), "source": source, "created_at": now, "updated_at": now} for s in batch]
            inserted += insert_ignore(conn, table, rows)
        for batch in chunked(changed, _BATCH):
            rows = [{**_values(s), "updated_at": now} for s in batch]
            conn.execute(update, [{"key": r["email"], **{f"new_{k}": r[k] for k in (*_FIELDS, "updated_at")}}
                                  for r in rows])
    return inserted


_FIELDS = ("name", "languages", "companies", "places", "topics", "match_all", "telegram")


def _values(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "email": subscriber.email.lower(),
        "name": subscriber.name,
        "languages": list(subscriber.languages),
        "companies": list(subscriber.companies),
        "places": list(subscriber.places),
        "topics": list(subscriber.topics),
        "match_all": subscriber.match_all,
        "telegram": subscriber.telegram,
    }


def _stored(row: Any) -> StoredSubscriber:
    subscriber = Subscriber(
        email=row.email,
        name=row.name,
        languages=tuple(row.languages) or ("en",),
        companies=tuple(row.companies),
        places=tuple(row.places),
        topics=tuple(row.topics),
        match_all=bool(row.match_all),
        telegram=row.telegram,
    )
    return StoredSubscriber(row.id, subscriber, row.source, row.created_at, row.updated_at)
