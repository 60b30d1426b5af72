"""`db prune` (store/retention.py): old runs' deliveries go, their history stays.

SQLite files, and PostgreSQL too when BHRDIGEST_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bhrdigest.cli.main import main
from bhrdigest.mail.sending import SendResult
from bhrdigest.store import ledger, retention, runs
from bhrdigest.store.delivered import delivered_keys
from bhrdigest.store.schema import deliveries

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
READERS = ["alex@example.org", "sam@example.org", "kim@example.org"]


def weekly_run(engine, week: int, *, finish: bool = True) -> int:
    """A run in which Alex gets the week's two components, Sam is refused and Kim's fate is unknown."""
    now = START + timedelta(weeks=week)
    run = ledger.open_run(engine, now=now)
    ledger.enqueue(engine, run.id, READERS, now=now)
    keys = [f"week{week}-a", f"week{week}-b"]
    outcomes = {"alex@example.org": "sent", "sam@example.org": "gone", "kim@example.org": None}
    for email, status in outcomes.items():
        assert ledger.claim(engine, run.id, email, f"<{run.id}-{email}>", keys, 100, now=now)
        if status is not None:
            ledger.mark(engine, run.id, email, SendResult(f"<{run.id}-{email}>", status, None, 1), keys, now=now)
    ledger.abandon(engine, run.id, {"kim@example.org": f"<{run.id}-kim@example.org>"}, now=now)
    if finish:
        assert ledger.finish_run(engine, run.id, now + timedelta(minutes=5))
    return run.id


def rows_of(engine) -> dict[int, int]:
    with engine.connect() as conn:
        query = sa.select(deliveries.c.run_id, sa.func.count()).group_by(deliveries.c.run_id)
        return dict(conn.execute(query).all())


def test_old_runs_lose_their_rows_but_keep_their_counts_in_the_history(engine):
    ids = [weekly_run(engine, week) for week in range(8)]
    history_before = {record.id: record.deliveries for record in runs.run_history(engine)}

    pruned = retention.prune(engine, now=START + timedelta(weeks=7, days=1), keep_runs=2, keep_days=15)

    # 15 days before is when week 5's run started: runs of weeks 5, 6 and 7 keep their rows.
    assert sorted(rows_of(engine)) == ids[5:]
    assert (pruned.runs, pruned.deliveries, pruned.items, pruned.kept_runs) == (5, 15, 10, 3)
    assert {record.id: record.deliveries for record in runs.run_history(engine)} == history_before
    oldest = runs.run_history(engine)[-1]
    assert (oldest.planned, oldest.deliveries["sent"], oldest.deliveries["gone"], oldest.deliveries["unknown"]) == (
        3, 1, 1, 1)  # fmt: skip
    again = retention.prune(engine, now=START + timedelta(weeks=7, days=1), keep_runs=2, keep_days=15)
    assert (again.runs, again.deliveries) == (0, 0)


def test_a_dry_run_counts_and_removes_nothing(engine):
    for week in range(6):
        weekly_run(engine, week)

    counted = retention.prune(engine, now=START + timedelta(weeks=30), keep_runs=4, dry_run=True)

    assert (counted.runs, counted.deliveries) == (2, 6)
    assert len(rows_of(engine)) == 6
    assert all(record.planned == 3 for record in runs.run_history(engine))


def test_the_latest_run_stays_whole_and_never_delivered_before_still_holds(engine):
    for week in range(3):
        weekly_run(engine, week)
    latest = weekly_run(engine, 3, finish=False)  # unfinished: a resume needs its rows

    retention.prune(engine, now=START + timedelta(weeks=60), keep_runs=1, keep_days=0)

    assert list(rows_of(engine)) == [latest]
    assert runs.settled_emails(engine, latest) == set(READERS)  # a resume sends none of them again
    assert delivered_keys(engine, READERS, keys=["week3-a", "week3-b", "week4-a"]) == {
        "alex@example.org": {"week3-a", "week3-b"}}  # fmt: skip
    # Kim's digest was in flight when the sender stopped: `send --resend-unknown` still can.
    assert ledger.retry_unknown(engine, latest, ["kim@example.org"]) == 1


def test_an_unfinished_old_run_is_never_pruned(engine):
    stuck = weekly_run(engine, 0, finish=False)
    with engine.begin() as conn:  # as if a later run had been opened by hand meanwhile
        conn.execute(sa.text("INSERT INTO digest_runs (started_at, period_start, period_end) "
                             "SELECT started_at, period_end, period_end FROM digest_runs"))  # fmt: skip

    retention.prune(engine, now=START + timedelta(weeks=60), keep_runs=1, keep_days=0)

    assert list(rows_of(engine)) == [stuck]


def test_keeping_no_run_is_refused(engine):
    with pytest.raises(ValueError, match="at least 1"):
        retention.prune(engine, now=START, keep_runs=0)


def test_db_prune_says_what_it_removes_and_status_still_shows_old_runs(tmp_path):
    from bhrdigest.store.db import connect

    config = tmp_path / "subscriptions.yaml"
    config.write_text("sender:\n  from: Digest <d@example.org>\nfeeds: []\nsubscribers: []\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(url, create=True)
    for week in range(6):
        weekly_run(engine, week)
    engine.dispose()
    runner = CliRunner()
    env = {"BHRDIGEST_CONFIG": str(config), "DATABASE_URL": url}

    dry = runner.invoke(main, ["db", "prune", "--dry-run"], env=env)
    done = runner.invoke(main, ["db", "prune", "--keep-runs", "2", "--keep-days", "0"], env=env)
    history = runner.invoke(main, ["status", "--runs", "--json"], env=env)

    assert dry.exit_code == 0, dry.output
    assert "would remove runs=2 deliveries=6 items=4; kept runs=4" in dry.output  # 4 runs kept by default
    assert done.exit_code == 0, done.output
    assert "removed runs=4 deliveries=12 items=8; kept runs=2" in done.output
    assert history.exit_code == 0, history.output
    assert '"planned": 3' in history.output and history.output.count('"planned": 3') == 6
