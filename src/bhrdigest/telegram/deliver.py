"""Delivering queued Telegram alerts: one pass, or until the queue is done (`bhrdigest alert`).

Delivery state lives in the store (see store/alert_queue.py): a row goes `sending` before
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

"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import sqlalchemy as sa

from bhrdigest.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
)
from bhrdigest.i18n import chrome_for
from bhrdigest.model import Subscriber
from bhrdigest.store import alert_queue as store
from bhrdigest.telegram.client import ChatGoneError, TelegramSender
from bhrdigest.telegram.format import AlertMessage, format_alerts
from bhrdigest.telegram.pacing import ChatsInHand, Flights, until_news

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # network failures before an alert is given up (429s do not count)
MAX_AGE = timedelta(days=3)  # an "instant" alert older than this is noise: expire it
# Items a pass tells one chat one by one; the rest of its burst is one line, "…and N more",
# and marked `summarised` once that line is sent (a flood of 300 items is not 40 messages).
MAX_ALERTS_PER_CHAT = 10


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
    summarised: int = 0  # told only as "…and N more"
    previews: tuple[tuple[int, str], ...] = ()  # --dry-run: (chat id, message text)

    def line(self, seconds: float | None = None) -> str:
        took = f" in {seconds:.1f}s" if seconds is not None else ""
        summarised = f" summarised={self.summarised}" if self.summarised else ""
        return (
            f"alert chats={self.chats} messages={self.messages} sent={self.sent}{summarised} "
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
            self.summarised + other.summarised,
            self.previews + other.previews,
        )


@dataclass
class _ChatJob:
    chat_id: int
    messages: deque[AlertMessage]
    attempts: dict[str, int]
    read_at: datetime  # the rest told as "…and N more" were due by then


class _Counts(TypedDict):
    """What a run counts as it goes: each an AlertRunSummary field of the same name."""

    messages: int
    sent: int
    retried: int
    failed: int
    gone: int
    summarised: int


@dataclass
class _Run:
    engine: sa.Engine
    sender: TelegramSender
    start: datetime
    lease: float
    max_pause: float
    started: float = field(default_factory=time.monotonic)
    counts: _Counts = field(
        default_factory=lambda: _Counts(messages=0, sent=0, retried=0, failed=0, gone=0, summarised=0)
    )

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
        batches = store.due_alerts(engine, now, limit, per_chat=MAX_ALERTS_PER_CHAT)
        jobs = [_job(engine, batch, now) for batch in batches]
        previews = tuple((job.chat_id, m.text) for job in jobs for m in job.messages)
        return AlertRunSummary(chats=len(jobs), messages=len(previews), previews=previews)
    expired = store.expire_alerts(engine, now - MAX_AGE)
    if sender is None:  # no token: what is queued stays queued
        return AlertRunSummary(failed=expired, pending=_pending(engine))
    run = _Run(engine, sender, now, lease, max_pause)
    run.counts["failed"] += expired

    def read(exclude: frozenset[int]) -> tuple[list[_ChatJob], bool]:
        read_at = run.now()
        batches = store.due_alerts(engine, read_at, limit, exclude_chats=exclude, per_chat=MAX_ALERTS_PER_CHAT)
        return [_job(engine, batch, read_at) for batch in batches], sum(len(b.alerts) for b in batches) >= limit

    def ready_at(chat_id: int) -> float:
        return time.monotonic() + sender.delay(chat_id)

    hand: ChatsInHand[_ChatJob] = ChatsInHand(read, ready_at, low=_chats_to_rotate(sender), max_reads=max_reads)
    await _deliver(run, hand, stop_event)
    return AlertRunSummary(chats=len(hand.chats_read), pending=_pending(engine), **run.counts)


def _chats_to_rotate(sender: TelegramSender) -> int:
    """Chats to keep in hand: at 28/s, one a chat every 1.1 s, 31 take turns; twice that
    leaves time to read more before they run out."""
    pacing = sender.pacer.pacing
    return max(16, math.ceil(2 * pacing.global_per_second * pacing.per_chat_interval))


def _job(engine: sa.Engine, batch: store.ChatAlerts, read_at: datetime) -> _ChatJob:
    chrome = chrome_for([store.alert_language(engine, batch.chat_id) or "en"])
    messages = deque(format_alerts([queued.alert for queued in batch.alerts], more=batch.more, chrome=chrome))
    return _ChatJob(batch.chat_id, messages, {queued.alert.key: queued.attempts for queued in batch.alerts}, read_at)


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
    if message.more:
        run.counts["summarised"] += store.mark_summarised(run.engine, job.chat_id, job.read_at)
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
