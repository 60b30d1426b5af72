"""Delivering queued alerts, and the long-running worker (fetch, alert, answer the bot).

Delivery state lives in the store (see store/alerts.py): a row goes `sending` before
the API call and `sent` after. A process killed between the two leaves a `sending`
row that is sent again once its lease expires: for chat alerts, a rare duplicate is
better than a loss. Nothing else is ever sent twice. Several messages travel at once
(one per chat, at most `TelegramSender.max_in_flight`), so a kill repeats at most that many.

A pass keeps Telegram's global rate (see telegram/pacing.py): it reads the next alerts from
the store while the last ones go, and sends each message at its own slot in a task of
its own, so that neither a read nor a slow answer leaves a slot unused.

Waits: a pacing wait of up to `max_pause` seconds is slept; a longer one, and every
429's `retry_after`, is written to the store as the alert's next attempt and the run
goes on with other chats — a 429 asking for an hour never holds a process for an hour.
`bhrdigest alert` then waits out next attempts due within `max_wait` before it exits;
the worker picks them up on a later pass.

Several workers may run against one PostgreSQL database: each fetches and sends alerts
(an alert's claim is all-or-nothing, so no two send it), and the one holding the bot
poller lock (store/locks.py) is the only one that long-polls Telegram. When it stops or
dies, another takes the lock on its next pass. On SQLite, run one worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bhrdigest.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bhrdigest.model import Catalogue, Subscriber
from bhrdigest.store import alert_queue as store
from bhrdigest.store.locks import BOT_POLLER, HeldLock
from bhrdigest.telegram.bot import COMMANDS, CompanyDirectory, poll_bot_once
from bhrdigest.telegram.client import ChatGoneError, TelegramSender
from bhrdigest.telegram.format import AlertMessage, format_alerts
from bhrdigest.telegram.pacing import ChatsInHand, Flights, until_news

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # network failures before an alert is given up (429s do not count)
MAX_AGE = timedelta(days=3)  # an "instant" alert older than this is noise: expire it


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AlertRunSummary:
    chats: int = 0
    messages: int = 0
    sent: int = 0  # alerts, not messages
    retried: int = 0
    failed: int = 0
    gone: int = 0  # chats that blocked the bot
    pending: int = 0  # still queued when the run ended
    previews: tuple[tuple[int, str], ...] = ()  # --dry-run: (chat id, message text)

    def line(self, seconds: float | None = None) -> str:
        took = f" in {seconds:.1f}s" if seconds is not None else ""
        return (
            f"alert chats={self.chats} messages={self.messages} sent={self.sent} "
            f"retry={self.retried} failed={self.failed} gone={self.gone} pending={self.pending}{took}"
        )

    def __add__(self, other: AlertRunSummary) -> AlertRunSummary:
        return AlertRunSummary(
            self.chats + other.chats,
            self.messages + other.messages,
            self.sent + other.sent,
            self.retried + other.retried,
            self.failed + other.failed,
            self.gone + other.gone,
            other.pending,
            self.previews + other.previews,
        )


@dataclass
class _ChatJob:
    chat_id: int
    messages: deque[AlertMessage]
    attempts: dict[str, int]


_COUNTED = ("messages", "sent", "retried", "failed", "gone")


@dataclass
class _Run:
    engine: sa.Engine
    sender: TelegramSender
    start: datetime
    lease: float
    max_pause: float
    started: float = field(default_factory=time.monotonic)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTED, 0))

    def now(self) -> datetime:
        # The given start plus real time elapsed: tests pin the start, time still moves.
        return self.start + timedelta(seconds=time.monotonic() - self.started)


async def run_alerts_once(
    engine: sa.Engine,
    sender: TelegramSender | None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    limit: int = 1000,
    max_reads: int | None = None,
    max_pause: float = 2.0,
    lease: float = 60.0,
    stop_event: asyncio.Event | None = None,
) -> AlertRunSummary:
    """Deliver the alerts due: each chat's burst as few messages as fit.

    Alerts are read `limit` at a time, the next read while the last ones go, until
    none is due. `max_reads` caps the reads (the worker answers the bot between
    passes); chats such a pass leaves waiting are still due for the next one.
    `dry_run` formats the first `limit` that would be sent and changes nothing.
    """
    now = now or utcnow()
    if dry_run:  # no token needed
        jobs = [_job(batch) for batch in store.due_alerts(engine, now, limit)]
        previews = tuple((job.chat_id, m.text) for job in jobs for m in job.messages)
        return AlertRunSummary(chats=len(jobs), messages=len(previews), previews=previews)
    expired = store.expire_alerts(engine, now - MAX_AGE)
    if sender is None:  # no token: what is queued stays queued
        return AlertRunSummary(failed=expired, pending=_pending(engine))
    run = _Run(engine, sender, now, lease, max_pause)
    run.counts["failed"] += expired

    def read(exclude: frozenset[int]) -> tuple[list[_ChatJob], bool]:
        batches = store.due_alerts(engine, run.now(), limit, exclude_chats=exclude)
        return [_job(batch) for batch in batches], sum(len(b.alerts) for b in batches) >= limit

    def ready_at(chat_id: int) -> float:
        return time.monotonic() + sender.delay(chat_id)

    hand = ChatsInHand(read, ready_at, low=_chats_to_rotate(sender), max_reads=max_reads)
    await _deliver(run, hand, stop_event)
    return AlertRunSummary(chats=len(hand.chats_read), pending=_pending(engine), **run.counts)


def _chats_to_rotate(sender: TelegramSender) -> int:
    """Chats to keep in hand: at 28/s, one a chat every 1.1 s, 31 take turns; twice that
    leaves time to read more before they run out."""
    pacing = sender.pacer.pacing
    return max(16, math.ceil(2 * pacing.global_per_second * pacing.per_chat_interval))


def _job(batch: store.ChatAlerts) -> _ChatJob:
    messages = deque(format_alerts([queued.alert for queued in batch.alerts]))
    return _ChatJob(batch.chat_id, messages, {queued.alert.key: queued.attempts for queued in batch.alerts})


async def _deliver(run: _Run, hand: ChatsInHand[_ChatJob], stop_event: asyncio.Event | None) -> None:
    flights = Flights(run.sender.max_in_flight, run.sender.pacer.spacing)
    try:
        while True:
            await flights.room()
            if stop_event is not None and stop_event.is_set():
                break  # what is left stays due: the next process sends it
            if not await _dispatch_next(run, hand, flights):
                break
            flights.raise_failure()
    finally:
        await flights.land()  # what is in flight is recorded, even when stopping
        await hand.close()
    flights.raise_failure()


async def _dispatch_next(run: _Run, hand: ChatsInHand[_ChatJob], flights: Flights) -> bool:
    """Start the next message on its way, or wait for one that can go; False when done.

    A message is claimed, waits for its slot, then travels in a task of its own while
    the next one is dispatched. One message per chat at a time: a chat's messages
    arrive in order, and a 429 stops the rest of its burst.
    """
    hand.top_up()
    job = hand.peek()
    if job is None:
        if not flights and hand.reading is None:
            return False  # nothing in hand, nothing coming
        await until_news(hand, flights, None)
        return True
    wait = run.sender.delay(job.chat_id)
    if wait > run.sender.pacer.spacing:  # the chat's own interval holds it back
        return await _wait_for_a_chat(run, hand, flights, wait)
    hand.take()
    message = job.messages.popleft()
    now = run.now()
    if not store.mark_sending(run.engine, job.chat_id, message.keys, now, now + timedelta(seconds=run.lease)):
        log.info("alerts to chat %s taken by another process; leaving them to it", job.chat_id)
        hand.drop(job, skip=True)
        return True
    # Claimed before its slot is reserved: the claim's time does not push the slot back.
    await run.sender.wait_turn(job.chat_id)
    flights.start(_fly(run, hand, job, message))
    await asyncio.sleep(0)  # let it leave now, not after the next message's claim
    return True


async def _wait_for_a_chat(run: _Run, hand: ChatsInHand[_ChatJob], flights: Flights, wait: float) -> bool:
    """Every chat in hand waits out its own interval, the soonest `wait` seconds."""
    if hand.reading is None and hand.cut:
        return False  # rather than idle, leave them to the next pass: they are still due
    if wait > run.max_pause and not flights and hand.reading is None:
        # Every chat left must wait at least this long: write it down, do not sleep.
        for job in hand.queued():
            _reschedule(run, job, run.sender.delay(job.chat_id), "waiting for Telegram's rate limit")
        return False
    # A read may bring chats that can go at once; else sleep until the soonest can.
    await until_news(hand, flights, wait - run.sender.pacer.spacing if wait <= run.max_pause else None)
    return True


async def _fly(run: _Run, hand: ChatsInHand[_ChatJob], job: _ChatJob, message: AlertMessage) -> None:
    """Send one claimed message, record how it went, and put its chat back in the queue."""
    if await _send_claimed(run, job, message) and job.messages:
        hand.put(job)
    else:
        hand.drop(job)


async def _send_claimed(run: _Run, job: _ChatJob, message: AlertMessage) -> bool:
    """Send the chat's claimed message; False when the rest of its burst must wait."""
    try:
        await run.sender.send_message(job.chat_id, message.text, disable_preview=message.disable_preview, paced=False)
    except TransientDeliveryError as exc:
        job.messages.appendleft(message)
        _retry_later(run, job, exc)
        return False
    except ChatGoneError as exc:
        log.info("chat %s is gone, no more alerts to it: %s", job.chat_id, exc)
        store.mark_gone(run.engine, job.chat_id, run.now(), str(exc))
        run.counts["gone"] += 1
        return False
    except PermanentDeliveryError as exc:
        log.error("alert message to chat %s refused, not retried: %s", job.chat_id, exc)
        store.mark_failed(run.engine, job.chat_id, message.keys, str(exc))
        run.counts["failed"] += len(message.keys)
        return True
    store.mark_sent(run.engine, job.chat_id, message.keys, run.now())
    run.counts["messages"] += 1
    run.counts["sent"] += len(message.keys)
    return True


