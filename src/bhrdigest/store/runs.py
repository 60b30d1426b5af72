"""The ledger read for people: the history of digest runs, who is in which state, who holds a batch.

    run_history     every run, newest first: period, started/finished, deliveries by status
    deliveries_in   a run's deliveries in some states (the failed and unknown-fate addresses)
    settled_emails  who already has an outcome in a run (sent, gone, unknown): not to plan again
    lease_holders   the senders holding the rest of a run, and until when (what `send` waits for)

Read-only; ledger.py writes. Both take an Engine or a Connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

# The ledger's own helpers: its transaction handling, and SQLite's naive datetimes read as UTC.
from bhrdigest.store.ledger import GONE, PENDING, QUEUED, SENT, STATUSES, UNKNOWN, Bind, _transaction
from bhrdigest.store.schema import addresses, deliveries, digest_runs
from bhrdigest.store.sql import store_errors

_store_errors = store_errors("the digest ledger")


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    period_start: datetime
    period_end: datetime
    started_at: datetime
    finished_at: datetime | None
    deliveries: dict[str, int]  # every status, zero when none

    @property
    def planned(self) -> int:
        return sum(self.deliveries.values())

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "planned": self.planned,
            "deliveries": self.deliveries,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    email: str
    status: str
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Holder:
    """A sender holding part of a run: `count` rows queued or in flight, its until `lease_until`."""

    worker: str  # host:pid:tag (digest.run.worker_name)
    count: int
    lease_until: datetime | None


@_store_errors
def run_history(bind: Bind, *, limit: int | None = None) -> list[RunRecord]:
    """The digest runs, newest first, each with its deliveries counted by status."""
    query = sa.select(digest_runs).order_by(digest_runs.c.id.desc()).limit(limit)
    with _transaction(bind) as conn:
        runs = conn.execute(query).all()
        counts = conn.execute(
            sa.select(deliveries.c.run_id, deliveries.c.status, sa.func.count())
            .where(deliveries.c.run_id.in_([run.id for run in runs]))
            .group_by(deliveries.c.run_id, deliveries.c.status)
        ).all()
    by_run: dict[int, dict[str, int]] = {run.id: dict.fromkeys(STATUSES, 0) for run in runs}
    for run_id, status, count in counts:
        by_run[run_id][status] = count
    for run in runs:
        if run.totals:  # its rows were pruned (store/retention.py): the counts kept then
            by_run[run.id] |= {status: int(count) for status, count in run.totals.items() if status in STATUSES}
    return [
        RunRecord(run.id, run.period_start, run.period_end, run.started_at,
                  run.finished_at, by_run[run.id])
        for run in runs
    ]  # fmt: skip


@_store_errors
def deliveries_in(bind: Bind, run_id: int, statuses: Iterable[str]) -> list[Delivery]:
    """The run's deliveries in these states, by address."""
    query = (
        sa.select(addresses.c.email, deliveries.c.status, deliveries.c.error, deliveries.c.updated_at)
        .join(addresses, addresses.c.id == deliveries.c.address_id)
        .where((deliveries.c.run_id == run_id) & deliveries.c.status.in_(list(statuses)))
        .order_by(addresses.c.email)
    )
    with _transaction(bind) as conn:
        return [Delivery(row.email, row.status, row.error, row.updated_at) for row in conn.execute(query)]


@_store_errors
def settled_emails(bind: Bind, run_id: int) -> set[str]:
    """Addresses the run has an outcome for (sent, gone, unknown): resuming it sends them nothing."""
    query = (
        sa.select(addresses.c.email)
        .join(addresses, addresses.c.id == deliveries.c.address_id)
        .where((deliveries.c.run_id == run_id) & deliveries.c.status.in_((SENT, GONE, UNKNOWN)))
    )
    with _transaction(bind) as conn:
        return set(conn.execute(query).scalars())


@_store_errors
def lease_holders(bind: Bind, run_id: int, *, besides: str | None = None) -> list[Holder]:
    """The senders (other than `besides`) holding queued or in-flight rows of the run."""
    held = (deliveries.c.run_id == run_id) & deliveries.c.status.in_((QUEUED, PENDING))
    held &= deliveries.c.claimed_by.is_not(None)
    if besides is not None:
        held &= deliveries.c.claimed_by != besides
    query = (
        sa.select(deliveries.c.claimed_by, sa.func.count(), sa.func.max(deliveries.c.lease_until))
        .where(held)
        .group_by(deliveries.c.claimed_by)
        .order_by(deliveries.c.claimed_by)
    )
    with _transaction(bind) as conn:
        return [Holder(worker, count, until)
                for worker, count, until in conn.execute(query)]  # fmt: skip
