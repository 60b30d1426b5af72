"""The ledger read for people (store/runs.py) and the two ways a sender hands its rows on early.

SQLite files, and PostgreSQL too when BHRDIGEST_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bhrdigest.mail.sending import SendResult
from bhrdigest.store import ledger, runs

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def claimed(engine, run_id: int, email: str, message_id: str, *, worker: str | None = None) -> None:
    assert ledger.claim(engine, run_id, email, message_id, ["k1"], 100, now=NOW, worker=worker)


def test_history_lists_every_run_newest_first_with_its_counts(engine):
    first = ledger.open_run(engine, now=NOW)
    ledger.enqueue(engine, first.id, ["alex@example.org", "sam@example.org", "kim@example.org"], now=NOW)
    claimed(engine, first.id, "alex@example.org", "<a@x>")
    ledger.mark(engine, first.id, "alex@example.org", SendResult("<a@x>", "sent", None, 1), ["k1"], now=NOW)
    claimed(engine, first.id, "sam@example.org", "<s@x>")
    ledger.mark(engine, first.id, "sam@example.org", SendResult("<s@x>", "gone", "550 no such user", 1), ["k1"])
    claimed(engine, first.id, "kim@example.org", "<k@x>")
    ledger.mark(engine, first.id, "kim@example.org", SendResult("<k@x>", "sent", None, 1), ["k1"])
    assert ledger.finish_run(engine, first.id, NOW + timedelta(minutes=5))
    second = ledger.open_run(engine, now=NOW + timedelta(days=7))

    history = runs.run_history(engine)

    assert [record.id for record in history] == [second.id, first.id]
    newest, oldest = history
    assert (newest.planned, newest.finished_at) == (0, None)
    assert newest.period_start == oldest.period_end == NOW
    assert oldest.planned == 3 and oldest.deliveries["sent"] == 2 and oldest.deliveries["gone"] == 1
    assert oldest.finished_at == NOW + timedelta(minutes=5)
    assert oldest.to_json()["planned"] == 3
    assert [record.id for record in runs.run_history(engine, limit=1)] == [second.id]


def test_the_addresses_of_a_run_are_read_by_state_with_their_errors(engine):
    run = ledger.open_run(engine, now=NOW)
    claimed(engine, run.id, "sam@example.org", "<s@x>")
    ledger.mark(engine, run.id, "sam@example.org", SendResult("<s@x>", "failed", "451 try later", 1), ["k1"])
    claimed(engine, run.id, "alex@example.org", "<a@x>")
    ledger.claim_batch(engine, run.id, "another", size=10, lease=60)  # alex's sender is gone: unknown

    found = runs.deliveries_in(engine, run.id, [ledger.FAILED, ledger.UNKNOWN])

    assert [(d.email, d.status) for d in found] == [("alex@example.org", "unknown"), ("sam@example.org", "failed")]
    assert found[1].error == "451 try later"
    assert runs.settled_emails(engine, run.id) == {"alex@example.org"}  # a failure is tried again


def test_a_second_ctrl_c_gives_up_the_messages_in_flight_as_unknown(engine):
    run = ledger.open_run(engine, now=NOW)
    claimed(engine, run.id, "alex@example.org", "<a@x>")
    claimed(engine, run.id, "sam@example.org", "<s@x>")

    given_up = ledger.abandon(engine, run.id, {"alex@example.org": "<a@x>", "sam@example.org": "<stale@x>"})

    assert given_up == 1  # sam's row carries another message id: not this sender's to give up
    states = {d.email: d.status for d in runs.deliveries_in(engine, run.id, ledger.STATUSES)}
    assert states == {"alex@example.org": "unknown", "sam@example.org": "pending"}
    assert ledger.finish_run(engine, run.id, NOW) is False  # sam's send is still going on


def test_a_batch_whose_sender_is_known_to_be_gone_is_taken_over_at_once(engine):
    run = ledger.open_run(engine, now=NOW)
    ledger.enqueue(engine, run.id, ["alex@example.org", "sam@example.org"], now=NOW)
    held = ledger.claim_batch(engine, run.id, "host:1:dead", size=1, lease=600)
    assert ledger.claim(engine, run.id, held.emails[0], "<m@x>", ["k1"], 10, worker="host:1:dead")
    ledger.claim_batch(engine, run.id, "host:2:live", size=10, lease=600)
    assert ledger.claim_batch(engine, run.id, "host:2:live", size=10, lease=600).emails == ()

    [holder] = runs.lease_holders(engine, run.id, besides="host:2:live")
    assert (holder.worker, holder.count) == ("host:1:dead", 1)
    assert holder.lease_until > datetime.now(UTC) + timedelta(seconds=500)

    assert ledger.expire_lease(engine, run.id, "host:1:dead") == 1
    taken = ledger.claim_batch(engine, run.id, "host:2:live", size=10, lease=600)

    assert taken.orphaned == 1  # its message in flight: unknown, never sent again unasked
    assert runs.lease_holders(engine, run.id, besides="host:2:live") == []