def _retry_later(run: _Run, job: _ChatJob, exc: TransientDeliveryError) -> None:
    if exc.retry_after is not None:  # flood control: not the message's fault
        log.warning("chat %s: %s", job.chat_id, exc)
        _reschedule(run, job, exc.retry_after, str(exc))
        return
    first = job.messages[0]
    attempts = max(job.attempts.get(k, 0) for k in first.keys) + 1
    if attempts >= MAX_ATTEMPTS:
        log.error("alert to chat %s given up after %d attempts: %s", job.chat_id, attempts, exc)
        store.mark_failed(run.engine, job.chat_id, first.keys, f"gave up after {attempts} attempts: {exc}")
        run.counts["failed"] += len(first.keys)
        job.messages.popleft()
    keys = [k for m in job.messages for k in m.keys]
    if not keys:
        return
    delay = min(30.0 * 2 ** (attempts - 1), 3600.0)
    log.warning("alert to chat %s failed (attempt %d), retry in %.0f s: %s", job.chat_id, attempts, delay, exc)
    retry_at = run.now() + timedelta(seconds=delay)
    store.mark_retry(run.engine, job.chat_id, keys, retry_at, str(exc))
    run.counts["retried"] += len(keys)


def _reschedule(run: _Run, job: _ChatJob, seconds: float, reason: str) -> None:
    keys = [k for m in job.messages for k in m.keys]
    retry_at = run.now() + timedelta(seconds=seconds)
    store.mark_retry(run.engine, job.chat_id, keys, retry_at, reason, refund_attempt=True)
    run.counts["retried"] += len(keys)


