"""How much the store grows per weekly run, and what it holds after a year of them.

    week    one weekly run written through the ledger the way `send` writes it: the run
            opened, every recipient enqueued, taken a batch at a time (claim_batch), each
            digest claimed and marked sent with its components (claim, mark), the run
            finished; the store measured before and after
    year    that week, then 51 more: each a new run whose rows are the previous week's rows
            copied by SQL (with the updates a run makes to each row, so PostgreSQL carries
            the same dead versions), `db prune` after it as the worker runs it, and on
            PostgreSQL the VACUUM autovacuum would run; the store measured at the end

On PostgreSQL every UPDATE leaves the row's old version until VACUUM: the week is written
with VACUUM whenever autovacuum's default threshold would start it (as on a managed
PostgreSQL), and once more without any, the bound when autovacuum is off.

Sizes: SQLite, every table's pages (dbstat) after a checkpoint; PostgreSQL,
pg_total_relation_size (table, indexes, TOAST) of every table of the schema.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.report import Row
from bhrdigest.store import ledger
from bhrdigest.store.db import connect, normalise_url
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
    """As ingest/identity.py makes them: 32 hex characters of a SHA-256."""
    return [hashlib.sha256(f"week {week} component {i}".encode()).hexdigest()[:32] for i in range(count)]


def write_week(engine: sa.Engine, addresses: list[str], *, week: int, components: int = 2_000, items: int = 26,
               batch: int = 1_000, autovacuum: bool = True) -> int:  # fmt: skip
    """One weekly run through the ledger as `send` writes it; returns the run's id.

    `autovacuum`: on PostgreSQL, VACUUM whenever autovacuum's default threshold would start
    it (dead rows over 20% of the table's, plus 50), as on a managed PostgreSQL.
    """
    now = START + timedelta(weeks=week)
    run = ledger.open_run(engine, now=now)
    ledger.enqueue(engine, run.id, addresses, now=now)
    keys = week_keys(week, components)
    rng = random.Random(week)
    dead = 0
    while True:
        if autovacuum and dead > 0.2 * len(addresses) + 50:
            vacuum(engine)
            dead = 0
        taken = ledger.claim_batch(engine, run.id, "bench:1:a", size=batch, lease=600, now=now)
        if not taken.emails:
            break
        dead += 3 * len(taken.emails)  # claim_batch, claim and mark each leave a row version behind
        with engine.connect() as conn, conn.begin():
            for email in taken.emails:
                chosen = rng.sample(keys, items)
                message_id = f"<digest-{run.id}-{hashlib.sha256(email.encode()).hexdigest()[:16]}@{DOMAIN}>"
                ledger.claim(conn, run.id, email, message_id, chosen, 70_000, now=now, worker="bench:1:a")
                ledger.mark(conn, run.id, email, Sent(message_id), chosen, now=now)
    assert ledger.finish_run(engine, run.id, now + timedelta(minutes=10))
    return run.id


def copy_week(engine: sa.Engine, previous: int, *, week: int) -> int:
    """A run like the `previous` one, its rows copied by SQL, each updated as often as a run does."""
    now = START + timedelta(weeks=week)
    run = ledger.open_run(engine, now=now)
    names = [c.name for c in deliveries.c if c.name != "run_id"]
    columns = ", ".join(names)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO deliveries (run_id, {columns}) "
                             f"SELECT :run, {columns} FROM deliveries WHERE run_id = :previous"),
                     {"run": run.id, "previous": previous})  # fmt: skip
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


def measure(url: str, *, subscribers: int, weeks: int = 52, prune: Callable[..., object] | None = None,
            autovacuum: bool = True) -> dict:  # fmt: skip
    engine = connect(url, create=True)
    try:
        addresses = emails(subscribers)
        before = store_bytes(engine)
        started = time.perf_counter()
        last = write_week(engine, addresses, week=0, autovacuum=autovacuum)
        week_seconds = time.perf_counter() - started
        after = store_bytes(engine)
        vacuum(engine)
        for week in range(1, weeks):
            last = copy_week(engine, last, week=week)
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


# --- schema 6, the baseline: the ledger keyed by email, a row per delivered item -------------

_old = sa.MetaData()
_old_deliveries = sa.Table(
    "deliveries", _old,
    sa.Column("run_id", sa.Integer, primary_key=True), sa.Column("email", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False), sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False), sa.Column("size", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False), sa.Column("error", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False), sa.Column("claimed_by", sa.Text),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
)  # fmt: skip
sa.Index("ix_deliveries_queue", _old_deliveries.c.run_id, _old_deliveries.c.status, _old_deliveries.c.lease_until)
_old_delivered = sa.Table(
    "delivered_components", _old,
    sa.Column("email", sa.Text, primary_key=True), sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
)  # fmt: skip


def measure_schema_6(url: str, *, subscribers: int, items: int = 26) -> int:
    """Bytes the same week took in schema 6's tables, its rows written and updated as a run did."""
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            _old.create_all(conn)
        now = START
        addresses = emails(subscribers)
        keys = week_keys(0, 2_000)
        rng = random.Random(0)
        with engine.begin() as conn:
            conn.execute(sa.insert(_old_deliveries), [
                {"run_id": 1, "email": email, "status": "queued", "message_id": "", "item_count": 0, "size": 0,
                 "attempts": 0, "error": None, "updated_at": now, "claimed_by": None, "lease_until": None}
                for email in addresses])  # fmt: skip
        vacuum(engine)
        before = sum(store_bytes(engine).values())
        with engine.begin() as conn:
            # claim_batch, claim and mark each rewrote the row
            conn.execute(sa.update(_old_deliveries).values(claimed_by="bench:1:a", lease_until=now))
            conn.execute(
                sa.update(_old_deliveries).values(
                    status="pending", item_count=items, size=70_000, message_id=f"<digest-1-{'0' * 16}@{DOMAIN}>"
                )
            )
            conn.execute(sa.update(_old_deliveries).values(status="sent", attempts=1))
            for chunk in range(0, subscribers, 2_000):
                conn.execute(sa.insert(_old_delivered), [
                    {"email": email, "key": key, "run_id": 1}
                    for email in addresses[chunk : chunk + 2_000] for key in rng.sample(keys, items)])  # fmt: skip
        grown = sum(store_bytes(engine).values()) - before
    finally:
        engine.dispose()
    return grown


# --- the stage -----------------------------------------------------------------------------


def storage(subscribers: int, *, weeks: int = 52) -> list[Row]:
    """The rows of the report: a week's growth and a year's size, on SQLite and on PostgreSQL."""
    from bhrdigest.store.retention import KEEP_DAYS, KEEP_RUNS, prune

    rows = []
    for engine_name, place in _databases():
        with place() as (new_url, old_url, spare_url):
            figures = measure(new_url, subscribers=subscribers, weeks=weeks, prune=prune)
            before = measure_schema_6(old_url, subscribers=subscribers)
            if engine_name == "PostgreSQL":
                bound = measure(spare_url, subscribers=subscribers, weeks=1, autovacuum=False)
                unvacuumed = bound["week_bytes"] - bound["week_by_table"].get("addresses", 0)
        week = figures["week_bytes"] - figures["week_by_table"].get("addresses", 0)
        per_digest = week / subscribers
        rows.append(Row(
            f"store growth per weekly run, {subscribers:,} subscribers ({engine_name})",
            f"{week / 1e6:,.1f} MB ({per_digest:,.0f} bytes a digest)",
            f"{before / max(week, 1):.0f}× less than schema 6 ({before / 1e6:,.0f} MB, "
            f"{before / subscribers:,.0f} bytes a digest)",
            "≤ 50 MB a week at 100,000",
            week <= 50e6 if subscribers >= 100_000 else None,
            "One weekly run written through the ledger as `send` writes it (enqueue, claim_batch, claim, mark "
            "with 26 items, finish), tables and indexes before and after"
            + (", with VACUUM whenever autovacuum's default threshold would start it (20% of the rows dead); "
               f"with no VACUUM at all, every row version kept: {unvacuumed / 1e6:,.1f} MB "
               f"({unvacuumed / subscribers:,.0f} bytes a digest)" if engine_name == "PostgreSQL" else "")
            + f". By table: {_by_table(figures['week_by_table'])} (the addresses' ids are made once, not weekly). "
            f"Written in {figures['week_seconds']:.0f} s. Schema 6: the same week in its tables (a row per item "
            "keyed by address and key), written and updated as it did.",
        ))  # fmt: skip
        rows.append(Row(
            f"store after a simulated year, {weeks} weekly runs ({engine_name})",
            f"{figures['year_bytes'] / 1e6:,.1f} MB",
            f"schema 6, nothing pruned: {before * weeks / 1e9:,.1f} GB of ledger",
            "",
            None,
            f"After each run `db prune` with its defaults ({KEEP_RUNS} runs or {KEEP_DAYS} days kept), and "
            f"{'VACUUM as autovacuum would' if engine_name == 'PostgreSQL' else 'SQLite reusing freed pages'}; "
            f"weeks 2–{weeks} copy the previous week's rows by SQL. By table: {_by_table(figures['year_by_table'])}. "
            "Components are never pruned and come on top: the end-to-end run's fetch stored the week's in "
            "the size its row gives.",
        ))  # fmt: skip
    return rows


def _by_table(sizes: dict[str, int]) -> str:
    shown = sorted(((size, name) for name, size in sizes.items() if size >= 100_000), reverse=True)
    return ", ".join(f"{name} {size / 1e6:,.1f} MB" for size, name in shown) or "all under 0.1 MB"


def _databases() -> list[tuple[str, Callable]]:
    found: list[tuple[str, Callable]] = [("SQLite", _sqlite_files)]
    if PG_URL:
        found.append(("PostgreSQL", _postgresql_schemas))
    return found


PG_URL = os.environ.get("BHRDIGEST_BENCH_DATABASE_URL") or os.environ.get("BHRDIGEST_TEST_DATABASE_URL")


@contextmanager
def _sqlite_files() -> Iterator[tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="bhrdigest-storage-") as folder:
        yield tuple(f"sqlite:///{Path(folder) / name}.db" for name in ("new", "old", "spare"))


@contextmanager
def _postgresql_schemas() -> Iterator[tuple[str, ...]]:
    assert PG_URL is not None
    names = [f"bench_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    admin = sa.create_engine(normalise_url(PG_URL))
    separator = "&" if "?" in PG_URL else "?"
    try:
        with admin.begin() as conn:
            for name in names:
                conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
        yield tuple(f"{PG_URL}{separator}options=-csearch_path%3D{name}" for name in names)
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    import sys

    from benchmarks.report import table

    print(table(storage(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
                        weeks=int(sys.argv[2]) if len(sys.argv) > 2 else 52)))  # fmt: skip
