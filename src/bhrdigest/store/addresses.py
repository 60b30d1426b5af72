"""One compact id per address (the `addresses` table), whatever the address's source.

    address_ids  the ids of some addresses, given to those that have none yet
    known_ids    the ids of those that have one (read only: nothing is created)
    email_of     the address an id names, or None

Ids are what tokens and the ledger carry instead of the address: an address is never
written into a URL, and a row is never deleted, so an id keeps naming the same reader.
Addresses are compared lower-cased (one address, one subscriber).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa

from bhrdigest.store.schema import addresses
from bhrdigest.store.sql import begin, chunked, insert_ignore, store_errors

Bind = sa.Engine | sa.Connection

_store_errors = store_errors("the address register")


@_store_errors
def address_ids(bind: Bind, emails: Iterable[str], *, now: datetime | None = None) -> dict[str, int]:
    """{lower-cased email: id} for every email, creating the ids it lacks (idempotent)."""
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails))
    with begin(bind) as conn:
        found = _select(conn, wanted)
        missing = [e for e in wanted if e not in found]
        if missing:
            moment = now or datetime.now(UTC)
            insert_ignore(conn, addresses, [{"email": e, "created_at": moment} for e in missing])
            found.update(_select(conn, missing))
    return found


@_store_errors
def known_ids(bind: Bind, emails: Iterable[str]) -> dict[str, int]:
    """{lower-cased email: id} for the emails that have an id; creates nothing."""
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails))
    with begin(bind) as conn:
        return _select(conn, wanted)


@_store_errors
def email_of(bind: Bind, address_id: int) -> str | None:
    with begin(bind) as conn:
        return conn.execute(sa.select(addresses.c.email).where(addresses.c.id == address_id)).scalar()


def _select(conn: sa.Connection, emails: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunked(emails):
        query = sa.select(addresses.c.email, addresses.c.id).where(addresses.c.email.in_(chunk))
        found.update({email: id_ for email, id_ in conn.execute(query)})
    return found
