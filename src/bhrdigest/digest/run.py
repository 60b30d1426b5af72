"""A digest run: plan who gets what, then deliver each digest exactly once.

    plan_run       period -> components first seen in it -> matches -> minus what was
                   already delivered to each subscriber: one PlannedDigest per recipient
    work_run       one sender of a run, of any number on any machines, once
                   sendplan.start_send has queued the run's recipients: claim a batch of
                   queued rows under a lease -> recompute each one's digest -> its email
                   (compose.py) -> ledger `pending` -> send (SMTP or outbox) -> `sent` / `failed` / `gone`;
                   until no row of the run is queued or in flight anywhere

The ledger row is written before the message goes out and marked after, so a
re-run after Ctrl-C, kill -9 or a dead relay never sends anyone a second digest
and never skips anyone; a message whose fate is unknown is reported and re-sent
only when staff ask (`--resend-unknown`). A sender that dies stops renewing its
batch's lease; another sender of the run takes the batch over when it runs out (at
once when that sender ran on this machine and its process is gone). Ctrl-C finishes
the messages in flight (`stop`); a second one gives them up as of unknown fate (`abort`).
Memory stays flat: messages are built a batch at a time, never all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import sqlalchemy as sa

from bhrdigest.digest.build import DEFAULT_MAX_ITEMS, PlannedDigest
from bhrdigest.digest.compose import DigestComposer
from bhrdigest.digest.match import Matcher
from bhrdigest.digest.message import encoded_size
from bhrdigest.errors import StoreError
from bhrdigest.mail.sending import SendResult, send_many
from bhrdigest.model import Subscriber
from bhrdigest.store import ledger, runs
from bhrdigest.store.components import load_components
from bhrdigest.store.delivered import delivered_keys
from bhrdigest.store.sql import chunked
from bhrdigest.wording import counted

log = logging.getLogger(__name__)


class Sender(Protocol):
    down: str | None  # why sending stopped, once the destination is unusable

    async def send(self, message: EmailMessage) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class Plan:
    period_start: datetime
    period_end: datetime
    component_count: int
    digests: tuple[PlannedDigest, ...]  # empty when only counted (`keep_digests=False`)
    already_delivered: int = 0  # subscribers whose matches were all delivered before
    nothing_new: int = 0  # subscribers with no match in the period
    settled: int = 0  # subscribers the resumed run already has an outcome for (sent, gone, unknown)
    recipients: tuple[str, ...] = ()  # who gets a digest (lower-cased emails), in YAML order
    item_count: int = 0  # items in all these digests, before the per-digest cap


@dataclass(slots=True)
class RunSummary:
    """One sender's part of a run (or, added up, several senders'), and the run's state."""

    run_id: int | None
    planned: int = 0
    sent: int = 0
    failed: int = 0
    gone: int = 0
    skipped: int = 0  # already sent, refused, taken over or of unknown fate in this run
    unknown: int = 0  # the run's messages of unknown fate (an interrupted send): not re-sent
    stopped: int = 0  # sender processes that stopped on an error (`send --workers`)
    interrupted: bool = False  # asked to stop (Ctrl-C, SIGTERM) before the run was done
    finished: bool = False
    seconds: float | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.gone or self.unknown or self.stopped or self.interrupted)

    def to_json(self) -> dict:
        return asdict(self)

    def add(self, other: RunSummary) -> None:
        """Count another sender's part of the same run in."""
        for name in ("planned", "sent", "failed", "gone", "skipped", "stopped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.interrupted = self.interrupted or other.interrupted
        self.failures.extend(other.failures)

    def line(self) -> str:
        run = f"run={self.run_id} " if self.run_id is not None else ""
        state = "finished" if self.finished else "unfinished"
        stopped = f" stopped={self.stopped}" if self.stopped else ""
        took = f" in {self.seconds:.1f}s" if self.seconds is not None else ""
        return (
            f"send {run}planned={self.planned} sent={self.sent} failed={self.failed} gone={self.gone} "
            f"skipped={self.skipped} unknown={self.unknown}{stopped} ({state}){took}"
        )


def planned_period(engine: sa.Engine, *, now: datetime, first_period_days: int = 7) -> tuple[datetime, datetime]:
    """The period the next `send` would cover, without opening a run."""
    last = ledger.last_run(engine)
    if last is None:
        return now - timedelta(days=first_period_days), now
    if last.finished_at is None:
        return last.period_start, last.period_end
    return last.period_end, max(now, last.period_end)


def plan_run(
    engine: sa.Engine,
    subscribers: Sequence[Subscriber],
    *,
    period_start: datetime,
    period_end: datetime,
    keep_digests: bool = True,
    max_items: int = DEFAULT_MAX_ITEMS,
    settled: AbstractSet[str] = frozenset(),
) -> Plan:
    """Who gets which components: matched, first seen in the period, never delivered to them.

    `keep_digests=False` only counts, a chunk of subscribers at a time: `send` needs the
    recipients and the numbers, not 100,000 digests' matches in memory at once.
    `settled`: (lower-cased) addresses the run being resumed already has an outcome for.
    """
    recipients = RunRecipients(engine, subscribers, period_start=period_start, period_end=period_end,
                               max_items=max_items)
    digests: list[PlannedDigest] = []
    queue: list[str] = []
    items = already = 0
    matched = recipients.matched_emails()
    wanted = [email for email in matched if email not in settled]
    for chunk in chunked(wanted, 500):
        planned, nothing = recipients.digests(engine, chunk)
        already += len(nothing)
        queue += (p.subscriber.email.strip().lower() for p in planned)
        items += sum(p.total for p in planned)
        if keep_digests:
            digests += planned
    return Plan(
        period_start=period_start,
        period_end=period_end,
        component_count=recipients.component_count,
        digests=tuple(digests),
        already_delivered=already,
        settled=len(matched) - len(wanted),
        nothing_new=len(subscribers) - len(matched),
        recipients=tuple(queue),
        item_count=items,
    )


class RunRecipients:
    """Each recipient's digest in a run's period, computed a batch of emails at a time.

    The period's components are loaded and matched once (matches are kept as bit sets,
    see digest/match.py, Matches); what was delivered before is read per batch.
    """

    def __init__(self, engine: sa.Engine, subscribers: Sequence[Subscriber], *, period_start: datetime,
                 period_end: datetime, max_items: int = DEFAULT_MAX_ITEMS):  # fmt: skip
        components = load_components(engine, seen_since=period_start, seen_before=period_end)
        self.component_count = len(components)
        self.max_items = max_items
        self.by_email = {s.email.strip().lower(): s for s in subscribers}
        self.matched = Matcher(subscribers).match(components)
        self.candidates = {c.key for c in components}

    def matched_emails(self) -> list[str]:
        """Subscribers with a match in the period, in subscriptions.yaml order."""
        return [email for email in self.by_email if email in self.matched]

    def digests(self, engine: sa.Engine, emails: Sequence[str]) -> tuple[list[PlannedDigest], list[str]]:
        """(digests to send, emails needing none: not a subscriber, or nothing new for them)."""
        delivered = delivered_keys(engine, emails, keys=self.candidates)
        digests, nothing = [], []
        for email in emails:
            subscriber = self.by_email.get(email)
            # Only the matches a digest can show are built: a region's reader may have hundreds.
            shown, total = self.matched.for_digest(email, self.max_items, exclude=delivered.get(email, ()))
            if subscriber and shown:
                digests.append(PlannedDigest(subscriber, shown, total))
            else:
                nothing.append(email)
        return digests, nothing


def worker_name() -> str:
    """Who holds a batch: host, process and a random tag (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Batching:
    """How a sender shares a run with others."""

    size: int = 200  # recipients claimed at once
    lease: float = 60.0  # seconds a batch stays ours after the last heartbeat
    poll: float = 1.0  # seconds between looks while other senders hold the last batches
    notice: float = 5.0  # seconds of such waiting before saying whom we wait for (a live one is usually done by then)
    worker: str = field(default_factory=worker_name)

    def __post_init__(self) -> None:
        if self.size < 1 or self.lease <= 0 or self.poll <= 0:
            raise ValueError("batch size, lease and poll must be positive")


async def work_run(
    engine: sa.Engine,
    run: ledger.DigestRun,
    composer: DigestComposer,
    sender: Sender,
    *,
    subscribers: Sequence[Subscriber] | None = None,
    concurrency: int = 4,
    batching: Batching | None = None,
    on_result: Callable[[SendResult], None] | None = None,
    stop: asyncio.Event | None = None,
    abort: asyncio.Event | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> RunSummary:
    """Send the run's queued digests, batch by batch, alongside any other senders of the run.

    Returns when nothing of the run is queued or in flight anywhere: when every sender
    is done, or has died and had its batch taken over. `subscribers` (default: the
    configuration's) are who may receive a digest; a queued address not among them
    gets none. Once `stop` is set, no new message is started: those in flight finish
    and are recorded, the rest stay queued for the next `send`. Once `abort` is set,
    the messages in flight are given up too: recorded as of unknown fate, at once.
    `on_wait` is told, in words, what this sender waits for while others hold the
    last batches, and when it takes over the batch of a sender that is gone.
    """
    batching = batching or Batching()
    subscribers = composer.config.subscribers if subscribers is None else subscribers
    recipients = RunRecipients(engine, subscribers, period_start=run.period_start, period_end=run.period_end,
                               max_items=composer.config.digest.max_items)
    started = time.monotonic()
    # One connection of its own for the claim and mark around every message: no pool
    # checkout and liveness probe per message (a third of the ledger's time, measured).
    with engine.connect() as conn:
        job = _Job(engine, conn, run, composer, recipients, batching, RunSummary(run_id=run.id), on_result,
                   stop or asyncio.Event(), on_wait)
        heartbeat = asyncio.ensure_future(job.heartbeat())
        try:
            sending = send_many(sender, job.messages(), concurrency=concurrency, on_result=job.record)
            job.aborted = await _unless_aborted(sending, abort)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            job.stop()
            job.summary.seconds = time.monotonic() - started
            log.info(job.summary.line())
    return job.summary


async def _unless_aborted(work: Coroutine[object, object, None], abort: asyncio.Event | None) -> bool:
    """Run `work` to its end, or cancel it once `abort` is set; True when it was cancelled."""
    task = asyncio.ensure_future(work)
    if abort is None:
        await task
        return False
    waiter = asyncio.ensure_future(abort.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():  # aborted, or our caller was cancelled: either way, stop sending
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return True
    task.result()  # its error, if it failed
    return False


@dataclass
class _Job:
    """One sender's part of a run: batches claimed, messages built lazily, outcomes recorded."""

    engine: sa.Engine
    conn: sa.Connection  # claims and marks
    run: ledger.DigestRun
    composer: DigestComposer
    recipients: RunRecipients
    batching: Batching
    summary: RunSummary
    on_result: Callable[[SendResult], None] | None
    stop_event: asyncio.Event
    on_wait: Callable[[str], None] | None = None
    in_flight: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # message id -> (email, keys)
    aborted: bool = False
    waiting_for: frozenset[str] = frozenset()  # the senders last reported as holding the rest
    waiting_since: float | None = None  # monotonic time this sender began waiting for others

    # Ledger calls are made from the event loop, not threads: rendering keeps the GIL busy,
    # and a thread waiting for it would hold each call for milliseconds (measured: slower).
    # Claims and marks stay one per message, written right before and right after the
    # send (grouping them was 20% faster, but a kill -9 then left twice as many messages
    # of unknown fate): only the messages in flight, one per connection, can be unknown.

    async def messages(self) -> AsyncIterator[EmailMessage]:
        """Render, claim and yield one message at a time, batch after batch."""
        while (emails := await self.next_batch()) is not None:
            digests, nothing = self.recipients.digests(self.engine, emails)
            if nothing:  # nothing new for them after all, or no longer subscribers: no row, no mail
                ledger.drop(self.engine, self.run.id, self.batching.worker, nothing)
            self.summary.planned += len(digests)
            self.composer.prepare(planned.subscriber.email for planned in digests)  # the links' ids, one query
            for planned in digests:
                if self.stop_event.is_set():
                    self.summary.interrupted = True
                    return  # the rest of the batch is released by stop()
                message = self.claimed_message(planned)
                if message is not None:
                    yield message

    async def next_batch(self) -> Sequence[str] | None:
        """The next batch of queued emails; None when the whole run is done."""
        worker, size, lease = self.batching.worker, self.batching.size, self.batching.lease
        while True:
            if self.stop_event.is_set():
                self.summary.interrupted = True
                return None
            batch = ledger.claim_batch(self.engine, self.run.id, worker, size=size, lease=lease)
            if batch.emails:
                log.debug("run %s: %s took %d recipients", self.run.id, worker, len(batch.emails))
                self.waiting_since = None
                return batch.emails
            if not ledger.outstanding(self.engine, self.run.id, besides=worker):
                return None
            # Other senders hold the last batches: wait, to take over any whose sender dies.
            self.wait_for_others()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.batching.poll)

    def claimed_message(self, planned: PlannedDigest) -> EmailMessage | None:
        rendered, message = self.composer.compose(planned, run_id=self.run.id)
        message_id = str(message["Message-ID"])
        email = planned.subscriber.email.strip().lower()
        # The parts' encoded bytes: close to the wire size without flattening the message twice.
        size = encoded_size(rendered.html) + encoded_size(rendered.text)
        keys = rendered.component_keys
        if not ledger.claim(self.conn, self.run.id, email, message_id, keys, size, worker=self.batching.worker):
            self.summary.skipped += 1  # another sender took this batch over meanwhile
            return None
        self.in_flight[message_id] = (email, keys)
        return message

    def record(self, result: SendResult) -> None:
        email, keys = self.in_flight.pop(result.message_id)
        ledger.mark(self.conn, self.run.id, email, result, keys)
        if result.status == "sent":
            self.summary.sent += 1
        else:
            setattr(self.summary, result.status, getattr(self.summary, result.status) + 1)
            self.summary.failures.append(f"{email}: {result.error}")
        if self.on_result:
            self.on_result(result)

    async def heartbeat(self) -> None:
        """Renew the lease while this sender lives; a dead one's batch is taken over."""
        while True:
            await asyncio.sleep(self.batching.lease / 3)
            try:
                ledger.renew_lease(self.engine, self.run.id, self.batching.worker, lease=self.batching.lease)
            except StoreError as exc:  # the next beat may get through; a missed lease only means a takeover
                log.warning("could not renew the batch lease: %s", exc)

    def wait_for_others(self) -> None:
        """Take over at once a batch whose sender is gone from this machine; say what else we wait for."""
        holders = runs.lease_holders(self.engine, self.run.id, besides=self.batching.worker)
        gone = [holder for holder in holders if process_gone(holder.worker)]
        for holder in gone:  # its rows are taken over by the next claim; its in-flight ones become unknown
            ledger.expire_lease(self.engine, self.run.id, holder.worker)
            self.say(f"sender {holder.worker} is no longer running: taking over its "
                     f"{counted(holder.count, 'digest')} now (any it was sending when it stopped are of unknown fate)")
        alive = [holder for holder in holders if holder not in gone]
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()
        if time.monotonic() - self.waiting_since < self.batching.notice:
            return
        workers = frozenset(holder.worker for holder in alive)
        if alive and workers != self.waiting_for:
            self.say(describe_wait(alive, datetime.now(UTC)))
        self.waiting_for = workers

    def say(self, text: str) -> None:
        log.info("run %s: %s", self.run.id, text)
        if self.on_wait:
            self.on_wait(text)

    def stop(self) -> None:
        """Give back what was claimed but not sent, then close the run if it is complete.

        Aborted: the messages still in flight may or may not have gone: `unknown`.
        """
        try:
            if self.aborted:
                self.summary.interrupted = True
                ledger.abandon(self.engine, self.run.id, {email: message_id for message_id, (email, _)
                                                          in self.in_flight.items()})  # fmt: skip
            ledger.release(self.engine, self.run.id, self.batching.worker)
            self.summary.unknown = ledger.run_summary(self.engine, self.run.id)[ledger.UNKNOWN]
            self.summary.finished = ledger.finish_run(self.engine, self.run.id, datetime.now(UTC))
        except StoreError as exc:  # the lease runs out instead; another sender closes the run
            log.error("could not close this sender's part of run %s: %s", self.run.id, exc)


def describe_wait(holders: Sequence[runs.Holder], now: datetime) -> str:
    """What a sender waits for: "waiting for 12 digests held by sender h:41:ab12 until 07:02:21 UTC (52 s) …"."""
    parts = []
    for holder in holders:
        until = holder.lease_until
        when = f"until {until:%H:%M:%S} UTC ({max(0, round((until - now).total_seconds()))} s)" if until else ""
        parts.append(f"{counted(holder.count, 'digest')} held by sender {holder.worker} {when}".rstrip())
    return ("waiting for " + "; ".join(parts) + ": another sender still at work, or one that stopped "
            "(then its digests are taken over when its lease runs out; those it was sending become "
            "of unknown fate)")


def process_gone(worker: str) -> bool:
    """True when `worker` (host:pid:tag) ran on this machine and its process no longer exists."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's sender: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, but belongs to someone else (or is a reused pid): wait for the lease
        return False
    return False
