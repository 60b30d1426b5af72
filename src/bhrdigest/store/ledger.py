"""The exactly-once ledger of digest runs: who was sent what, written around every send.

A run's life, safe across processes (SQLite and PostgreSQL alike):

    open_run     resume the unfinished run (same id, same period) or start the next one,
                 whose period begins where the last finished run's ended
    claim        a `pending` row BEFORE sending; False when this (run, email) is taken
    mark         after sending: sent (and its components, never delivered again) | failed | gone
    finish_run   once nothing is pending or failed
    retry_unknown  staff re-send messages of unknown fate (reopens the latest run)
    delivered_keys which of this period's components each subscriber already has

Delivery statuses:

    pending   claimed, being sent
    sent      accepted by the relay; its components are in delivered_components
    failed    transient failure: the next `send` of the same run tries again
    gone      permanent refusal: never retried
    unknown   a sender died mid-send (Ctrl-C, kill -9, lost relay): the mail may or may not
              have gone, so it is not re-sent until staff call retry_unknown

Every function takes an Engine (one transaction per call) or a Connection (its current
transaction, or a new one when none is open).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bhrdigest.errors import StoreError
from bhrdigest.store.schema import delivered_components, deliveries, digest_runs
from bhrdigest.store.sql import chunked, insert_ignore

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, GONE, UNKNOWN = "pending", "sent", "failed", "gone", "unknown"
STATUSES = (PENDING, SENT, FAILED, GONE, UNKNOWN)
_RESULT_STATUS = {"sent": SENT, "failed": FAILED, "gone": GONE}
_RUN_LOCK = 0x62687264  # "bhrd": PostgreSQL advisory lock serialising open_run

Bind = Engine | Connection
_P = ParamSpec("_P")
_R = TypeVar("_R")


class SendOutcome(Protocol):
    """What `mark` needs of a delivery result (delivery.smtp.SendResult fits)."""

    message_id: str
    status: str
    error: str | None
    attempts: int


def _store_errors(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Database failures become StoreError, naming the ledger step that failed."""
    step = function.__name__.replace("_", " ")

    @functools.wraps(function)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except sa.exc.DBAPIError as exc:
            raise StoreError(
                f"the digest ledger could not {step}: {exc.orig} (check DATABASE_URL, that the "
                "database is up and not locked, and that `bhrdigest db upgrade` has run)"
            ) from exc

    return translated


@dataclass(frozen=True)
class DigestRun:
    id: int
    period_start: datetime
    period_end: datetime
    resumed: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None


@_store_errors
def open_run(bind: Bind, *, now: datetime, first_period_days: int = 7) -> DigestRun:
    """The unfinished run, resumed as it was; else a new run from the last period's end to `now`."""
    now = _aware(now)
    with _transaction(bind, exclusive=True) as conn:
        latest = conn.execute(sa.select(digest_runs).order_by(digest_runs.c.id.desc()).limit(1)).first()
        if latest is not None and latest.finished_at is None:
            log.info("resuming digest run %s (%s to %s)", latest.id, latest.period_start, latest.period_end)
            return _digest_run(latest, resumed=True)
        start = _from_db(latest.period_end) if latest is not None else now - timedelta(days=first_period_days)
        end = max(now, start)  # a clock set back must not make a negative period
        values = {"started_at": now, "period_start": start, "period_end": end}
        run_id = conn.execute(sa.insert(digest_runs).values(**values)).inserted_primary_key[0]
    log.info("digest run %s: %s to %s", run_id, start, end)
    return DigestRun(run_id, start, end, resumed=False, started_at=now)


@_store_errors
def last_run(bind: Bind) -> DigestRun | None:
    with _transaction(bind) as conn:
        latest = conn.execute(sa.select(digest_runs).order_by(digest_runs.c.id.desc()).limit(1)).first()
    return None if latest is None else _digest_run(latest, resumed=False)


@_store_errors
def claim(
    bind: Bind,
    run_id: int,
    email: str,
    message_id: str,
    component_keys: Iterable[str],
    size: int,
    *,
    now: datetime | None = None,
) -> bool:
    """Record `pending` before sending; True when this process may send to `email` now.

    A `failed` row is claimed again (a retry within the run). A `pending` row found here
    belongs to a sender that died mid-send, or to one sending right now: either way this
    process must not send, and the row becomes `unknown` (a live sender's `mark` still
    records the real outcome).
    """
    now = _aware(now or datetime.now(UTC))
    item_count = sum(1 for _ in component_keys)
    fresh = {"message_id": message_id, "item_count": item_count, "size": size, "error": None, "updated_at": now}
    this_row = (deliveries.c.run_id == run_id) & (deliveries.c.email == email)
    with _transaction(bind) as conn:
        row = {"run_id": run_id, "email": email, "status": PENDING, "attempts": 0, **fresh}
        if insert_ignore(conn, deliveries, [row]):
            return True
        retry = sa.update(deliveries).where(this_row & (deliveries.c.status == FAILED))
        if conn.execute(retry.values(status=PENDING, **fresh)).rowcount:
            return True
        orphan = sa.update(deliveries).where(this_row & (deliveries.c.status == PENDING))
        if conn.execute(orphan.values(status=UNKNOWN, error=_UNKNOWN_FATE, updated_at=now)).rowcount:
            log.warning("digest to %s in run %s: fate unknown after an interrupted send", email, run_id)
    return False


_UNKNOWN_FATE = (
    "a sender stopped while sending (interrupted, killed or lost the relay): the message may "
    "or may not have been delivered; `retry_unknown` sends it again"
)


