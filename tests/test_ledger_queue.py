"""A run's queue: senders claim disjoint batches, a dead sender's batch is taken over.

On SQLite files, and on PostgreSQL when BHRDIGEST_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bhrdigest.mail.sending import SendResult
from bhrdigest.store import ledger, runs

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
EMAILS = [f"user{i:03d}@example.org" for i in range(50)]


def statuses(engine, run_id: int) -> dict[str, str]:
    return {d.email: d.status for d in runs.deliveries_in(engine, run_id, ledger.STATUSES)}


def queued_run(engine, emails=EMAILS):
    run = ledger.open_run(engine, now=NOW)
    ledger.enqueue(engine, run.id, emails, now=NOW)
    return run


def send_one(engine, run_id: int, email: str, worker: str, *, status: str = "sent") -> bool:
    message_id = f"<{email}>"
    if not ledger.claim(engine, run_id, email, message_id, ["k1"], 100, now=NOW, worker=worker):
        return False
    ledger.mark(engine, run_id, email, SendResult(message_id, status, None, 1), ["k1"], now=NOW)
    return True


def test_enqueueing_twice_adds_nothing_and_leaves_sent_rows_alone(engine):
    run = queued_run(engine, EMAILS[:3])
    batch = ledger.claim_batch(engine, run.id, "a", size=10, lease=60, now=NOW)
    send_one(engine, run.id, batch.emails[0], "a")

    assert ledger.enqueue(engine, run.id, EMAILS[:4], now=NOW) == 1  # only the new address

    assert sorted(statuses(engine, run.id).values()) == ["queued", "queued", "queued", "sent"]


def test_concurrent_senders_claim_disjoint_batches_covering_everyone(engine):
    run = queued_run(engine)
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def take(worker: str) -> None:
        barrier.wait()
        mine = claimed.setdefault(worker, [])
        while batch := ledger.claim_batch(engine, run.id, worker, size=7, lease=60, now=NOW).emails:
            mine.extend(batch)

    threads = [threading.Thread(target=take, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everyone = [email for emails in claimed.values() for email in emails]
    assert sorted(everyone) == EMAILS  # each address in exactly one sender's batches


def test_a_live_senders_batch_is_not_taken_but_a_dead_ones_is_after_its_lease(engine):
    run = queued_run(engine, EMAILS[:5])
    dead = ledger.claim_batch(engine, run.id, "dead", size=5, lease=30, now=NOW)
    assert send_one(engine, run.id, dead.emails[0], "dead")
    in_flight = dead.emails[1]
    assert ledger.claim(engine, run.id, in_flight, "<x>", ["k1"], 100, now=NOW, worker="dead")  # then killed

    assert ledger.claim_batch(engine, run.id, "live", size=5, lease=30, now=NOW + timedelta(seconds=10)).emails == ()
    later = ledger.claim_batch(engine, run.id, "live", size=5, lease=30, now=NOW + timedelta(seconds=31))

    assert sorted(later.emails) == sorted(dead.emails[2:])  # the rest of the dead batch
    assert later.orphaned == 1
    assert statuses(engine, run.id)[in_flight] == "unknown"  # may have gone: never re-sent unasked
    assert statuses(engine, run.id)[dead.emails[0]] == "sent"


def test_a_renewed_lease_keeps_the_batch_with_its_sender(engine):
    run = queued_run(engine, EMAILS[:3])
    ledger.claim_batch(engine, run.id, "slow", size=3, lease=30, now=NOW)

    assert ledger.renew_lease(engine, run.id, "slow", lease=30, now=NOW + timedelta(seconds=25)) == 3

    assert ledger.claim_batch(engine, run.id, "other", size=3, lease=30, now=NOW + timedelta(seconds=40)).emails == ()


def test_a_batch_taken_over_cannot_be_claimed_by_its_old_sender(engine):
    run = queued_run(engine, EMAILS[:1])
    ledger.claim_batch(engine, run.id, "stalled", size=1, lease=30, now=NOW)
    ledger.claim_batch(engine, run.id, "rescuer", size=1, lease=30, now=NOW + timedelta(seconds=31))

    assert not send_one(engine, run.id, EMAILS[0], "stalled")  # woke up too late: not its row any more
    assert send_one(engine, run.id, EMAILS[0], "rescuer")
    assert statuses(engine, run.id) == {EMAILS[0]: "sent"}


def test_released_rows_are_claimable_at_once(engine):
    run = queued_run(engine, EMAILS[:4])
    ledger.claim_batch(engine, run.id, "stopping", size=4, lease=300, now=NOW)

    assert ledger.release(engine, run.id, "stopping") == 4

    assert len(ledger.claim_batch(engine, run.id, "next", size=4, lease=300, now=NOW).emails) == 4


def test_the_run_finishes_only_when_nothing_is_queued_in_flight_or_failed(engine):
    run = queued_run(engine, EMAILS[:2])
    first, second = ledger.claim_batch(engine, run.id, "a", size=2, lease=60, now=NOW).emails
    send_one(engine, run.id, first, "a")
    assert not ledger.finish_run(engine, run.id, NOW)  # second is still queued
    assert ledger.outstanding(engine, run.id) == 1

    send_one(engine, run.id, second, "a", status="failed")
    assert not ledger.finish_run(engine, run.id, NOW)
    assert ledger.requeue_failed(engine, run.id, now=NOW) == 1  # the next `send` tries again
    retry = ledger.claim_batch(engine, run.id, "b", size=2, lease=60, now=NOW)
    assert retry.emails == (second,)
    send_one(engine, run.id, second, "b")

    assert ledger.finish_run(engine, run.id, NOW)
    assert ledger.run_summary(engine, run.id)["sent"] == 2


def test_rows_dropped_for_nothing_new_need_no_message_and_do_not_hold_the_run(engine):
    run = queued_run(engine, EMAILS[:2])
    batch = ledger.claim_batch(engine, run.id, "a", size=2, lease=60, now=NOW)

    assert ledger.drop(engine, run.id, "a", batch.emails[:1]) == 1
    assert ledger.drop(engine, run.id, "someone-else", batch.emails[1:]) == 0  # not theirs to drop

    send_one(engine, run.id, batch.emails[1], "a")
    assert ledger.finish_run(engine, run.id, NOW)
    assert statuses(engine, run.id) == {batch.emails[1]: "sent"}
