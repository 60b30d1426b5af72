"""The exactly-once ledger of digest runs: who was sent what, written around every send.

A run's life, safe across processes and machines (SQLite and PostgreSQL alike):

    open_run     resume the unfinished run (same id, same period) or start the next one,
                 whose period begins where the last finished run's ended
    enqueue      one `queued` row per recipient; idempotent, so every sender of the run
                 may enqueue what it planned (an email the run already has is left alone)
    requeue_failed  the run's transient failures, queued again by the next `send`
    claim_batch  a sender takes a batch of queued rows under a lease (FOR UPDATE SKIP
                 LOCKED on PostgreSQL); `renew_lease` keeps it while the sender lives;
                 a batch whose lease ran out is taken over, and its `pending` rows (a
                 dead sender's messages in flight) become `unknown`
    claim        a `pending` row BEFORE sending; False when this (run, email) is taken
    mark         after sending: sent (and its components, never delivered again) | failed | gone
    abandon      a sender stopping at once (a second Ctrl-C) gives up its messages in
                 flight: `unknown`, as if it had died, but without the lease's wait
    expire_lease a sender known to be gone (its process no longer exists): its batch may
                 be taken over now, not when the lease runs out
    finish_run   once nothing is queued, pending or failed
    retry_unknown  staff re-send messages of unknown fate (reopens the latest run)

Delivery statuses:

    queued    planned for this run, not yet being sent (held by a batch lease, or free)
    pending   claimed, being sent
    sent      accepted by the relay; its components are on the row (`delivered`), never sent again
    failed    transient failure: the next `send` of the same run tries again
    gone      permanent refusal: never retried
    unknown   a sender died mid-send (Ctrl-C, kill -9, lost relay): the mail may or may not
              have gone, so it is not re-sent until staff call retry_unknown

Rows are keyed by the address's compact id (store/addresses.py); the functions here take
and give addresses. Every function takes an Engine (one transaction per call) or a
Connection (its current transaction, or a new one when none is open). Old runs' rows are
removed by `db prune` (store/retention.py).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bhrdigest.errors import StoreError
from bhrdigest.store.addresses import address_ids, known_ids
from bhrdigest.store.delivered import pack_items
from bhrdigest.store.schema import addresses, deliveries, digest_runs
from bhrdigest.store.sql import chunked, insert_ignore, store_errors

log = logging.getLogger(__name__)

QUEUED, PENDING, SENT, FAILED, GONE, UNKNOWN = "queued", "pending", "sent", "failed", "gone", "unknown"
STATUSES = (QUEUED, PENDING, SENT, FAILED, GONE, UNKNOWN)
OPEN = (QUEUED, PENDING, FAILED)  # a run with rows in these is not finished
_RESULT_STATUS = {"sent": SENT, "failed": FAILED, "gone": GONE}
_RUN_LOCK = 0x62687264  # "bhrd": PostgreSQL advisory lock serialising open_run

Bind = Engine | Connection


class SendOutcome(Protocol):
    """What `mark` needs of a delivery result (mail.sending.SendResult fits); read only."""

    @property
    def message_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...


_store_errors = store_errors("the digest ledger")


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
    with _transaction(bind, exclusive=True) as conn:
        latest = conn.execute(sa.select(digest_runs).order_by(digest_runs.c.id.desc()).limit(1)).first()
        if latest is not None and latest.finished_at is None:
            log.info("resuming digest run %s (%s to %s)", latest.id, latest.period_start, latest.period_end)
            return _digest_run(latest, resumed=True)
        start = latest.period_end if latest is not None else now - timedelta(days=first_period_days)
        end = max(now, start)  # a clock set back must not make a negative period
        values = {"started_at": now, "period_start": start, "period_end": end}
        key = conn.execute(sa.insert(digest_runs).values(**values)).inserted_primary_key
        assert key is not None  # an INSERT always has one
        run_id = key[0]
    log.info("digest run %s: %s to %s", run_id, start, end)
    return DigestRun(run_id, start, end, resumed=False, started_at=now)


@_store_errors
def last_run(bind: Bind) -> DigestRun | None:
    with _transaction(bind) as conn:
        latest = conn.execute(sa.select(digest_runs).order_by(digest_runs.c.id.desc()).limit(1)).first()
    return None if latest is None else _digest_run(latest, resumed=False)


@_store_errors
def get_run(bind: Bind, run_id: int) -> DigestRun | None:
    with _transaction(bind) as conn:
        row = conn.execute(sa.select(digest_runs).where(digest_runs.c.id == run_id)).first()
    return None if row is None else _digest_run(row, resumed=False)


@dataclass(frozen=True)
class Batch:
    """Queued recipients one sender took on, its own until `lease_until` (unless renewed)."""

    emails: tuple[str, ...]
    lease_until: datetime
    orphaned: int = 0  # a dead sender's messages in flight, found and marked unknown


@_store_errors
def enqueue(bind: Bind, run_id: int, emails: Iterable[str], *, now: datetime | None = None) -> int:
    """One `queued` row per recipient of the run; returns how many were new.

    Idempotent: an email the run already has (queued, sent, gone…) is left as it is, so
    every sender of a run may enqueue what it planned, and none sends anyone twice.
    """
    now = now or datetime.now(UTC)
    with _transaction(bind) as conn:
        ids = address_ids(conn, emails, now=now)
        rows = [
            {"run_id": run_id, "address_id": id_, "status": QUEUED, "message_tag": 0, "item_count": 0, "size": 0,
             "attempts": 0, "updated_at": now}
            for id_ in ids.values()
        ]  # fmt: skip
        return insert_ignore(conn, deliveries, rows)


@_store_errors
def requeue_failed(bind: Bind, run_id: int, *, now: datetime | None = None) -> int:
    """The run's transient failures go back in the queue: a new `send` tries them again."""
    now = now or datetime.now(UTC)
    with _transaction(bind) as conn:
        return conn.execute(
            sa.update(deliveries)
            .where((deliveries.c.run_id == run_id) & (deliveries.c.status == FAILED))
            .values(status=QUEUED, claimed_by=None, lease_until=None, updated_at=now)
        ).rowcount


