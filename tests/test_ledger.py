"""The digest ledger: runs resume, every subscriber gets one message per run, never twice.

Runs on SQLite files, and on PostgreSQL too when BHRDIGEST_TEST_DATABASE_URL is set
(e.g. postgresql://postgres@127.0.0.1:5432/test); each PostgreSQL test gets its own schema.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bhrdigest.errors import StoreError
from bhrdigest.mail.sending import SendResult
from bhrdigest.store import ledger, runs
from bhrdigest.store.delivered import delivered_keys
from bhrdigest.store.schema import deliveries

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def sent(message_id: str, attempts: int = 1) -> SendResult:
    return SendResult(message_id, "sent", None, attempts)


def status_of(engine, run_id: int, email: str) -> str | None:
    found = [d.status for d in runs.deliveries_in(engine, run_id, ledger.STATUSES) if d.email == email]
    return found[0] if found else None


def test_first_run_covers_the_last_seven_days(engine):
    run = ledger.open_run(engine, now=NOW)

    assert (run.period_start, run.period_end, run.resumed) == (NOW - timedelta(days=7), NOW, False)
    assert ledger.last_run(engine).id == run.id


def test_unfinished_run_is_resumed_with_its_period(engine):
    first = ledger.open_run(engine, now=NOW)
    ledger.claim(engine, first.id, "alex@example.org", "<m1@x>", ["k1"], 100)

    again = ledger.open_run(engine, now=NOW + timedelta(hours=3))

    assert again.id == first.id
    assert (again.period_start, again.period_end) == (first.period_start, first.period_end)
    assert again.resumed


def test_next_run_starts_where_the_finished_one_ended(engine):
    first = ledger.open_run(engine, now=NOW)
    assert ledger.finish_run(engine, first.id, NOW)

    second = ledger.open_run(engine, now=NOW + timedelta(days=7))

    assert second.id != first.id
    assert (second.period_start, second.period_end) == (NOW, NOW + timedelta(days=7))
    assert ledger.last_run(engine).finished_at is None


def test_claimed_email_is_not_claimed_again_after_it_was_sent(engine):
    run = ledger.open_run(engine, now=NOW)
    assert ledger.claim(engine, run.id, "alex@example.org", "<m1@x>", ["k1", "k2"], 2048)
    ledger.mark(engine, run.id, "alex@example.org", sent("<m1@x>"), ["k1", "k2"])

    assert not ledger.claim(engine, run.id, "alex@example.org", "<m2@x>", ["k1", "k2"], 2048)
    assert status_of(engine, run.id, "alex@example.org") == "sent"


def test_pending_row_after_a_crash_becomes_unknown_and_is_not_resent(engine):
    run = ledger.open_run(engine, now=NOW)
    assert ledger.claim(engine, run.id, "alex@example.org", "<m1@x>", ["k1"], 100)
    # the process is killed here: no mark()

    resumed = ledger.open_run(engine, now=NOW + timedelta(minutes=5))
    assert not ledger.claim(engine, resumed.id, "alex@example.org", "<m2@x>", ["k1"], 100)
    assert not ledger.claim(engine, resumed.id, "alex@example.org", "<m3@x>", ["k1"], 100)

    assert status_of(engine, run.id, "alex@example.org") == "unknown"
    assert ledger.run_summary(engine, run.id)["unknown"] == 1


def test_retry_unknown_lets_staff_resend_only_the_chosen_emails(engine):
    run = ledger.open_run(engine, now=NOW)
    for email in ("alex@example.org", "kim@example.org"):
        ledger.claim(engine, run.id, email, f"<{email}>", ["k1"], 100)
        ledger.claim(engine, run.id, email, f"<{email}-2>", ["k1"], 100)  # meets its own pending row

    assert ledger.retry_unknown(engine, run.id, ["kim@example.org"]) == 1

    assert ledger.claim(engine, run.id, "kim@example.org", "<kim-3>", ["k1"], 100)
    assert not ledger.claim(engine, run.id, "alex@example.org", "<alex-3>", ["k1"], 100)
    assert ledger.retry_unknown(engine, run.id) == 1
    assert ledger.claim(engine, run.id, "alex@example.org", "<alex-4>", ["k1"], 100)


def test_retry_unknown_reopens_a_finished_run_so_the_next_send_resumes_it(engine):
    run = ledger.open_run(engine, now=NOW)
    ledger.claim(engine, run.id, "alex@example.org", "<m1@x>", ["k1"], 100)  # then killed
    ledger.claim(engine, run.id, "alex@example.org", "<m2@x>", ["k1"], 100)  # resumed: unknown
    assert ledger.finish_run(engine, run.id, NOW)  # unknown fate does not hold the run open

    assert ledger.retry_unknown(engine, run.id) == 1

    resumed = ledger.open_run(engine, now=NOW + timedelta(days=1))
    assert (resumed.id, resumed.resumed, resumed.period_end) == (run.id, True, NOW)
    assert ledger.claim(engine, run.id, "alex@example.org", "<m3@x>", ["k1"], 100)


def test_retry_unknown_refuses_a_run_older_than_the_latest(engine):
    old = ledger.open_run(engine, now=NOW)
    ledger.finish_run(engine, old.id, NOW)
    ledger.open_run(engine, now=NOW + timedelta(days=7))

    with pytest.raises(StoreError, match=f"run {old.id} is not the latest"):
        ledger.retry_unknown(engine, old.id)


def test_database_without_the_schema_is_a_store_error_naming_the_step(tmp_path):
    bare = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    with pytest.raises(StoreError, match=r"could not open run: no such table: digest_runs .*db upgrade"):
        ledger.open_run(bare, now=NOW)


def test_failed_send_is_retried_in_the_same_run_and_blocks_finishing(engine):
    run = ledger.open_run(engine, now=NOW)
    ledger.claim(engine, run.id, "alex@example.org", "<m1@x>", ["k1"], 100)
    ledger.mark(engine, run.id, "alex@example.org", SendResult("<m1@x>", "failed", "451 try later", 4), ["k1"])

    assert not ledger.finish_run(engine, run.id, NOW)
    assert ledger.open_run(engine, now=NOW + timedelta(hours=1)).id == run.id
    assert ledger.claim(engine, run.id, "alex@example.org", "<m2@x>", ["k1"], 100)
    ledger.mark(engine, run.id, "alex@example.org", sent("<m2@x>"), ["k1"])

    assert ledger.finish_run(engine, run.id, NOW + timedelta(hours=1))
    with engine.connect() as conn:
        row = conn.execute(sa.select(deliveries).where(deliveries.c.run_id == run.id)).one()
    assert (row.status, row.message_tag, row.attempts, row.error) == ("sent", ledger.message_tag("<m2@x>"), 5, None)


def test_gone_recipient_is_never_retried_and_does_not_block_finishing(engine):
    run = ledger.open_run(engine, now=NOW)
    ledger.claim(engine, run.id, "old@example.org", "<m1@x>", ["k1"], 100)
    result = SendResult("<m1@x>", "gone", "recipient refused: old@example.org: 550 5.1.1 no such user", 1)
    ledger.mark(engine, run.id, "old@example.org", result, ["k1"])

    assert not ledger.claim(engine, run.id, "old@example.org", "<m2@x>", ["k1"], 100)
    assert ledger.finish_run(engine, run.id, NOW)
    assert delivered_keys(engine, ["old@example.org"], keys=["k1"]) == {}


def test_sent_components_are_never_delivered_again_in_the_next_run(engine):
    run = ledger.open_run(engine, now=NOW)
    ledger.claim(engine, run.id, "alex@example.org", "<m1@x>", ["k1", "k2"], 100)
    ledger.mark(engine, run.id, "alex@example.org", sent("<m1@x>"), ["k1", "k2"])
    ledger.finish_run(engine, run.id, NOW)

    nxt = ledger.open_run(engine, now=NOW + timedelta(days=7))
    candidates = {"k2", "k3"}  # k2 was backdated into the new period too
    already = delivered_keys(engine, ["alex@example.org", "kim@example.org"], keys=candidates)

    assert already == {"alex@example.org": {"k2"}}
    assert candidates - already.get("alex@example.org", set()) == {"k3"}
    assert ledger.claim(engine, nxt.id, "alex@example.org", "<m2@x>", ["k3"], 100)


def test_delivered_keys_reads_thousands_of_subscribers_across_chunks(engine):
    run = ledger.open_run(engine, now=NOW)
    emails = [f"user{i}@example.org" for i in range(1001)]
    with engine.begin() as conn:  # one transaction, as a big send's bookkeeping could
        for i, email in enumerate(emails):
            ledger.claim(conn, run.id, email, f"<{i}@x>", ["k1"], 10)
            ledger.mark(conn, run.id, email, sent(f"<{i}@x>"), [f"k{i % 3}", "shared"])

    found = delivered_keys(engine, emails + ["nobody@example.org"], keys=["k0", "k1", "k2", "shared"])

    assert len(found) == 1001
    assert found["user999@example.org"] == {"k0", "shared"}
    assert found["user1000@example.org"] == {"k1", "shared"}
    assert "nobody@example.org" not in found
    assert ledger.run_summary(engine, run.id) == {
        "queued": 0, "pending": 0, "sent": 1001, "failed": 0, "gone": 0, "unknown": 0
    }


def test_two_concurrent_claims_of_one_subscriber_exactly_one_wins(engine):
    run = ledger.open_run(engine, now=NOW)
    contenders = 8
    barrier = threading.Barrier(contenders)
    wins: list[bool] = []

    def contend(n: int) -> None:
        barrier.wait()
        wins.append(ledger.claim(engine, run.id, "alex@example.org", f"<m{n}@x>", ["k1"], 100))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins) == [False] * (contenders - 1) + [True]


def test_two_senders_started_at_once_share_one_run(engine):
    starters = 4
    barrier = threading.Barrier(starters)
    runs: list[ledger.DigestRun] = []

    def start() -> None:
        barrier.wait()
        runs.append(ledger.open_run(engine, now=NOW))

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({run.id for run in runs}) == 1
    assert sorted(run.resumed for run in runs) == [False] + [True] * (starters - 1)


def test_live_senders_outcome_is_recorded_even_after_a_rival_marked_it_unknown(engine):
    run = ledger.open_run(engine, now=NOW)
    assert ledger.claim(engine, run.id, "alex@example.org", "<winner@x>", ["k1"], 100)
    assert not ledger.claim(engine, run.id, "alex@example.org", "<rival@x>", ["k1"], 100)

    ledger.mark(engine, run.id, "alex@example.org", sent("<winner@x>"), ["k1"])

    assert status_of(engine, run.id, "alex@example.org") == "sent"
    assert delivered_keys(engine, ["alex@example.org"], keys=["k1", "k2"]) == {"alex@example.org": {"k1"}}


def test_a_digest_sent_again_in_the_same_run_adds_its_items_to_those_sent_before(engine):
    run = ledger.open_run(engine, now=NOW)
    assert ledger.claim(engine, run.id, "alex@example.org", "<first@x>", ["k1", "k2"], 100)
    ledger.mark(engine, run.id, "alex@example.org", sent("<first@x>"), ["k1", "k2"])
    # staff re-sent a digest of unknown fate; the first one's late outcome came in as well
    ledger.mark(engine, run.id, "alex@example.org", sent("<first@x>"), ["k3"])
    ledger.mark(engine, run.id, "alex@example.org", sent("<stale@x>"), ["k4"])

    found = delivered_keys(engine, ["alex@example.org"], keys=["k1", "k2", "k3", "k4", "k5"])

    assert found == {"alex@example.org": {"k1", "k2", "k3", "k4"}}


def test_ledger_refuses_naive_datetimes(engine):
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        ledger.open_run(engine, now=datetime(2025, 3, 10, 9, 0))
