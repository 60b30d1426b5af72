"""Streaming messages through a sender, and what became of each one.

    SendResult     one message's fate: "sent", "failed" (try again) or "gone" (never again)
    MessageSender  what delivers one message: the SMTP pool (smtp.py) or the outbox folder
    send_many      pulls messages one at a time, a bounded number in flight; stops on a
                   signal or when the sender goes down
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from bhrdigest.errors import TransientDeliveryError


@dataclass(frozen=True)
class SendResult:
    """What became of one message: "sent", "failed" (transient: try again) or "gone" (permanent)."""

    message_id: str
    status: str
    error: str | None
    attempts: int


class MessageSender(Protocol):
    """SmtpSender, or anything else that delivers one message (the outbox folder)."""

    async def send(self, message: EmailMessage) -> SendResult: ...


async def send_many(
    sender: MessageSender,
    messages: AsyncIterable[EmailMessage] | Iterable[EmailMessage],
    *,
    concurrency: int,
    on_result: Callable[[SendResult], Awaitable[None] | None],
    stop: asyncio.Event | None = None,
) -> None:
    """Send every message, at most `concurrency` in flight; `on_result` sees each result once.

    Messages are pulled one at a time, so a generator that claims a ledger row per message
    claims only what is about to be sent. When the relay goes down, pulling stops, the
    messages in flight are reported, and TransientDeliveryError says to run again.

    Setting `stop` (on SIGTERM or Ctrl-C, say) also stops the pulling: the messages in
    flight finish and are reported, then send_many returns. Cancelling the caller stops
    the pulling too, even where a library swallowed the cancellation (see `_stopping`).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")

    def down() -> str | None:  # only an SmtpSender goes down
        return getattr(sender, "down", None)

    source = _as_async_iterator(messages)
    pull_lock = asyncio.Lock()
    done = object()

    async def next_message() -> object:
        async with pull_lock:  # an async generator cannot be advanced by two tasks at once
            if down() or _stopping(stop):
                return done
            return await anext(source, done)

    async def worker() -> None:
        while (message := await next_message()) is not done:
            outcome = on_result(await sender.send(message))  # type: ignore[arg-type]
            if inspect.isawaitable(outcome):
                await outcome

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        # Callers catch our errors, not exception groups; the error keeps its own cause.
        raise failed.exceptions[0]  # noqa: B904
    finally:
        await source.aclose()  # closes the caller's generator when we stopped early
    if down():
        raise TransientDeliveryError(
            f"delivery stopped: {down()}; messages not yet sent are untouched: run again to continue"
        )


def _stopping(stop: asyncio.Event | None) -> bool:
    """Asked to stop: by the caller's event, or by a cancellation of this task.

    A cancelled task normally never gets here, but Python 3.11's asyncio.wait_for (inside
    aiosmtplib's reads) returns the reply and drops the CancelledError when the reply and
    the cancellation arrive together. The task then carries on, and without this check
    Ctrl-C would go on to send every remaining digest before stopping.
    """
    if stop is not None and stop.is_set():
        return True
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _as_async_iterator(
    messages: AsyncIterable[EmailMessage] | Iterable[EmailMessage],
) -> AsyncGenerator[EmailMessage, None]:
    if isinstance(messages, AsyncIterable):
        async for message in messages:
            yield message
    else:
        for message in messages:
            yield message