@_store_errors
def claim_batch(
    bind: Bind, run_id: int, worker: str, *, size: int, lease: float, now: datetime | None = None
) -> Batch:
    """Take up to `size` queued rows no live sender holds; they are ours for `lease` seconds.

    Rows another sender holds are skipped, not waited for (SKIP LOCKED); a batch whose
    lease ran out belonged to a sender that died and is taken over here. Its `pending`
    rows were in flight when it died: they become `unknown`, never sent again unasked.
    """
    now = now or datetime.now(UTC)
    until = now + timedelta(seconds=lease)
    this_run = deliveries.c.run_id == run_id
    # No lease at all: claimed outside any batch by a sender that cannot be vouched for.
    expired = deliveries.c.lease_until.is_(None) | (deliveries.c.lease_until < now)
    with _transaction(bind, immediate=True) as conn:
        orphans = _locked_ids(conn, sa.select(deliveries.c.address_id).where(
            this_run & (deliveries.c.status == PENDING) & expired))  # fmt: skip
        for chunk in chunked(orphans):
            conn.execute(
                sa.update(deliveries)
                .where(this_run & deliveries.c.address_id.in_(chunk) & (deliveries.c.status == PENDING))
                .values(status=UNKNOWN, error=_UNKNOWN_FATE, updated_at=now)
            )
        free = (deliveries.c.status == QUEUED) & expired
        # No ORDER BY: sorting every queued row for each batch made a big run quadratic.
        query = sa.select(deliveries.c.address_id).where(this_run & free).limit(size)
        ids = _locked_ids(conn, query)
        for chunk in chunked(ids):
            conn.execute(
                sa.update(deliveries)
                .where(this_run & deliveries.c.address_id.in_(chunk))
                .values(claimed_by=worker, lease_until=until)
            )
        emails = _emails_of(conn, ids)
    if orphans:
        log.warning("run %s: %d digests of a stopped sender are of unknown fate", run_id, len(orphans))
    return Batch(tuple(emails), until, len(orphans))


