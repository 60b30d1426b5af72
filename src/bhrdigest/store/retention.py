"""How long the ledger keeps each delivery: `bhrdigest db prune`, run daily by the worker.

A digest run's per-recipient rows (status, error, the items its digest delivered) are kept
for the last KEEP_RUNS runs or KEEP_DAYS days, whichever keeps more; an unfinished run's
are never removed. Older runs keep their line in `digest_runs`, with their deliveries
counted by status (`totals`), so `status --runs` shows them as before.

Why that is safe: a digest offers only components first seen in its run's period, and
periods follow each other without overlap, so whether a component was "delivered before"
is only ever asked of the run that covered it, the latest (a resume or `send
--resend-unknown` continues the latest run too). Components themselves are kept: their
keys say what was seen before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bhrdigest.store.delivered import PREFIX
from bhrdigest.store.ledger import STATUSES, Bind, _transaction
from bhrdigest.store.schema import deliveries, digest_runs
from bhrdigest.store.sql import chunked, store_errors

KEEP_RUNS = 4
KEEP_DAYS = 35

_store_errors = store_errors("the digest ledger")


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune removed (or, dry, would remove)."""

    runs: int  # runs whose rows went (their line and totals stay)
    deliveries: int  # per-recipient rows
    items: int  # delivered items recorded on those rows
    kept_runs: int  # runs whose rows stay

    def line(self, *, dry_run: bool = False) -> str:
        verb = "would remove" if dry_run else "removed"
        return (f"prune {verb} runs={self.runs} deliveries={self.deliveries} items={self.items}; "
                f"kept runs={self.kept_runs}")  # fmt: skip


@_store_errors
def prune(
    bind: Bind, *, now: datetime, keep_runs: int = KEEP_RUNS, keep_days: float = KEEP_DAYS, dry_run: bool = False
) -> Pruned:
    """Remove the rows of runs older than both bounds, keeping their totals; returns the counts."""
    if keep_runs < 1:
        raise ValueError("keep_runs must be at least 1: the latest run is always kept")
    with _transaction(bind) as conn:
        latest = conn.execute(
            sa.select(digest_runs.c.id).order_by(digest_runs.c.id.desc()).limit(keep_runs)
        ).scalars().all()  # fmt: skip
        if not latest:
            return Pruned(0, 0, 0, 0)
        old = (
            (digest_runs.c.id < min(latest))
            & (digest_runs.c.started_at < now - timedelta(days=keep_days))
            & digest_runs.c.finished_at.is_not(None)
        )
        counted = conn.execute(
            sa.select(deliveries.c.run_id, deliveries.c.status, sa.func.count(), _delivered_bytes())
            .join(digest_runs, digest_runs.c.id == deliveries.c.run_id)
            .where(old)
            .group_by(deliveries.c.run_id, deliveries.c.status)
        ).all()
        totals: dict[int, dict[str, int]] = {}
        for run_id, status, count, _ in counted:
            totals.setdefault(run_id, dict.fromkeys(STATUSES, 0))[status] = count
        kept = conn.execute(
            sa.select(sa.func.count(sa.distinct(deliveries.c.run_id))).where(deliveries.c.run_id.not_in(totals))
        ).scalar_one()  # fmt: skip
        items = sum(int(row[3] or 0) for row in counted) // PREFIX
        pruned = Pruned(len(totals), sum(row[2] for row in counted), items, kept)
        if dry_run:
            return pruned
        for run_id, by_status in totals.items():
            conn.execute(sa.update(digest_runs).where(digest_runs.c.id == run_id).values(totals=by_status))
        for chunk in chunked(list(totals)):
            conn.execute(sa.delete(deliveries).where(deliveries.c.run_id.in_(chunk)))
    return pruned


def _delivered_bytes() -> sa.ColumnElement[int]:
    """The packed items on the rows: PREFIX bytes each."""
    return sa.func.sum(sa.func.coalesce(sa.func.length(deliveries.c.delivered), 0))
