"""What one alert delivery pass holds: the chats in hand, and the messages in flight.

Telegram takes ~28 messages a second from a bot but one a second per chat, so a pass
keeps the global rate only while some chat can take a message at every slot: about
28 chats rotating. `ChatsInHand` keeps enough of them, reading more from the store in
a thread while messages go, so that a pass never idles at the end of a read with its
last chats waiting out their second. `Flights` lets several messages travel at once
(as many as the round trip needs), each having left at its own slot, so that the time
Telegram takes to answer does not push back the next slot.

worker.py runs the pass; nothing here talks to Telegram or knows about messages.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, Protocol, TypeVar


class _Chat(Protocol):
    chat_id: int


Job = TypeVar("Job", bound=_Chat)

# What a read returns: the chats' jobs, and whether the read was full (more may be due).
Read = Callable[[frozenset[int]], tuple[list[Job], bool]]


class ChatsInHand(Generic[Job]):
    """Chats with messages to send, soonest sendable first, topped up from the store.

    `read(exclude)` loads due jobs for chats not in `exclude` (it runs in a thread);
    `ready_at(chat_id)` says when a chat may next be sent to (time.monotonic). A read
    starts when fewer than `low` chats are in hand, until the store has no more due or
    `max_reads` reads were made; the pass is `cut` when reads are spent but the store may
    have more due.
    """

    def __init__(self, read: Read, ready_at: Callable[[int], float], *, low: int, max_reads: int | None = None):
        self._read = read
        self._ready_at = ready_at
        self._low = low
        self._reads_left = max_reads
        self._queue: list[tuple[float, int, Job]] = []  # (when it may go, tie-break, job)
        self._order = itertools.count()
        self._held: set[int] = set()  # chats in hand: queued or in flight
        self._skip: set[int] = set()  # chats this pass must not read again
        self._partial: set[int] = set()  # chats a full read may have cut short
        self._unread = False  # such a chat left the hand since the last read began
        self._reading: asyncio.Task[None] | None = None
        self._more = True  # the store may have more due
        self.chats_read: set[int] = set()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def reading(self) -> asyncio.Task[None] | None:
        return self._reading

    @property
    def cut(self) -> bool:
        """No more reads although the store may have more due: leave the rest for later."""
        return self._more and self._reads_left == 0

    def top_up(self) -> None:
        """Start a read if few chats are in hand and the store may have more."""
        if self._reading is not None:
            if not self._reading.done():
                return
            reading, self._reading = self._reading, None
            reading.result()  # a store error ends the pass
        if self._more and self._reads_left != 0 and len(self._held) < self._low:
            if self._reads_left is not None:
                self._reads_left -= 1
            self._reading = asyncio.create_task(self._read_more(frozenset(self._held | self._skip)))

    async def _read_more(self, exclude: frozenset[int]) -> None:
        self._unread = False
        jobs, full = await asyncio.to_thread(self._read, exclude)
        self._more = full or self._unread
        if full and jobs:
            self._partial.add(jobs[-1].chat_id)  # the limit may have fallen inside its burst
        for job in jobs:
            self._held.add(job.chat_id)
            self.chats_read.add(job.chat_id)
            self.put(job)

    def put(self, job: Job) -> None:
        """Queue a chat in hand behind those that may go sooner."""
        # A chat's time only moves when it is sent to, and then it is out of the queue.
        heapq.heappush(self._queue, (self._ready_at(job.chat_id), next(self._order), job))

    def peek(self) -> Job | None:
        return self._queue[0][2] if self._queue else None

    def take(self) -> Job:
        """The soonest chat, out of the queue but still in hand (its message is going)."""
        return heapq.heappop(self._queue)[2]

    def drop(self, job: Job, *, skip: bool = False) -> None:
        """The chat is done for this pass; `skip`: do not read it again in this pass."""
        self._held.discard(job.chat_id)
        if skip:
            self._skip.add(job.chat_id)
        if job.chat_id in self._partial:
            self._partial.discard(job.chat_id)
            self._more = self._unread = True  # the rest of its alerts: kept from reads while in hand

    def queued(self) -> list[Job]:
        return [job for _, _, job in self._queue]

    async def close(self) -> None:
        """Let a read still running finish (a thread cannot be stopped); drop what it read."""
        if self._reading is not None:
            await asyncio.wait({self._reading})
            if not self._reading.cancelled():
                self._reading.exception()  # retrieved: the pass is ending anyway
            self._reading = None


class Flights:
    """Messages on their way; each records its own outcome.

    As many travel at once as the round trip needs at the pacing's `spacing`, plus one,
    and never more than `most`. More would not send faster: they would only pile up
    behind a stall (Telegram's or the network's) and then arrive together. Held to
    this, a stall longer than the pipeline pushes the next slots back instead, and the
    arrivals stay as evenly spaced as the Pacer's reasoning needs.
    """

    def __init__(self, most: int, spacing: float):
        self.most = max(1, most)
        self.spacing = spacing
        self.tasks: set[asyncio.Task[None]] = set()
        self._trips: deque[float] = deque(maxlen=16)  # the last flights' durations
        self._failure: BaseException | None = None

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def limit(self) -> int:
        if self.spacing <= 0:
            return self.most
        trip = max(self._trips, default=self.spacing)
        return min(self.most, 1 + math.ceil(trip / self.spacing))

    def start(self, flight: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(flight)
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._landed, started=time.monotonic()))

    def _landed(self, task: asyncio.Task[None], *, started: float) -> None:
        self.tasks.discard(task)
        self._trips.append(time.monotonic() - started)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def raise_failure(self) -> None:
        """A flight that failed unexpectedly (a store error, a revoked token) ends the pass."""
        if self._failure is not None:
            raise self._failure

    async def room(self) -> None:
        while len(self.tasks) >= self.limit:
            await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)

    async def land(self) -> None:
        """Wait until every message in flight has landed and been recorded."""
        if self.tasks:
            await asyncio.wait(set(self.tasks))


async def until_news(hand: ChatsInHand, flights: Flights, timeout: float | None) -> None:
    """Sleep until a read or a flight ends, or `timeout` passes."""
    pending = set(flights.tasks)
    if hand.reading is not None:
        pending.add(hand.reading)
    if pending:
        await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    elif timeout is not None:
        await asyncio.sleep(timeout)