def _locked_ids(conn: Connection, query: sa.Select) -> list[int]:
    # PostgreSQL: lock the rows, skipping those another sender is claiming right now.
    # SQLite: the transaction's write lock (BEGIN IMMEDIATE) already shuts others out.
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).scalars())


@_store_errors
def renew_lease(bind: Bind, run_id: int, worker: str, *, lease: float, now: datetime | None = None) -> int:
    """The sender is alive: keep its batch (queued and in-flight rows) for `lease` more seconds."""
    now = now or datetime.now(UTC)
    with _transaction(bind) as conn:
        return conn.execute(
            sa.update(deliveries)
            .where(_held_by(run_id, worker) & deliveries.c.status.in_((QUEUED, PENDING)))
            .values(lease_until=now + timedelta(seconds=lease))
        ).rowcount


@_store_errors
def release(bind: Bind, run_id: int, worker: str) -> int:
    """A stopping sender gives back the queued rows it holds: another may take them at once."""
    with _transaction(bind) as conn:
        return conn.execute(
            sa.update(deliveries)
            .where(_held_by(run_id, worker) & (deliveries.c.status == QUEUED))
            .values(claimed_by=None, lease_until=None)
        ).rowcount


@_store_errors
def drop(bind: Bind, run_id: int, worker: str, emails: Iterable[str]) -> int:
    """Remove queued rows this sender holds that need no message (nothing new for them now)."""
    with _transaction(bind) as conn:
        ids = list(known_ids(conn, emails).values())
        return sum(
            conn.execute(
                sa.delete(deliveries).where(
                    _held_by(run_id, worker) & (deliveries.c.status == QUEUED) & deliveries.c.address_id.in_(chunk)
                )
            ).rowcount
            for chunk in chunked(ids)
        )


@_store_errors
def outstanding(bind: Bind, run_id: int, *, besides: str | None = None) -> int:
    """Rows of the run still queued or being sent (by senders other than `besides`)."""
    query = (
        sa.select(sa.func.count())
        .select_from(deliveries)
        .where((deliveries.c.run_id == run_id) & deliveries.c.status.in_((QUEUED, PENDING)))
    )
    if besides is not None:
        query = query.where(deliveries.c.claimed_by.is_(None) | (deliveries.c.claimed_by != besides))
    with _transaction(bind) as conn:
        return conn.execute(query).scalar_one()


def _held_by(run_id: int, worker: str) -> sa.ColumnElement[bool]:
    return (deliveries.c.run_id == run_id) & (deliveries.c.claimed_by == worker)


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
    worker: str | None = None,
) -> bool:
    """Record `pending` before sending; True when this process may send to `email` now.

    A queued row is claimed by the sender whose batch holds it (`worker`; any sender when
    None); a `failed` row is claimed again (a retry within the run). A queued row another
    sender has taken over is not ours: False. A `pending` row found here belongs to a
    sender that died mid-send, or to one sending right now: either way this process must
    not send, and the row becomes `unknown` (a live sender's `mark` still records the
    real outcome).
    """
    now = now or datetime.now(UTC)
    email = email.strip().lower()
    item_count = sum(1 for _ in component_keys)
    tag = message_tag(message_id)
    fresh = {"message_tag": tag, "item_count": item_count, "size": size, "error": None, "updated_at": now}
    with _transaction(bind) as conn:
        params = {"b_run": run_id, "b_email": email, "b_worker": worker, "b_now": now, "b_tag": tag,
                  "b_items": item_count, "b_size": size}  # fmt: skip
        if conn.execute(_CLAIM_ANY if worker is None else _CLAIM_OURS, params).rowcount:
            return True
        (address_id,) = address_ids(conn, [email], now=now).values()
        row = {"run_id": run_id, "address_id": address_id, "status": PENDING, "attempts": 0, "claimed_by": worker,
               **fresh}  # fmt: skip
        if insert_ignore(conn, deliveries, [row]):
            return True
        this_row = (deliveries.c.run_id == run_id) & (deliveries.c.address_id == address_id)
        orphan = sa.update(deliveries).where(this_row & (deliveries.c.status == PENDING))
        if conn.execute(orphan.values(status=UNKNOWN, error=_UNKNOWN_FATE, updated_at=now)).rowcount:
            log.warning("digest to %s in run %s: fate unknown after an interrupted send", email, run_id)
    return False


