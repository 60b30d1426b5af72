"""Is the Bot API answering? The worker asks before each alert pass and bot poll.

While it does not answer, the worker goes on fetching; alerts stay queued (no attempt
is spent on them) and the API is asked again after a back-off (5 s doubling to 5 min).
What is seen is recorded in the store (store/bot_api.py) for `status`, and logged
once when the API goes down and once when it comes back, not at every try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from bhrdigest.errors import TransientDeliveryError
from bhrdigest.store import bot_api as store
from bhrdigest.telegram.client import TelegramSender

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


class BotApiLink:
    """The worker's view of the Bot API: up, or down with the time of the next try."""

    def __init__(
        self,
        engine: sa.Engine,
        sender: TelegramSender,
        clock: Callable[[], datetime],
        *,
        commands: Sequence[tuple[str, str]] = (),
        backoff: float = 5.0,
    ):
        self.sender = sender
        self._engine, self._clock = engine, clock
        self._commands = commands
        self._backoff = backoff
        self._failures = 0
        self._next_try = 0.0  # time.monotonic()
        self._known = False  # has it answered in this process yet (commands set up)?

    @property
    def up(self) -> bool:
        return self._known and self._failures == 0

    def wait(self) -> float:
        """Seconds until the next try while down (0 when up)."""
        return 0.0 if self.up else max(0.0, self._next_try - time.monotonic())

    async def ready(self) -> bool:
        """True when the API answers, asking it (getMe) if it was down and a try is due."""
        if self.up:
            return True
        if time.monotonic() < self._next_try:
            return False
        try:
            await self.sender.ping()
        except TransientDeliveryError as exc:  # down, or a 429 / 409 on getMe: not usable now either
            self.failed(exc)
            return False
        if not self._known:
            await self._set_up_commands()
            store.record_username(self._engine, self.sender.username or "")
        self._recovered()
        return True

    async def _set_up_commands(self) -> None:
        if not self._commands:
            return
        try:
            await self.sender.prepare_polling(self._commands)
        except TransientDeliveryError as exc:
            log.warning("could not set up the bot's commands (will poll anyway): %s", exc)

    def failed(self, exc: TransientDeliveryError) -> None:
        """The API did not answer: record it and wait before asking again."""
        self._failures += 1
        delay = min(self._backoff * 2 ** min(self._failures - 1, 10), MAX_BACKOFF)
        self._next_try = time.monotonic() + delay
        record = store.record_down(self._engine, self._clock(), str(exc))
        if self._failures == 1:
            log.warning("the Telegram Bot API does not answer (%s): fetching goes on, alerts wait; "
                        "asking again with back-off", exc)
        else:
            log.debug("Bot API still down since %s (try %d, next in %.0f s): %s",
                      record.down_since, self._failures, delay, exc)

    def _recovered(self) -> None:
        before = store.health(self._engine)
        if before is not None and before.down_since is not None:
            minutes = (self._clock() - before.down_since).total_seconds() / 60
            log.warning("the Telegram Bot API answers again after %.1f min down: alerts resume", minutes)
        if not self._known or self._failures or before is None or before.down_since is not None:
            store.record_up(self._engine, self._clock())
        self._known, self._failures = True, 0
