"""The ledger of sign-up emails (confirmation, welcome, "already subscribed"): each sent once.

    queue_notice    a row, queued, in the caller's transaction or its own
    claim_notices   queued (or failed, to retry) -> pending, one row at a time: a row is
                    claimed by one sender only, the web process's or the worker's
    mark_notice     pending -> sent | failed | gone, after the send
    settle_stale    pending for longer than STALE (its sender died mid-send) -> unknown:
                    never sent again, since it may have gone out
    recent_notices  when an address was last sent confirmations (the per-address limits)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bhrdigest.store.schema import notices
from bhrdigest.store.sql import store_errors

KINDS = ("confirm", "welcome", "already")
QUEUED, PENDING, SENT, FAILED, GONE, UNKNOWN = "queued", "pending", "sent", "failed", "gone", "unknown"
MAX_ATTEMPTS = 5  # a notice failing this often is left failed (status shows it)
STALE = timedelta(minutes=30)
KEPT = timedelta(days=30)  # settled notices are deleted after this (they hold addresses)

Bind = sa.Engine | sa.Connection
_store_errors = store_errors("the notices ledger")


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    kind: str  # one of KINDS
    email: str
    name: str
    language: str
    signup_id: int | None
    attempts: int
    created_at: datetime


@_store_errors
def queue_notice(bind: Bind, *, kind: str, email: str, name: str, language: str, now: datetime,
                 signup_id: int | None = None) -> int:  # fmt: skip
    """A notice to send; its id. With a connection, in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    values = {"kind": kind, "email": email.strip().lower(), "name": name, "language": language,
              "signup_id": signup_id, "status": QUEUED, "attempts": 0, "created_at": now, "updated_at": now}
    insert = sa.insert(notices).values(values).returning(notices.c.id)
    if isinstance(bind, sa.Connection):
        return bind.execute(insert).scalar_one()
    with bind.begin() as conn:
        return conn.execute(insert).scalar_one()


@_store_errors
def claim_notices(engine: sa.Engine, *, now: datetime, ids: Iterable[int] | None = None,
                  limit: int = 100) -> list[Notice]:  # fmt: skip
    """Claim notices to send now (those of `ids`, else any due): each becomes pending, ours alone."""
    due = sa.or_(notices.c.status == QUEUED,
                 sa.and_(notices.c.status == FAILED, notices.c.attempts < MAX_ATTEMPTS))
    query = sa.select(notices).where(due).order_by(notices.c.id).limit(limit)
    if ids is not None:
        query = query.where(notices.c.id.in_(list(ids)))
    claimed = []
    with engine.begin() as conn:
        rows = list(conn.execute(query))
    for row in rows:
        with engine.begin() as conn:  # one short transaction a row: never held during a send
            taken = conn.execute(
                sa.update(notices).where(notices.c.id == row.id, notices.c.status == row.status)
                .values(status=PENDING, attempts=notices.c.attempts + 1, updated_at=now)
                .execution_options(preserve_rowcount=True)
            ).rowcount
        if taken == 1:
            claimed.append(_notice(row, attempts=row.attempts + 1))
    return claimed


@_store_errors
def mark_notice(engine: sa.Engine, notice_id: int, status: str, *, error: str | None, now: datetime) -> None:
    if status not in (SENT, FAILED, GONE):
        raise ValueError(f"status must be sent, failed or gone, not {status!r}")
    with engine.begin() as conn:
        conn.execute(sa.update(notices).where(notices.c.id == notice_id, notices.c.status == PENDING)
                     .values(status=status, error=error, updated_at=now))


@_store_errors
def settle_stale(engine: sa.Engine, *, now: datetime) -> int:
    """Pending notices whose sender died become unknown (not sent again); and settled notices
    older than KEPT are deleted. How many became unknown."""
    with engine.begin() as conn:
        stale = conn.execute(
            sa.update(notices).where(notices.c.status == PENDING, notices.c.updated_at <= now - STALE)
            .values(status=UNKNOWN, updated_at=now).execution_options(preserve_rowcount=True)
        ).rowcount
        conn.execute(sa.delete(notices).where(notices.c.status.in_([SENT, GONE, UNKNOWN, FAILED]),
                                              notices.c.updated_at <= now - KEPT))
    return max(stale, 0)


@_store_errors
def recent_notices(engine: sa.Engine, email: str, kinds: Sequence[str], *, since: datetime) -> list[datetime]:
    """When notices of `kinds` were queued for `email` since `since`, oldest first."""
    query = (sa.select(notices.c.created_at)
             .where(notices.c.email == email.strip().lower(), notices.c.kind.in_(list(kinds)),
                    notices.c.created_at > since)
             .order_by(notices.c.created_at))  # fmt: skip
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


@_store_errors
def notice_counts(engine: sa.Engine) -> dict[str, int]:
    """{status: count} over the notices kept."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(notices.c.status, sa.func.count()).group_by(notices.c.status))
        return {status: count for status, count in rows}


def _notice(row: Any, *, attempts: int) -> Notice:
    return Notice(row.id, row.kind, row.email, row.name, row.language, row.signup_id, attempts, row.created_at)