# The two statements run around every message, built once: constructing them per call
# cost as much CPU as executing them (measured with 10,000 digests).
_ADDRESS_ID = sa.select(addresses.c.id).where(addresses.c.email == sa.bindparam("b_email")).scalar_subquery()
_THIS_ROW = (deliveries.c.run_id == sa.bindparam("b_run")) & (deliveries.c.address_id == _ADDRESS_ID)
_CLAIMED: dict[str, object] = {
    "status": PENDING,
    "message_tag": sa.bindparam("b_tag"),
    "item_count": sa.bindparam("b_items"),
    "size": sa.bindparam("b_size"),
    "error": None,
    "updated_at": sa.bindparam("b_now"),
}
_CLAIM_OURS = (
    sa.update(deliveries)
    .where(_THIS_ROW & (
        ((deliveries.c.status == QUEUED) & (deliveries.c.claimed_by == sa.bindparam("b_worker")))
        | (deliveries.c.status == FAILED)
    ))
    .values(_CLAIMED)
)  # fmt: skip
_CLAIM_ANY = sa.update(deliveries).where(_THIS_ROW & deliveries.c.status.in_((QUEUED, FAILED))).values(_CLAIMED)
_MARK = (
    sa.update(deliveries)
    .where(_THIS_ROW & (deliveries.c.message_tag == sa.bindparam("b_tag")))
    .values(
        status=sa.bindparam("b_status"),
        error=sa.bindparam("b_error"),
        attempts=deliveries.c.attempts + sa.bindparam("b_attempts", type_=sa.Integer),
        updated_at=sa.bindparam("b_now"),
        claimed_by=None,
        lease_until=None,
    )
)
# Sent: the digest's items go on the row in the same statement (on PostgreSQL every UPDATE
# writes a new version of the row); items already there (a re-send) are merged after.
_MARK_SENT = _MARK.values(
    delivered=sa.case((deliveries.c.delivered.is_(None), sa.bindparam("b_delivered")), else_=deliveries.c.delivered)
).returning(deliveries.c.delivered)
_DELIVERED = sa.update(deliveries).where(_THIS_ROW).values(delivered=sa.bindparam("b_delivered"))
_DELIVERED_BEFORE = sa.select(deliveries.c.delivered).where(_THIS_ROW)


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
    now = now or datetime.now(UTC)
    email = email.strip().lower()
    params = {"b_run": run_id, "b_email": email, "b_tag": message_tag(result.message_id), "b_status": status,
              "b_error": result.error, "b_attempts": result.attempts, "b_now": now}  # fmt: skip
    keys = list(component_keys) if status == SENT else []
    packed = pack_items(keys)
    with _transaction(bind) as conn:
        # Matching the message id keeps a stale outcome from overwriting a newer claim.
        if status == SENT:
            row = conn.execute(_MARK_SENT, params | {"b_delivered": packed}).first()
            claimed, merge = row is not None, row is None or row.delivered != packed
        else:
            claimed, merge = bool(conn.execute(_MARK, params).rowcount), False
        if not claimed:
            log.warning("no claimed delivery to %s with message id %s in run %s", email, result.message_id, run_id)
        if merge:  # even unclaimed: the subscriber has these components now
            before = conn.execute(_DELIVERED_BEFORE, params).scalar()
            conn.execute(_DELIVERED, params | {"b_delivered": pack_items(keys, before)})