def _pending(engine: sa.Engine) -> int:
    counts = store.alert_counts(engine)
    return counts.get("pending", 0) + counts.get("sending", 0)


async def run_alerts(
    engine: sa.Engine,
    sender: TelegramSender | None,
    *,
    subscribers: Sequence[Subscriber] | None = None,
    dry_run: bool = False,
    max_wait: float = 10.0,
    clock: Callable[[], datetime] = utcnow,
) -> AlertRunSummary:
    """`bhrdigest alert`: deliver what is queued, waiting out short flood waits, then return.

    Alerts that must wait longer than `max_wait` stay queued for the next run.
    """
    if subscribers is not None and not dry_run:
        store.sync_yaml_chats(engine, subscribers, clock())
    summary = AlertRunSummary()
    for _ in range(20):  # bounded: a flood of short waits cannot keep us here
        summary += await run_alerts_once(engine, sender, now=clock(), dry_run=dry_run)
        due = store.next_due(engine)
        if dry_run or due is None or (due - clock()).total_seconds() > max_wait:
            break
        await asyncio.sleep(max(0.0, (due - clock()).total_seconds()))
    return replace(summary, pending=_pending(engine))


# --- the worker ---------------------------------------------------------------------------


async def run_worker(
    *,
    fetch_once: Callable[[], Awaitable[Sequence[str]]],
    engine: sa.Engine,
    sender: TelegramSender | None,
    catalogue: Catalogue | None = None,
    companies: CompanyDirectory | None = None,
    interval: float = 600.0,
    stop_event: asyncio.Event | None = None,
    subscribers: Sequence[Subscriber] | None = None,
    poll_timeout: float = 10.0,
    lease: float = 60.0,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Fetch every `interval` seconds, queue and deliver alerts, answer the bot.

    `fetch_once` stores what it fetched and returns the newly stored keys; this loop
    queues their alerts (queueing is idempotent, so the fetch may queue them too).
    Returns when `stop_event` is set — by SIGTERM or SIGINT when none is given —
    after the messages in flight, within a few seconds.
    """
    own_signals = stop_event is None
    stop = stop_event or asyncio.Event()
    if own_signals:
        _install_signals(stop)
    life = _Life(started=time.monotonic())
    try:
        companies = companies or _company_index(catalogue)
        await _prepare(engine, sender, subscribers, interval, clock)
        await _loop(fetch_once, engine, sender, companies, interval, stop, poll_timeout, lease, clock, life)
    finally:
        if own_signals:
            _remove_signals()
        log.info("worker stopped %s", life.line())


@dataclass(slots=True)
class _Life:
    """What a worker did, for the one summary line it ends with."""

    started: float
    fetches: int = 0
    new: int = 0
    alerts: AlertRunSummary = field(default_factory=AlertRunSummary)

    def line(self) -> str:
        minutes = (time.monotonic() - self.started) / 60
        return f"after {minutes:.1f} min: fetches={self.fetches} new={self.new} {self.alerts.line()}"


async def _prepare(
    engine: sa.Engine, sender: TelegramSender | None, subscribers: Sequence[Subscriber] | None, interval: float, clock
) -> None:
    now = clock()
    if subscribers is not None:
        store.sync_yaml_chats(engine, subscribers, now)
    # Components stored by a fetch that died before queueing them still get their alerts.
    swept = store.queue_alerts_since(engine, now - max(timedelta(seconds=2 * interval), timedelta(hours=1)), now=now)
    if swept:
        log.info("queued %d alerts left unqueued by an earlier run", swept)
    if sender is None:
        log.warning("TELEGRAM_BOT_TOKEN is not set: fetching only; alerts stay queued and the bot does not answer")
        return
    try:
        await sender.prepare_polling(COMMANDS)
    except TransientDeliveryError as exc:
        log.warning("could not set up the bot's commands (will poll anyway): %s", exc)


async def _loop(fetch_once, engine, sender, companies, interval, stop, poll_timeout, lease, clock, life) -> None:
    # Telegram lets one client long-poll a bot (a second gets 409 Conflict): with several
    # workers, the one holding this lock answers the bot; all of them fetch and alert.
    poller = HeldLock(engine, BOT_POLLER, name="Telegram bot poller")
    next_fetch = time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() >= next_fetch:
                next_fetch = time.monotonic() + interval
                life.fetches += 1
                life.new += await _fetch(fetch_once, engine, stop, clock)
            if sender is None:
                await _until(stop, max(0.0, next_fetch - time.monotonic()))
                continue
            started = time.monotonic()
            # One read of alerts a pass (~200 messages, ~7 s): the bot is answered between passes.
            summary = await run_alerts_once(engine, sender, now=clock(), stop_event=stop, lease=lease, max_reads=1)
            life.alerts += summary
            if summary.messages or summary.retried or summary.failed or summary.gone:
                log.info(summary.line(time.monotonic() - started))
            timeout = _poll_timeout(engine, next_fetch, poll_timeout, clock)
            await _poll(engine, sender, companies, stop, timeout, clock, poller)
    finally:
        poller.release()


async def _fetch(fetch_once, engine: sa.Engine, stop: asyncio.Event, clock) -> int:
    """Fetch once; how many new components were stored."""
    try:
        keys = await _unless_stopped(fetch_once(), stop)
    except (ConfigError, sa.exc.SQLAlchemyError):
        raise
    except Exception:  # one bad fetch must not end the worker; the next one may work
        log.exception("fetch failed; trying again next interval")
        return 0
    if keys:
        queued = store.queue_alerts(engine, keys, now=clock())
        log.info("fetch stored %d new components, %d alerts queued", len(keys), queued)
    return len(keys or ())


def _poll_timeout(engine: sa.Engine, next_fetch: float, poll_timeout: float, clock) -> float:
    timeout = min(poll_timeout, next_fetch - time.monotonic())
    due = store.next_due(engine)
    if due is not None:
        timeout = min(timeout, (due - clock()).total_seconds())
    return max(0.0, timeout)


async def _poll(engine, sender, companies, stop: asyncio.Event, timeout: float, clock, poller: HeldLock) -> None:
    if not poller.acquire():
        await _until(stop, timeout)  # another worker answers the bot; this one fetches and alerts
        return
    try:
        await _unless_stopped(poll_bot_once(engine, sender, companies, timeout=timeout, clock=clock), stop)
    except DeliveryError as exc:
        log.warning("bot polling failed, trying again shortly: %s", exc)
        await _until(stop, 5.0)


async def _unless_stopped(awaitable: Awaitable, stop: asyncio.Event):
    """Await `awaitable`, cancelling it if `stop` is set first (then returns None)."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


async def _until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _company_index(catalogue: Catalogue | None) -> CompanyDirectory:
    from bhrdigest.ingest.tagging.companies import (
        CompanyIndex,  # written alongside; imported late
    )

    return CompanyIndex((catalogue or Catalogue()).companies)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.add_signal_handler(sig, _on_signal, stop, sig)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("%s received: finishing the messages in flight, then stopping", sig.name)
    stop.set()


def _remove_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in _SIGNALS:
        loop.remove_signal_handler(sig)
