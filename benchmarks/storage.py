"""How much the store grows per weekly run, and what it holds after a year of them.

    week    one weekly run written through the ledger the way `send` writes it: the run
            opened, every recipient enqueued, taken a batch at a time (claim_batch), each
            digest claimed and marked sent with its components (claim, mark), the run
            finished; the store measured before and after
    year    that week, then 51 more: each a new run whose rows are the first week's rows
            copied by SQL (with the updates a run makes to each row, so PostgreSQL carries
            the same dead versions), `db prune` after it as the worker runs it, and on
            PostgreSQL the VACUUM autovacuum would run; the store measured at the end

Sizes: SQLite, every table's pages (dbstat) after a checkpoint; PostgreSQL,
pg_total_relation_size (table, indexes, TOAST) of every table of the schema.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bhrdigest.store import ledger
from bhrdigest.store.db import connect
from bhrdigest.store.schema import deliveries, digest_runs

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DOMAIN = "digest.example.org"


class Sent:
    """What mark needs of a delivery result."""

    def __init__(self, message_id: str):
        self.message_id, self.status, self.error, self.attempts = message_id, "sent", None, 1


def emails(count: int) -> list[str]:
    return [f"reader{i:06d}@example.org" for i in range(count)]


def week_keys(week: int, count: int) -> list[str]:
    return [hashlib.sha256(f"week {week} component {i}".encode()).hexdigest() for i in range(count)]


def write_week(engine: sa.Engine, addresses: list[str], *, week: int, components: int = 2_000, items: int = 26,
               batch: int = 1_000) -> int:  # fmt: skip
    """One weekly run through the ledger as `send` writes it; returns the run's id."""
    now = START + timedelta(weeks=week)
    run = ledger.open_run(engine, now=now)
    ledger.enqueue(engine, run.id, addresses, now=now)
    keys = week_keys(week, components)
    rng = random.Random(week)
    while True:
        taken = ledger.claim_batch(engine, run.id, "bench:1:a", size=batch, lease=600, now=now)
        if not taken.emails:
            break
        with engine.connect() as conn, conn.begin():
            for email in taken.emails:
                chosen = rng.sample(keys, items)
                message_id = f"<digest-{run.id}-{hashlib.sha256(email.encode()).hexdigest()[:16]}@{DOMAIN}>"
                ledger.claim(conn, run.id, email, message_id, chosen, 70_000, now=now, worker="bench:1:a")
                ledger.mark(conn, run.id, email, Sent(message_id), chosen, now=now)
    assert ledger.finish_run(engine, run.id, now + timedelta(minutes=10))
    return run.id


def copy_week(engine: sa.Engine, first_run: int, *, week: int) -> int:
    """A run like `first_run`, its rows copied by SQL, each updated as often as a run does."""
    now = START + timedelta(weeks=week)
    run = ledger.open_run(engine, now=now)
    names = [c.name for c in deliveries.c if c.name != "run_id"]
    columns = ", ".join(names)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO deliveries (run_id, {columns}) "
                             f"SELECT :run, {columns} FROM deliveries WHERE run_id = :first"),
                     {"run": run.id, "first": first_run})  # fmt: skip
        for _ in range(3):  # claim_batch, claim and mark each rewrite the row
            conn.execute(sa.update(deliveries).where(deliveries.c.run_id == run.id)
                         .values(updated_at=deliveries.c.updated_at))  # fmt: skip
        conn.execute(sa.update(digest_runs).where(digest_runs.c.id == run.id).values(finished_at=now))
    return run.id


def store_bytes(engine: sa.Engine) -> dict[str, int]:
    """Bytes each table takes, its indexes included."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = conn.exec_driver_sql(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
            ).all()
        else:
            rows = conn.exec_driver_sql(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace"
            ).all()
    return {name: int(size) for name, size in rows}


def vacuum(engine: sa.Engine) -> None:
    """What autovacuum does on PostgreSQL (dead versions made reusable); SQLite reuses free pages itself."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")


def measure(url: str, *, subscribers: int, weeks: int = 52, prune=None) -> dict:
    engine = connect(url, create=True)
    try:
        addresses = emails(subscribers)
        before = store_bytes(engine)
        started = time.perf_counter()
        first = write_week(engine, addresses, week=0)
        week_seconds = time.perf_counter() - started
        after = store_bytes(engine)
        vacuum(engine)
        for week in range(1, weeks):
            copy_week(engine, first, week=week)
            if prune is not None:
                prune(engine, now=START + timedelta(weeks=week, hours=1))
            vacuum(engine)
        year = store_bytes(engine)
    finally:
        engine.dispose()
    grown = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    return {
        "subscribers": subscribers,
        "week_bytes": sum(grown.values()),
        "week_by_table": {name: size for name, size in sorted(grown.items()) if size},
        "week_seconds": week_seconds,
        "weeks": weeks,
        "year_bytes": sum(year.values()),
        "year_by_table": {name: size for name, size in sorted(year.items()) if size},
    }


if __name__ == "__main__":
    import json
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    target = sys.argv[2] if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory() as folder:
        url = target or f"sqlite:///{Path(folder) / 'store.db'}"
        print(json.dumps(measure(url, subscribers=count, weeks=int(sys.argv[3]) if len(sys.argv) > 3 else 1),
                         indent=1))  # fmt: skip
