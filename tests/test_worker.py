"""Queueing and delivering alerts, and the worker, against our Bot API on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from botapi import TOKEN, FakeBotAPI, database, store_component

from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.model import Catalogue, Company, Subscriber
from bhrdigest.ops.status import collect_status, format_status
from bhrdigest.store import alert_queue as store
from bhrdigest.store import bot_api
from bhrdigest.store.db import connect
from bhrdigest.store.schema import alerts as alerts_table
from bhrdigest.telegram.bot import poll_bot_once
from bhrdigest.telegram.client import CONNECTIONS, Pacing, TelegramSender
from bhrdigest.telegram.deliver import MAX_ALERTS_PER_CHAT, MAX_ATTEMPTS, run_alerts, run_alerts_once
from bhrdigest.worker import run_worker

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)
PACING = Pacing(per_chat_interval=0.03, global_per_second=500, group_per_minute=0)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "worker.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    with database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def sqlite_engine(db_path):
    """For a worker in another process: a file both processes open."""
    engine = connect(f"sqlite:///{db_path}", create=True)
    yield engine
    engine.dispose()


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    # Lenient against our pacing: a 429 here would be our bug, not a test's timing.
    with FakeBotAPI(per_chat_interval=0.01, global_per_second=10_000) as running:
        yield running


@pytest.fixture
async def sender(api):
    async with TelegramSender(TOKEN, api.url, pacing=PACING) as running:
        yield running


def statuses(engine) -> dict[tuple[int, str], str]:
    with engine.connect() as conn:
        return {(r.chat_id, r.key): r.status for r in conn.execute(sa.select(alerts_table))}


def alert_row(engine, chat_id, key):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(alerts_table).where(alerts_table.c.chat_id == chat_id, alerts_table.c.key == key)
        ).one()


def new_component(engine, key, companies=("HSBC",), **fields):
    """A component stored by a fetch after everyone started tracking, and queued."""
    store_component(engine, key, companies=companies, first_seen_at=LATER, **fields)
    return store.queue_alerts(engine, [key], now=LATER)


# --- queueing ---------------------------------------------------------------------------


async def test_tracked_company_in_a_new_component_reaches_the_chat(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1", companies=("Shell", "HSBC"), title="HK: HSBC accused", countries=("Hong Kong", "China"))

    summary = await run_alerts_once(engine, sender, now=LATER)

    [text] = api.texts(7)
    assert "HK: HSBC accused" in text and "Hong Kong, China" in text
    assert text.splitlines()[0].endswith("HSBC")
    assert statuses(engine) == {(7, "c1"): "sent"}
    assert (summary.messages, summary.sent, summary.pending) == (1, 1, 0)


async def test_chat_that_starts_tracking_after_a_component_was_first_seen_gets_no_alert(engine):
    store_component(engine, "old", companies=("HSBC",), first_seen_at=T0)
    store.track_company(engine, 7, "HSBC", T0 + timedelta(seconds=1))

    assert store.queue_alerts(engine, ["old"], now=LATER) == 0


def test_backfill_component_raises_no_alert(engine):
    store.track_company(engine, 7, "HSBC", T0)
    store_component(engine, "b1", companies=("HSBC",), first_seen_at=LATER, alertable=False)

    assert store.queue_alerts(engine, ["b1"], now=LATER) == 0
    assert store.queue_alerts_since(engine, T0, now=LATER) == 0


async def test_same_component_fetched_again_alerts_once(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    await run_alerts_once(engine, sender, now=LATER)

    again = store.queue_alerts(engine, ["c1"], now=LATER + timedelta(hours=1))
    await run_alerts_once(engine, sender, now=LATER + timedelta(hours=1))

    assert again == 0
    assert len(api.texts(7)) == 1


async def test_yaml_subscriber_chat_gets_alerts_until_removed_from_the_yaml(engine, api, sender):
    alex = Subscriber("alex@example.org", companies=("HSBC", "Cellebrite"), telegram=7)
    store.sync_yaml_chats(engine, [alex], T0)
    new_component(engine, "c1", companies=("Cellebrite",))
    await run_alerts_once(engine, sender, now=LATER)

    store.sync_yaml_chats(engine, [Subscriber("alex@example.org", companies=("HSBC",), telegram=7)], LATER)
    queued = new_component(engine, "c2", companies=("Cellebrite",))

    assert len(api.texts(7)) == 1
    assert queued == 0
    assert store.chat_state(engine, 7).companies == (("HSBC", "yaml"),)


# --- delivering -------------------------------------------------------------------------


async def test_hostile_titles_and_a_long_excerpt_arrive_intact_and_valid(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    hostile = ["<script>alert(1)</script>", "AT&T & HSBC", "1 < 2 > 0", "Click"]
    for i, title in enumerate(hostile):
        new_component(engine, f"h{i}", title=title, url="javascript:alert(1)" if title == "Click" else None)
    new_component(engine, "long", title="Long one", excerpt="word " * 1000)

    await run_alerts_once(engine, sender, now=LATER)

    [message] = [m for m in api.messages if m.chat_id == 7]
    for title in hostile:
        assert title in message.text
    assert not any(link.startswith("javascript") for link in message.links)
    assert "word word" in message.text and len(message.text) < 4096
    assert api.refusals == []


async def test_a_burst_of_forty_alerts_tells_the_first_ten_and_the_rest_as_and_n_more(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    keys = [f"c{i:02}" for i in range(40)]
    for key in keys:
        store_component(engine, key, companies=("HSBC",), first_seen_at=LATER, excerpt="excerpt " * 40)
    store.queue_alerts(engine, keys, now=LATER)

    summary = await run_alerts_once(engine, sender, now=LATER)
    store_component(engine, "after", companies=("HSBC",), first_seen_at=LATER, title="After the burst")
    store.queue_alerts(engine, ["after"], now=LATER)
    await run_alerts_once(engine, sender, now=LATER)

    texts = api.texts(7)
    told = keys[:MAX_ALERTS_PER_CHAT]
    assert len(texts) in range(2, 5)  # not forty messages, nor the ten that forty would take
    assert texts[0].startswith("40 new items on companies you track")
    assert sum(t.count("Component c") for t in texts) == len(told)
    assert all(f"Component {k}" in "".join(texts) for k in told)
    assert "…and 30 more items on companies you track" in texts[-2]
    assert "After the burst" in texts[-1]  # the summarised ones hold nothing back
    final = statuses(engine)
    assert [final[(7, k)] for k in keys] == ["sent"] * len(told) + ["summarised"] * 30
    assert (summary.sent, summary.summarised) == (len(told), 30)
    assert api.refusals == []


async def test_alerts_speak_the_language_the_chat_chose(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    store.track_company(engine, 8, "HSBC", T0)
    store.set_chat_language(engine, 8, "es")
    new_component(engine, "c1", kind="company_response", title="HSBC replies", author="Reuters")
    new_component(engine, "c2", title="HSBC accused")

    await run_alerts_once(engine, sender, now=LATER)

    [english], [spanish] = api.texts(7), api.texts(8)
    assert english.startswith("2 new items on companies you track")
    assert "Company response · HSBC" in english and "Source: Reuters" in english
    assert spanish.startswith("2 novedades sobre empresas que sigues")
    assert "Respuesta de la empresa · HSBC" in spanish and "Fuente: Reuters" in spanish
    assert "HSBC replies" in spanish  # the item itself keeps its language


async def test_alerts_follow_the_telegram_language_a_private_chat_wrote_in_until_it_chooses(engine, api, sender):
    directory = CompanyIndex([Company("HSBC")])
    api.add_update(9, "/track HSBC", language_code="fr-FR")
    await poll_bot_once(engine, sender, directory, timeout=0, clock=lambda: T0)
    new_component(engine, "c1", title="HSBC accused")
    await run_alerts_once(engine, sender, now=LATER)
    assert "Source : Example Monitor" in api.texts(9)[-1]

    api.add_update(9, "/language en", language_code="fr-FR")
    await poll_bot_once(engine, sender, directory, timeout=0, clock=lambda: T0)
    new_component(engine, "c2", title="HSBC again")
    await run_alerts_once(engine, sender, now=LATER)
    assert "Source: Example Monitor" in api.texts(9)[-1]


def queue_backlog(engine, chats, keys):
    """Every chat tracks HSBC; each key is an HSBC component with a 60-word excerpt, queued."""
    for chat in chats:
        store.track_company(engine, chat, "HSBC", T0)
    for key in keys:
        store_component(engine, key, companies=("HSBC",), first_seen_at=LATER, excerpt="word " * 60)
    store.queue_alerts(engine, keys, now=LATER)
    return keys


async def test_alerts_to_many_chats_keep_the_rate_against_a_distant_api_without_a_429_and_arrive_once(engine):
    # 40 chats x 10 alerts (two messages each), read 30 alerts at a time, against a Bot API
    # that takes 100 ms to answer: one message at a time could not pass 10 a second.
    pacing = Pacing(per_chat_interval=0.2, global_per_second=50, group_per_minute=0)
    chats = range(100, 140)
    keys = queue_backlog(engine, chats, [f"r{i:02}" for i in range(MAX_ALERTS_PER_CHAT)])

    # The server's limits are looser than our pacing by more than any timing noise here.
    with FakeBotAPI(per_chat_interval=0.1, global_per_second=60, latency=0.1) as api:
        async with TelegramSender(TOKEN, api.url, pacing=pacing) as sender:
            summary = await run_alerts_once(engine, sender, now=LATER, limit=30)
        messages = list(api.messages)

    assert api.refusals == []
    assert summary.sent == len(chats) * len(keys) and set(statuses(engine).values()) == {"sent"}
    for chat in chats:
        texts = [m.text for m in messages if m.chat_id == chat]
        assert len(texts) >= 2
        assert [sum(f"Component {key}" in text for text in texts) for key in keys] == [1] * len(keys)
    stamps = [m.at for m in messages]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate <= 50 * 1.05  # never faster than the pacing…
    assert rate >= 50 * 0.6  # …and not far below it: no idling between reads, no waiting on answers


async def test_passes_of_one_read_leave_waiting_chats_due_and_send_every_alert_once(engine, api, sender):
    # The worker's passes (one read each, the bot answered in between) over a backlog.
    chats = range(1, 9)
    keys = queue_backlog(engine, chats, [f"p{i:02}" for i in range(MAX_ALERTS_PER_CHAT)])

    first = await run_alerts_once(engine, sender, now=LATER, limit=2 * MAX_ALERTS_PER_CHAT, max_reads=1)
    with engine.connect() as conn:
        first_two = sa.and_(alerts_table.c.chat_id.in_([1, 2]), alerts_table.c.status == "pending")
        left = conn.execute(sa.select(alerts_table).where(first_two)).all()
    passes = 1
    while _pending(engine) and passes < 50:
        await run_alerts_once(engine, sender, now=LATER, limit=2 * MAX_ALERTS_PER_CHAT, max_reads=1)
        passes += 1

    # Two chats read, their first messages sent, their second ones not waited for…
    assert (first.chats, first.messages, first.retried) == (2, 2, 0)
    assert left and all(r.next_attempt_at <= LATER and r.attempts == 0 for r in left)  # …but left due
    assert set(statuses(engine).values()) == {"sent"}
    for chat in chats:
        texts = api.texts(chat)
        assert [sum(f"Component {key}" in text for text in texts) for key in keys] == [1] * len(keys)
    assert api.refusals == []


def _pending(engine) -> int:
    return sum(status == "pending" for status in statuses(engine).values())


async def test_429_is_rescheduled_then_sent_once_after_retry_after(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    store.track_company(engine, 8, "HSBC", T0)
    new_component(engine, "c1")
    api.fail_next(7, 429, "Too Many Requests: retry after 30", retry_after=30)

    first = await run_alerts_once(engine, sender, now=LATER)
    row = alert_row(engine, 7, "c1")
    early = await run_alerts_once(engine, sender, now=LATER + timedelta(seconds=10))
    late = await run_alerts_once(engine, sender, now=LATER + timedelta(seconds=31))

    assert api.texts(8) and len(api.texts(7)) == 1  # the other chat was not held up
    assert row.status == "pending" and row.attempts == 0  # a flood wait is not a failed attempt
    assert row.next_attempt_at >= LATER + timedelta(seconds=30)
    assert (first.retried, early.messages, late.messages) == (1, 0, 1)
    assert statuses(engine)[(7, "c1")] == "sent"


async def test_an_hour_long_flood_wait_is_written_down_not_slept(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    api.fail_next(7, 429, "Too Many Requests: retry after 3600", retry_after=3600)

    summary = await run_alerts(engine, sender, clock=lambda: LATER)

    assert summary.pending == 1
    assert store.next_due(engine) >= LATER + timedelta(seconds=3600)
    assert api.texts(7) == []


async def test_a_short_flood_wait_is_waited_out_by_the_alert_command(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    api.fail_next(7, 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()

    summary = await run_alerts(engine, sender, clock=lambda: LATER + timedelta(seconds=time.monotonic() - started))

    assert len(api.texts(7)) == 1
    assert (summary.sent, summary.pending) == (1, 0)


async def test_403_marks_the_chat_gone_and_nothing_more_is_sent_to_it(engine, api, sender):
    for chat in (7, 8):
        store.track_company(engine, chat, "HSBC", T0)
    new_component(engine, "c1")
    api.blocked.add(7)

    summary = await run_alerts_once(engine, sender, now=LATER)
    queued = new_component(engine, "c2")
    await run_alerts_once(engine, sender, now=LATER + timedelta(hours=1))

    assert summary.gone == 1
    assert store.chat_state(engine, 7).status == "gone"
    assert statuses(engine)[(7, "c1")] == "gone"
    assert queued == 1  # only chat 8
    assert len(api.texts(8)) == 2
    assert [r for r in api.refusals if r[1] == 7] == [("sendMessage", 7, 403, "Forbidden: bot was blocked by the user")]


async def test_a_refused_message_fails_alone(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    api.fail_next(7, 400, "Bad Request: message is too long")

    await run_alerts_once(engine, sender, now=LATER)
    new_component(engine, "c2")
    await run_alerts_once(engine, sender, now=LATER + timedelta(minutes=1))

    assert statuses(engine) == {(7, "c1"): "failed", (7, "c2"): "sent"}
    assert len(api.texts(7)) == 1


async def test_server_errors_back_off_and_finally_give_up(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    moment = LATER
    for _ in range(MAX_ATTEMPTS):
        api.fail_next(7, 500, "Internal Server Error")
        await run_alerts_once(engine, sender, now=moment)
        row = alert_row(engine, 7, "c1")
        if row.status != "pending":
            break
        assert row.next_attempt_at > moment + timedelta(seconds=29)
        moment = row.next_attempt_at + timedelta(seconds=1)

    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert api.texts(7) == []


async def test_dry_run_shows_messages_and_changes_nothing(engine, api):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1", title="Dry & run")

    summary = await run_alerts(engine, None, dry_run=True, clock=lambda: LATER)

    assert [(chat, "Dry &amp; run" in text) for chat, text in summary.previews] == [(7, True)]
    assert statuses(engine) == {(7, "c1"): "pending"}
    assert api.messages == []


async def test_alerts_queued_days_ago_expire_instead_of_arriving_late(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")

    summary = await run_alerts_once(engine, sender, now=LATER + timedelta(days=4))

    assert statuses(engine) == {(7, "c1"): "failed"}
    assert (summary.failed, api.texts(7)) == (1, [])


async def test_a_sending_row_left_by_a_dead_process_is_sent_again_after_its_lease(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    store.mark_sending(engine, 7, ["c1"], LATER, LATER + timedelta(seconds=60))  # then the process died

    during = await run_alerts_once(engine, sender, now=LATER + timedelta(seconds=30))
    after = await run_alerts_once(engine, sender, now=LATER + timedelta(seconds=61))

    assert (during.messages, after.messages) == (0, 1)
    assert statuses(engine) == {(7, "c1"): "sent"}


async def test_alerts_claimed_by_another_process_are_not_sent_again(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    new_component(engine, "c1")
    due = store.due_alerts(engine, LATER)

    claimed = store.mark_sending(engine, 7, ["c1"], LATER, LATER + timedelta(seconds=60))
    second_claim = store.mark_sending(
        engine, 7, [q.alert.key for q in due[0].alerts], LATER, LATER + timedelta(seconds=60)
    )

    assert (claimed, second_claim) == (True, False)
    assert alert_row(engine, 7, "c1").attempts == 1


# --- the worker ---------------------------------------------------------------------------


async def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_worker_fetches_alerts_answers_the_bot_and_stops_on_request(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    fetched: list[int] = []

    async def fetch_once():
        fetched.append(1)
        if len(fetched) == 1:
            store_component(engine, "w1", companies=("HSBC",), first_seen_at=datetime.now(UTC), title="Fresh")
            return ["w1"]
        return []

    stop = asyncio.Event()
    api.add_update(9, "/track hsbc")
    task = asyncio.create_task(
        run_worker(
            fetch_once=fetch_once, engine=engine, sender=sender, catalogue=Catalogue((Company("HSBC"),)),
            interval=0.2, stop_event=stop, poll_timeout=0.1,
        )
    )
    await wait_for(lambda: api.texts(7) and api.texts(9) and len(fetched) >= 2)
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    assert "Fresh" in api.texts(7)[0]
    assert "Tracking HSBC" in api.texts(9)[0]
    assert store.chat_state(engine, 9).companies == (("HSBC", "bot"),)


async def test_worker_without_a_token_warns_and_keeps_fetching_and_queueing(engine, caplog):
    store.sync_yaml_chats(engine, [Subscriber("alex@example.org", companies=("HSBC",), telegram=7)], T0)
    stop = asyncio.Event()

    async def fetch_once():
        store_component(engine, "n1", companies=("HSBC",), first_seen_at=datetime.now(UTC))
        stop.set()
        return ["n1"]

    await asyncio.wait_for(
        run_worker(
            fetch_once=fetch_once, engine=engine, sender=None, companies=None, catalogue=Catalogue(), stop_event=stop
        ),
        timeout=10,
    )

    assert statuses(engine) == {(7, "n1"): "pending"}
    assert "TELEGRAM_BOT_TOKEN is not set" in caplog.text


async def test_worker_start_queues_components_a_dead_fetch_left_unqueued(engine, api, sender):
    store.track_company(engine, 7, "HSBC", T0)
    store_component(engine, "orphan", companies=("HSBC",), first_seen_at=datetime.now(UTC))  # stored, never queued
    stop = asyncio.Event()

    async def fetch_once():
        return []

    task = asyncio.create_task(
        run_worker(
            fetch_once=fetch_once,
            engine=engine,
            sender=sender,
            catalogue=Catalogue(),
            interval=60,
            stop_event=stop,
            poll_timeout=0.1,
        )
    )
    await wait_for(lambda: api.texts(7))
    stop.set()
    await asyncio.wait_for(task, timeout=10)

    assert statuses(engine) == {(7, "orphan"): "sent"}


async def test_a_chat_flooding_the_bot_does_not_hold_back_a_due_alert(engine):
    store.track_company(engine, 7, "HSBC", T0)
    with FakeBotAPI() as api:  # Telegram's limits: one message a second to a chat
        for n in range(40):
            api.add_update(9, f"/track Zzyzx {n}")
        stop = asyncio.Event()
        store_component(engine, "due", companies=("HSBC",), first_seen_at=datetime.now(UTC), title="Due now")
        store.queue_alerts(engine, ["due"], now=datetime.now(UTC))
        # Due a second from now: while the bot answers the flood, not before.
        store.mark_retry(engine, 7, ["due"], datetime.now(UTC) + timedelta(seconds=1), "due in a second")

        async def fetch_once():
            return []

        async with TelegramSender(TOKEN, api.url) as sender:  # our real pacing
            started = time.monotonic()
            task = asyncio.create_task(run_worker(
                fetch_once=fetch_once, engine=engine, sender=sender, catalogue=Catalogue((Company("HSBC"),)),
                interval=600, stop_event=stop, poll_timeout=0.1,
            ))
            await wait_for(lambda: api.texts(7) and api.texts(9), seconds=20)
            took = time.monotonic() - started
            await asyncio.sleep(1.5)  # room for any further replies to the flood
            stop.set()
            await asyncio.wait_for(task, timeout=10)

    assert took < 5, took  # not the ~43 s of forty paced replies
    assert "Due now" in api.texts(7)[0]
    assert len(api.texts(9)) == 1


async def test_worker_outlives_a_bot_api_outage_fetching_on_and_alerting_once_it_answers(engine, caplog):
    store.track_company(engine, 7, "HSBC", T0)
    fetched: list[int] = []

    async def fetch_once():
        fetched.append(1)
        if len(fetched) == 2:
            store_component(engine, "o1", companies=("HSBC",), first_seen_at=datetime.now(UTC), title="Mid-outage")
            return ["o1"]
        return []

    with FakeBotAPI() as api:
        api.error_page = 502  # a proxy in front of the Bot API answers with an error page
        sender = TelegramSender(TOKEN, api.url, pacing=PACING)  # not started: the worker starts it
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(
            fetch_once=fetch_once, engine=engine, sender=sender, catalogue=Catalogue((Company("HSBC"),)),
            interval=0.1, stop_event=stop, poll_timeout=0.1, api_backoff=0.2,
        ))
        await wait_for(lambda: len(fetched) >= 5)
        during = bot_api.health(engine)
        queued = alert_row(engine, 7, "o1")
        no_config = SimpleNamespace(feeds=(), subscribers=())
        report = format_status(collect_status(engine, no_config, now=datetime.now(UTC)))
        assert not task.done()  # the worker did not die with the API

        api.error_page = None
        await wait_for(lambda: api.texts(7))
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await sender.close()

    assert during.state == "down" and "Bad Gateway (502)" in (during.last_error or "")
    assert "telegram bot api: DOWN since" in report and "Bad Gateway (502)" in report
    assert (queued.status, queued.attempts) == ("pending", 0)  # it waited; no attempt was spent on it
    assert "Mid-outage" in api.texts(7)[0]
    assert bot_api.health(engine).state == "up"
    assert caplog.text.count("does not answer") == 1  # said once when it went down, not at every try
    assert "answers again" in caplog.text


# --- killed mid-queue and restarted (a real process) --------------------------------------

CHILD = """
import asyncio, logging, sys
from bhrdigest.model import Catalogue
from bhrdigest.telegram.client import Pacing, TelegramSender
from bhrdigest.store.db import connect
from bhrdigest.worker import run_worker

logging.basicConfig(level=logging.INFO)

async def main():
    engine = connect("sqlite:///" + sys.argv[1])
    async def fetch_once():
        return []
    pacing = Pacing(per_chat_interval=0.0, global_per_second=0.0, group_per_minute=0)
    async with TelegramSender(sys.argv[3], sys.argv[2], pacing=pacing) as sender:
        await run_worker(fetch_once=fetch_once, engine=engine, sender=sender, catalogue=Catalogue(),
                         interval=3600, poll_timeout=0.2, lease=0.5)

asyncio.run(main())
"""

CHATS = range(1, 21)


def start_child(db_path: Path, api: FakeBotAPI) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db_path), api.url, TOKEN],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def queue_three_alerts_for_each_chat(engine) -> None:
    for chat in CHATS:
        store.track_company(engine, chat, "HSBC", T0)
    keys = [store_component(engine, f"k{i}", companies=("HSBC",), first_seen_at=datetime.now(UTC)) for i in range(3)]
    store.queue_alerts(engine, keys)


def wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def stop_child(child: subprocess.Popen) -> str:
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=15)
    assert child.returncode == 0, stderr
    return stderr


# The child sends unpaced: once the API holds the 5th message, it has as many in flight as
# it may (CONNECTIONS), all held; more chats than that are left to a restart.


def test_worker_stopped_by_sigterm_mid_queue_finishes_the_messages_in_flight_and_resumes_without_duplicates(
    db_path, sqlite_engine
):
    engine = sqlite_engine
    queue_three_alerts_for_each_chat(engine)
    with FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        api.hold_after(4)
        child = start_child(db_path, api)
        try:
            wait_until(api.holding.is_set)
            child.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # the signal is handled while the messages are in flight
            in_flight = len(api.messages) - 4
            api.release()
            child.communicate(timeout=15)
        finally:
            child.kill()
        assert child.returncode == 0
        assert 0 < in_flight <= CONNECTIONS
        assert len(api.messages) == 4 + in_flight  # nothing new was started after the signal
        assert sum(s == "sent" for s in statuses(engine).values()) == 3 * (4 + in_flight)  # the held ones too

        restarted = start_child(db_path, api)
        try:
            wait_until(lambda: len(api.messages) >= len(CHATS))
            stop_child(restarted)
        finally:
            restarted.kill()

    per_chat = [len(api.texts(chat)) for chat in CHATS]
    assert per_chat == [1] * len(CHATS)
    assert set(statuses(engine).values()) == {"sent"}


def test_worker_killed_mid_queue_resends_only_the_messages_in_flight(db_path, sqlite_engine):
    engine = sqlite_engine
    queue_three_alerts_for_each_chat(engine)
    with FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        api.hold_after(4)
        child = start_child(db_path, api)
        try:
            wait_until(api.holding.is_set)
            time.sleep(0.2)  # the child fills its connections with messages, all held
            child.kill()  # SIGKILL: no chance to record anything
            child.communicate(timeout=15)
        finally:
            api.release()
        in_flight = {message.chat_id for message in api.messages[4:]}  # delivered, never answered

        restarted = start_child(db_path, api)
        try:
            wait_until(lambda: len(api.messages) >= len(CHATS) + len(in_flight))
            stop_child(restarted)
        finally:
            restarted.kill()

    assert 0 < len(in_flight) <= CONNECTIONS
    per_chat = {chat: len(api.texts(chat)) for chat in CHATS}
    assert per_chat == {chat: 2 if chat in in_flight else 1 for chat in CHATS}  # fate unknown: sent again
    assert all(text.count("Component k") == 3 for text in (m.text for m in api.messages))
    assert set(statuses(engine).values()) == {"sent"}