@_store_errors
def abandon(bind: Bind, run_id: int, in_flight: Mapping[str, str], *, now: datetime | None = None) -> int:
    """Give up the messages in flight (email -> message id): they become `unknown`.

    For a sender stopping at once: each may have reached the relay or not, so none is
    sent again unless staff ask (`retry_unknown`); the next `send` need not wait for the
    lease to find them. Matching the message id leaves a row another sender took alone.
    """
    now = now or datetime.now(UTC)
    this_row = (deliveries.c.run_id == run_id) & (deliveries.c.status == PENDING)
    with _transaction(bind) as conn:
        ids = known_ids(conn, in_flight)
        return sum(
            conn.execute(
                sa.update(deliveries)
                .where(this_row & (deliveries.c.address_id == ids[email.strip().lower()])
                       & (deliveries.c.message_tag == message_tag(message_id)))
                .values(status=UNKNOWN, error=_UNKNOWN_FATE, updated_at=now)
            ).rowcount
            for email, message_id in in_flight.items()
            if email.strip().lower() in ids
        )  # fmt: skip


@_store_errors
def expire_lease(bind: Bind, run_id: int, worker: str) -> int:
    """`worker` is known to be gone: its batch is free to take over at once (see claim_batch)."""
    with _transaction(bind) as conn:
        return conn.execute(
            sa.update(deliveries)
            .where(_held_by(run_id, worker) & deliveries.c.status.in_((QUEUED, PENDING)))
            .values(lease_until=None)
        ).rowcount


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
            chunks = chunked(list(known_ids(conn, emails).values()))
            changed = sum(conn.execute(base.where(deliveries.c.address_id.in_(chunk))).rowcount for chunk in chunks)
        if changed:
            conn.execute(sa.update(digest_runs).where(digest_runs.c.id == run_id).values(finished_at=None))
    return changed


@_store_errors
def finish_run(bind: Bind, run_id: int, now: datetime) -> bool:
    """Close the run unless deliveries are queued, pending or failed (a re-run sends those)."""
    with _transaction(bind) as conn:
        open_rows = conn.execute(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where((deliveries.c.run_id == run_id) & deliveries.c.status.in_(OPEN))
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


def message_tag(message_id: str) -> int:
    """What a row keeps of its message's Message-ID (CRC-32, 31 bits): enough to tell this claim's
    outcome from a stale one's, in 4 bytes rather than ~45 (the id is made again from run and address)."""
    return zlib.crc32(message_id.encode("utf-8")) & 0x7FFFFFFF


def _emails_of(conn: Connection, ids: Sequence[int]) -> tuple[str, ...]:
    found: dict[int, str] = {}
    for chunk in chunked(ids):
        query = sa.select(addresses.c.id, addresses.c.email).where(addresses.c.id.in_(chunk))
        found.update({id_: email for id_, email in conn.execute(query)})
    return tuple(found[id_] for id_ in ids)


# --- helpers -------------------------------------------------------------------------


@contextmanager
def _transaction(bind: Bind, *, exclusive: bool = False, immediate: bool = False) -> Iterator[Connection]:
    """A transaction of our own, or the caller's when it has one open.

    `exclusive`: serialised with every other exclusive one (open_run); `immediate`: on
    SQLite, take the write lock before the first read, so read-then-write cannot fail
    half-way with "database is locked".
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            _lock(conn, exclusive, immediate)
            yield conn
    elif bind.in_transaction():
        yield bind  # the caller commits, and holds whatever locks it took
    else:
        with bind.begin():
            _lock(bind, exclusive, immediate)
            yield bind


def _lock(conn: Connection, exclusive: bool, immediate: bool) -> None:
    if exclusive:
        _lock_runs(conn)
    elif immediate and conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


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
        period_start=row.period_start,
        period_end=row.period_end,
        resumed=resumed,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )

