"""The long-running worker: fetch every N minutes, deliver alerts, answer the bot.

Alerts go through telegram/deliver.py, a pass at a time; the bot's commands through
telegram/bot.py.

Several workers may run against one PostgreSQL database: each fetches and sends alerts
(an alert's claim is all-or-nothing, so no two send it), and the one holding the bot
poller lock (store/locks.py) is the only one that long-polls Telegram. When it stops or
dies, another takes the lock on its next pass. On SQLite, run one worker.

The worker outlives the Bot API: while it does not answer (telegram/health.py), fetching
goes on, alerts wait in the queue, and `status` shows since when the API is down.

With a bounce mailbox (BOUNCE_MAILBOX_URL), each interval also reads it (`bhrdigest
bounces`, ops/bounces.py); a mailbox that fails is logged and read again next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import sqlalchemy as sa

from bhrdigest.errors import (
    ConfigError,
    DeliveryError,
)
from bhrdigest.model import Catalogue, Subscriber
from bhrdigest.ops.bounces import BounceRunSummary
from bhrdigest.store import alert_queue as store
from bhrdigest.store.locks import BOT_POLLER, HeldLock
from bhrdigest.telegram.bot import COMMANDS, CompanyDirectory, poll_bot_once
from bhrdigest.telegram.client import BotApiDownError, TelegramSender
from bhrdigest.telegram.deliver import AlertRunSummary, run_alerts_once, utcnow
from bhrdigest.telegram.health import BotApiLink
from bhrdigest.telegram.linking import ChatLinker

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FetchOnce = Callable[[], Awaitable[Sequence[str]]]  # stores what it fetched; the new keys
CheckBounces = Callable[[], BounceRunSummary]  # blocking (IMAP): run in a thread
SignupChores = Callable[[], Awaitable[object]]  # expire sign-ups, send the sign-up emails left over
_T = TypeVar("_T")


async def run_worker(
    *,
    fetch_once: FetchOnce,
    engine: sa.Engine,
    sender: TelegramSender | None,
    catalogue: Catalogue | None = None,
    companies: CompanyDirectory | None = None,
    interval: float = 600.0,
    stop_event: asyncio.Event | None = None,
    subscribers: Sequence[Subscriber] | None = None,
    poll_timeout: float = 10.0,
    lease: float = 60.0,
    clock: Clock = utcnow,
    api_backoff: float = 5.0,
    check_bounces: CheckBounces | None = None,
    signup_chores: SignupChores | None = None,
    links: ChatLinker | None = None,
) -> None:
    """Fetch every `interval` seconds, queue and deliver alerts, answer the bot.

    `fetch_once` stores what it fetched and returns the newly stored keys; this loop
    queues their alerts (queueing is idempotent, so the fetch may queue them too).
    Returns when `stop_event` is set — by SIGTERM or SIGINT when none is given —
    after the messages in flight, within a few seconds. `sender` need not be started:
    the worker starts it when the Bot API first answers (`api_backoff`: the first wait
    before asking again while it does not). `check_bounces`, when given, reads the bounce
    mailbox after each fetch; `signup_chores`, when given, runs after each fetch too.
    `links`: what the bot needs to link a chat to a subscription
    (None without BHRDIGEST_SECRET: a subscription link is then answered that linking is not set up).
    """
    own_signals = stop_event is None
    stop = stop_event or asyncio.Event()
    if own_signals:
        _install_signals(stop)
    life = _Life(started=time.monotonic(), bounces=None if check_bounces is None else BounceRunSummary())
    try:
        companies = companies or _company_index(catalogue)
        _prepare(engine, sender, subscribers, interval, clock)
        link = None if sender is None else BotApiLink(engine, sender, clock, commands=COMMANDS, backoff=api_backoff)
        setup = _Setup(
            fetch_once=fetch_once,
            engine=engine,
            link=link,
            companies=companies,
            interval=interval,
            stop=stop,
            poll_timeout=poll_timeout,
            lease=lease,
            clock=clock,
            check_bounces=check_bounces,
            signup_chores=signup_chores,
            links=links,
        )
        await _loop(setup, life)
    finally:
        if own_signals:
            _remove_signals()
        log.info("worker stopped %s", life.line())


@dataclass(frozen=True, slots=True)
class _Setup:
    """What the loop works with, fixed for the worker's life (see run_worker)."""

    fetch_once: FetchOnce
    engine: sa.Engine
    link: BotApiLink | None  # None: no token, fetching only
    companies: CompanyDirectory
    interval: float
    stop: asyncio.Event
    poll_timeout: float
    lease: float
    clock: Clock
    check_bounces: CheckBounces | None  # None: no bounce mailbox to read
    signup_chores: SignupChores | None = None
    links: ChatLinker | None = None  # None: no secret to check subscription links with


@dataclass(slots=True)
class _Life:
    """What a worker did, for the one summary line it ends with."""

    started: float
    fetches: int = 0
    new: int = 0
    alerts: AlertRunSummary = field(default_factory=AlertRunSummary)
    bounces: BounceRunSummary | None = None  # None: no bounce mailbox configured
    mailbox_failures: int = 0

    def line(self) -> str:
        minutes = (time.monotonic() - self.started) / 60
        line = f"after {minutes:.1f} min: fetches={self.fetches} new={self.new} {self.alerts.line()}"
        if self.bounces is not None:
            b = self.bounces
            line += (f"; bounces hard={b.kinds['hard']} soft={b.kinds['soft']} complaints={b.kinds['complaint']} "
                     f"unknown={b.kinds['unknown']} suppressed={b.suppressed} mailbox_failures={self.mailbox_failures}")
        return line


def _prepare(
    engine: sa.Engine,
    sender: TelegramSender | None,
    subscribers: Sequence[Subscriber] | None,
    interval: float,
    clock: Clock,
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


async def _loop(setup: _Setup, life: _Life) -> None:
    engine, link, stop, clock = setup.engine, setup.link, setup.stop, setup.clock
    # Telegram lets one client long-poll a bot (a second gets 409 Conflict): with several
    # workers, the one holding this lock answers the bot; all of them fetch and alert.
    poller = HeldLock(engine, BOT_POLLER, name="Telegram bot poller")
    next_fetch = time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() >= next_fetch:
                next_fetch = time.monotonic() + setup.interval
                life.fetches += 1
                life.new += await _fetch(setup.fetch_once, engine, stop, clock)
                if setup.check_bounces is not None:
                    await _read_bounces(setup.check_bounces, life)
                if setup.signup_chores is not None:
                    await setup.signup_chores()
            if link is None or not await link.ready():  # no token, or the Bot API does not answer
                wait = next_fetch - time.monotonic()
                await _until(stop, max(0.0, wait if link is None else min(wait, link.wait())))
                continue
            started = time.monotonic()
            # One read of alerts a pass (~200 messages, ~7 s): the bot is answered between passes.
            summary = await run_alerts_once(
                engine, link.sender, now=clock(), stop_event=stop, lease=setup.lease, max_reads=1
            )
            life.alerts += summary
            if summary.messages or summary.retried or summary.failed or summary.gone:
                log.info(summary.line(time.monotonic() - started))
            timeout = _poll_timeout(engine, next_fetch, setup.poll_timeout, clock)
            await _poll(setup, link, timeout, poller)
    finally:
        poller.release()


async def _fetch(fetch_once: FetchOnce, engine: sa.Engine, stop: asyncio.Event, clock: Clock) -> int:
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


async def _read_bounces(check_bounces: CheckBounces, life: _Life) -> None:
    """Read the bounce mailbox once; a mailbox that fails is tried again next interval."""
    try:
        summary = await asyncio.to_thread(check_bounces)
    except sa.exc.SQLAlchemyError:
        raise  # the database, not the mailbox: as for a fetch
    except Exception as exc:  # noqa: BLE001 - a mailbox down, a refused login: the worker goes on
        life.mailbox_failures += 1
        log.warning("bounce mailbox failed, trying again next interval: %s", exc)
        return
    if life.bounces is not None:
        life.bounces.add(summary)


def _poll_timeout(engine: sa.Engine, next_fetch: float, poll_timeout: float, clock: Clock) -> float:
    timeout = min(poll_timeout, next_fetch - time.monotonic())
    due = store.next_due(engine)
    if due is not None:
        timeout = min(timeout, (due - clock()).total_seconds())
    return max(0.0, timeout)


async def _poll(setup: _Setup, link: BotApiLink, timeout: float, poller: HeldLock) -> None:
    engine, stop, clock = setup.engine, setup.stop, setup.clock
    if not poller.acquire():
        await _until(stop, timeout)  # another worker answers the bot; this one fetches and alerts
        return
    try:
        await _unless_stopped(poll_bot_once(engine, link.sender, setup.companies, timeout=timeout, clock=clock,
                                            links=setup.links), stop)
    except BotApiDownError as exc:
        link.failed(exc)  # the loop waits for it to answer again, fetching meanwhile
    except DeliveryError as exc:
        log.warning("bot polling failed, trying again shortly: %s", exc)
        await _until(stop, 5.0)


async def _unless_stopped(awaitable: Awaitable[_T], stop: asyncio.Event) -> _T | None:
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
