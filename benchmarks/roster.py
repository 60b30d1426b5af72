"""Subscribers in the database: `subscribers import` of a CSV, and what `send` pays to load
its subscribers from the database instead of subscriptions.yaml, in the same run.

    import      read_rows + plan_import + write_roster (what `subscribers import --yes` runs
                after loading the configuration) on a SQLite file, then again (nothing to change)
    load        what `send` does before planning: load_config + effective_config, once with
                the subscribers in the YAML (and an empty table), once with a YAML of none and
                the same subscribers in the table
"""

from __future__ import annotations

import csv
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.data import World, write_config
from benchmarks.report import Row, best_of
from bhrdigest.config.load import load_config
from bhrdigest.config.preferences import Choices
from bhrdigest.model import Subscriber
from bhrdigest.roster.csv_import import plan_import, read_rows
from bhrdigest.store.db import connect
from bhrdigest.store.roster import load_roster, write_roster
from bhrdigest.store.subscribers import effective_config

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def roster(world: World, count: int, *, repeat: int) -> list[Row]:
    subscribers = list(world.subscribers(count, seed=world.seed + 31))
    with tempfile.TemporaryDirectory(prefix="bhrdigest-roster-") as folder:
        tmp = Path(folder)
        write_config(tmp / "in-yaml.yaml", world, subscribers, [])
        write_config(tmp / "in-db.yaml", world, [], [])
        _write_csv(tmp / "readers.csv", subscribers)
        catalogue = load_config(tmp / "in-db.yaml").catalogue
        in_db = connect(f"sqlite:///{tmp / 'in-db.db'}", create=True)
        in_yaml = connect(f"sqlite:///{tmp / 'in-yaml.db'}", create=True)
        try:
            first = _timed(lambda: _import(in_db, tmp / "readers.csv", Choices(catalogue)))
            again = _timed(lambda: _import(in_db, tmp / "readers.csv", Choices(catalogue)))
            stored = len(load_roster(in_db))
            from_yaml = best_of(lambda: effective_config(in_yaml, load_config(tmp / "in-yaml.yaml")), repeat)
            from_db = best_of(lambda: effective_config(in_db, load_config(tmp / "in-db.yaml")), repeat)
            catalogue_only = best_of(lambda: load_config(tmp / "in-db.yaml"), repeat)
            loaded = len(effective_config(in_db, load_config(tmp / "in-db.yaml")).subscribers)
        finally:
            in_db.dispose()
            in_yaml.dispose()
    seconds, (new, unchanged) = first
    again_seconds, (new_again, unchanged_again) = again
    ratio = from_db / from_yaml
    return [
        Row(
            f"subscribers import, {count:,} rows (CSV → database)",
            f"{seconds:.1f} s ({count / seconds:,.0f} rows/s); again, nothing to change: {again_seconds:.1f} s",
            f"{seconds / 60:.0%} of a minute",
            "well under a minute (≤ 30 s)",
            seconds <= 30 if count >= 100_000 else None,
            f"read + check every name against {len(catalogue.companies):,} companies + plan + write on a SQLite "
            f"file: {new:,} new, then {new_again} new and {unchanged_again:,} unchanged; {stored:,} rows stored. "
            f"Unchanged in the first run: {unchanged}.",
        ),
        Row(
            f"`send` loading {count:,} subscribers: database vs subscriptions.yaml",
            f"database {from_db:.1f} s, YAML {from_yaml:.1f} s",
            f"{ratio:.2f}× the YAML",
            "≤ 1× the YAML",
            ratio <= 1.0,
            f"load_config + effective_config, best of {repeat}: the same {loaded:,} subscribers in "
            "subscriptions.yaml (and an empty table), or in the table (and a YAML with the catalogue only). "
            f"Reading that catalogue ({len(catalogue.companies):,} companies) is {catalogue_only:.1f} s of both: "
            f"the subscribers themselves cost {from_db - catalogue_only:.1f} s from the database, "
            f"{from_yaml - catalogue_only:.1f} s from the YAML.",
        ),
    ]


def _import(engine, path: Path, choices: Choices) -> tuple[int, int]:
    existing = {row.subscriber.email: row.subscriber for row in load_roster(engine)}
    plan = plan_import(read_rows(path), choices, existing=existing, in_yaml=set(), suppressed=set())
    assert not plan.invalid, plan.invalid[:3]
    write_roster(engine, new=plan.new, changed=[s for s, _ in plan.changed], source="import", now=NOW)
    return len(plan.new), plan.unchanged


def _write_csv(path: Path, subscribers: Sequence[Subscriber]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name", "languages", "companies", "places", "topics", "match"])
        for s in subscribers:
            writer.writerow([s.email, s.name, ";".join(s.languages), ";".join(s.companies), ";".join(s.places),
                             ";".join(s.topics), "all" if s.match_all else "any"])


def _timed(function: Callable[[], tuple[int, int]]) -> tuple[float, tuple[int, int]]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result
