"""Several workers on one PostgreSQL: one long-polls Telegram, all of them send alerts once.

Telegram answers a second concurrent getUpdates with 409 Conflict; the bot poller lock
(a PostgreSQL advisory lock) keeps the polling to one worker. PostgreSQL tests need
BHRDIGEST_TEST_DATABASE_URL; SQLite assumes a single worker.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from botapi import TOKEN, FakeBotAPI, store_component

from bhrdigest.model import Catalogue, Company
from bhrdigest.store import alert_queue as store
from bhrdigest.store.db import connect, normalise_url
from bhrdigest.store.locks import BOT_POLLER, HeldLock
from bhrdigest.telegram.client import Pacing, TelegramSender
from bhrdigest.worker import run_worker

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PACING = Pacing(per_chat_interval=0.01, global_per_second=500, group_per_minute=0)
CHATS = range(1, 9)

postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def engines(database_url):
    """Two engines on one database: two worker processes, as far as the locks can tell."""
    first = connect(database_url, create=True)
    second = connect(database_url)
    yield first, second
    first.dispose()
    second.dispose()


@postgresql_only
def test_the_poller_lock_is_held_by_one_process_until_it_lets_go(engines):
    first = HeldLock(engines[0], BOT_POLLER, name="bot poller")
    second = HeldLock(engines[1], BOT_POLLER, name="bot poller")

    assert first.acquire() and first.acquire()  # taken, then kept
    assert not second.acquire()

    first.release()
    assert second.acquire() and second.held
    assert not first.acquire()


@postgresql_only
def test_a_holder_whose_connection_died_loses_the_lock_to_another(engines, database_url):
    holder = HeldLock(engines[0], BOT_POLLER, name="bot poller")
    other = HeldLock(engines[1], BOT_POLLER, name="bot poller")
    assert holder.acquire()
    backend = holder._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    holder._conn.commit()

    admin = sa.create_engine(normalise_url(database_url))
    with admin.begin() as conn:  # what a crashed worker's dyno, or a database restart, does
        # With a timeout (ms) it returns once the backend has exited, its locks released;
        # without one it only signals, and the lock may still be held for a moment.
        gone = conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend}).scalar()
    assert gone
    admin.dispose()

    assert other.acquire()
    assert not holder.acquire() and not holder.held  # it notices, and does not think it still polls
    other.release()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_single_worker_always_holds_the_poller_lock(engines):
    assert HeldLock(engines[0], BOT_POLLER, name="bot poller").acquire()


@postgresql_only
def test_concurrent_claims_of_one_chats_alerts_have_exactly_one_winner(engines):
    engine = engines[0]
    store.track_company(engine, 7, "HSBC", T0)
    keys = [store_component(engine, f"k{n}", companies=("HSBC",), first_seen_at=T0 + timedelta(minutes=1))
            for n in range(3)]  # fmt: skip
    store.queue_alerts(engine, keys, now=T0 + timedelta(minutes=2))
    now = T0 + timedelta(minutes=3)
    contenders = 8
    barrier = threading.Barrier(contenders)
    wins: list[bool] = []

    def contend(engine) -> None:
        barrier.wait()
        wins.append(store.mark_sending(engine, 7, keys, now, now + timedelta(seconds=60)))

    threads = [threading.Thread(target=contend, args=(engines[n % 2],)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(wins) == [False] * (contenders - 1) + [True]


async def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@postgresql_only
async def test_one_of_two_workers_polls_both_send_alerts_and_the_other_takes_over(engines):
    engine_a, engine_b = engines
    for chat in CHATS:
        store.track_company(engine_a, chat, "HSBC", T0)

    async def nothing_new() -> list[str]:
        return []

    def worker(engine, sender, stop):
        return asyncio.create_task(run_worker(
            fetch_once=nothing_new, engine=engine, sender=sender, catalogue=Catalogue((Company("HSBC"),)),
            interval=3600, stop_event=stop, poll_timeout=0.1,
        ))  # fmt: skip

    # Two Bot API servers, one per worker: who called getUpdates is then plain to see.
    with FakeBotAPI(per_chat_interval=0.0, global_per_second=10_000) as api_a, \
            FakeBotAPI(per_chat_interval=0.0, global_per_second=10_000) as api_b:  # fmt: skip
        async with TelegramSender(TOKEN, api_a.url, pacing=PACING) as sender_a, \
                TelegramSender(TOKEN, api_b.url, pacing=PACING) as sender_b:  # fmt: skip
            stop_a, stop_b = asyncio.Event(), asyncio.Event()
            task_a = worker(engine_a, sender_a, stop_a)
            await wait_for(lambda: api_a.calls.count("getUpdates") >= 2)
            task_b = worker(engine_b, sender_b, stop_b)

            api_a.hold_after(0)  # the poller's alerts in flight hang at Telegram: the other worker goes on
            key = store_component(engine_a, "news", companies=("HSBC",), first_seen_at=datetime.now(UTC))
            store.queue_alerts(engine_a, [key])
            await wait_for(lambda: api_a.holding.is_set())
            await wait_for(lambda: len(api_a.messages) + len(api_b.messages) == len(CHATS))
            api_a.release()
            polls = api_a.calls.count("getUpdates")
            await wait_for(lambda: api_a.calls.count("getUpdates") >= polls + 3)  # both loops went round
            polled_by_b_meanwhile = api_b.calls.count("getUpdates")

            stop_a.set()
            await asyncio.wait_for(task_a, timeout=10)
            await wait_for(lambda: "getUpdates" in api_b.calls)  # the lock passed on
            stop_b.set()
            await asyncio.wait_for(task_b, timeout=10)

    assert polled_by_b_meanwhile == 0
    delivered = [m.chat_id for m in api_a.messages + api_b.messages]
    assert sorted(delivered) == list(CHATS)  # every chat's alert once, from one worker or the other
    assert not [r for r in api_a.refusals + api_b.refusals if r[2] == 409]