@_store_errors
def mark(
    bind: Bind,
    run_id: int,
    email: str,
    result: SendOutcome,
    component_keys: Iterable[str],
    *,
    now: datetime | None = None,
) -> None:
    """Record what became of a claimed send; a sent message's components are never sent again."""
    try:
        status = _RESULT_STATUS[result.status]
    except KeyError:
        raise ValueError(f"unknown delivery status {result.status!r}") from None
    now = _aware(now or datetime.now(UTC))
    with _transaction(bind) as conn:
        # Matching the message id keeps a stale outcome from overwriting a newer claim.
        updated = conn.execute(
            sa.update(deliveries)
            .where(
                (deliveries.c.run_id == run_id)
                & (deliveries.c.email == email)
                & (deliveries.c.message_id == result.message_id)
            )
            .values(
                status=status,
                error=result.error,
                attempts=deliveries.c.attempts + result.attempts,
                updated_at=now,
            )
        ).rowcount
        if not updated:
            log.warning("no claimed delivery to %s with message id %s in run %s", email, result.message_id, run_id)
        if status == SENT:  # even unclaimed: the subscriber has these components now
            rows = [{"email": email, "key": key, "run_id": run_id} for key in dict.fromkeys(component_keys)]
            insert_ignore(conn, delivered_components, rows)


@_store_errors
def retry_unknown(bind: Bind, run_id: int, emails: Iterable[str] | None = None) -> int:
    """Staff chose to re-send messages of unknown fate: make them claimable; returns how many.

    The run is reopened when it had finished, so the next `send` resumes it. Only the latest
    run can be: a later run's period has already begun.
    """
    now = datetime.now(UTC)
    base = (
        sa.update(deliveries)
        .where((deliveries.c.run_id == run_id) & (deliveries.c.status == UNKNOWN))
        .values(status=FAILED, error="fate unknown; staff asked to send again", updated_at=now)
    )
    with _transaction(bind) as conn:
        latest = conn.execute(sa.select(sa.func.max(digest_runs.c.id))).scalar()
        if latest != run_id:
            raise StoreError(
                f"digest run {run_id} is not the latest run ({latest}): its messages of unknown "
                "fate can no longer be sent again"
            )
        if emails is None:
            changed = conn.execute(base).rowcount
        else:
            chunks = chunked(list(dict.fromkeys(emails)))
            changed = sum(conn.execute(base.where(deliveries.c.email.in_(chunk))).rowcount for chunk in chunks)
        if changed:
            conn.execute(sa.update(digest_runs).where(digest_runs.c.id == run_id).values(finished_at=None))
    return changed


@_store_errors
def finish_run(bind: Bind, run_id: int, now: datetime) -> bool:
    """Close the run unless deliveries are pending or failed (those are retried by a re-run)."""
    now = _aware(now)
    with _transaction(bind) as conn:
        open_rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where((deliveries.c.run_id == run_id) & deliveries.c.status.in_((PENDING, FAILED)))
        ).scalar_one()
        if open_rows:
            return False
        conn.execute(
            sa.update(digest_runs)
            .where((digest_runs.c.id == run_id) & digest_runs.c.finished_at.is_(None))
            .values(finished_at=now)
        )
    return True


@_store_errors
def run_summary(bind: Bind, run_id: int) -> dict[str, int]:
    """Deliveries of the run by status; every status is present, zero when none."""
    with _transaction(bind) as conn:
        counts = conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.run_id == run_id)
            .group_by(deliveries.c.status)
        ).all()
    summary = dict.fromkeys(STATUSES, 0)
    summary.update({status: count for status, count in counts})
    return summary


@_store_errors
def delivered_keys(
    bind: Bind, emails: Iterable[str], keys: Iterable[str] | None = None
) -> dict[str, set[str]]:
    """Component keys already delivered to each email (only emails that have some).

    Pass `keys` (this period's candidates) to bound the result: without it a long-standing
    subscriber's whole history is read.
    """
    email_list = list(dict.fromkeys(emails))
    key_chunks: list[Sequence[str] | None] = [None]
    if keys is not None:
        key_chunks = list(chunked(list(dict.fromkeys(keys)), 2000))
    found: dict[str, set[str]] = {}
    table = delivered_components
    with _transaction(bind) as conn:
        for email_chunk in chunked(email_list):
            for key_chunk in key_chunks:
                query = sa.select(table.c.email, table.c.key).where(table.c.email.in_(email_chunk))
                if key_chunk is not None:
                    query = query.where(table.c.key.in_(key_chunk))
                for email, key in conn.execute(query):
                    found.setdefault(email, set()).add(key)
    return found


# --- helpers -------------------------------------------------------------------------


@contextmanager
def _transaction(bind: Bind, *, exclusive: bool = False) -> Iterator[Connection]:
    """A transaction of our own, or the caller's when it has one open."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            if exclusive:
                _lock_runs(conn)
            yield conn
    elif bind.in_transaction():
        yield bind  # the caller commits, and holds whatever locks it took
    else:
        with bind.begin():
            if exclusive:
                _lock_runs(bind)
            yield bind


def _lock_runs(conn: Connection) -> None:
    """Serialise open_run: two `send`s started at once must share one run, not make two."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RUN_LOCK})
    elif conn.dialect.name == "sqlite":
        # pysqlite defers BEGIN until the first write; take the write lock before reading.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _digest_run(row: sa.Row, *, resumed: bool) -> DigestRun:
    return DigestRun(
        id=row.id,
        period_start=_from_db(row.period_start),
        period_end=_from_db(row.period_end),
        resumed=resumed,
        started_at=_from_db(row.started_at),
        finished_at=_from_db(row.finished_at) if row.finished_at is not None else None,
    )


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the ledger needs timezone-aware datetimes (UTC)")
    return moment.astimezone(UTC)


def _from_db(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; we only ever store UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
