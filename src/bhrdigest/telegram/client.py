"""Talking to the Telegram Bot API with python-telegram-bot: the only module that does.

`TelegramSender` paces every message it sends (alerts and bot replies alike) to stay
inside Telegram's limits, and translates PTB's exceptions into ours:

    RetryAfter (429)          -> TransientDeliveryError(retry_after=seconds)
    TimedOut, NetworkError    -> BotApiDownError, a TransientDeliveryError (fate unknown:
                                 sent again later; the worker waits for the API to answer)
    Forbidden (403), chat not found, ChatMigrated
                              -> ChatGoneError           (stop sending to this chat)
    BadRequest (400)          -> MessageRejectedError    (this message only)
    InvalidToken (401/404)    -> ConfigError             (stop: check TELEGRAM_BOT_TOKEN)

The token travels in every request URL, so it is kept out of our repr, registered with
redact.py (which the logging handler applies to every record) and redacted from the
errors we raise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import telegram
from telegram import error as tg_error
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bhrdigest.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from bhrdigest.logs import RedactSecrets
from bhrdigest.redact import redact_text, register_secret

log = logging.getLogger(__name__)

PUBLIC_API_URL = "https://api.telegram.org"
_LOGGERS_WITH_URLS = ("httpx", "telegram.Bot", "telegram.request.BaseRequest", "telegram.request.HTTPXRequest")
MAX_ERROR = 300  # characters of the server's words kept in our errors


class ChatGoneError(PermanentDeliveryError):
    """The chat blocked the bot, left, or no longer exists: stop sending to it."""

    def __init__(self, chat_id: int, message: str):
        super().__init__(f"chat {chat_id}: {message}")
        self.chat_id = chat_id


class BotApiDownError(TransientDeliveryError):
    """The Bot API did not answer (refused, timed out, an error page): nothing is wrong with the message."""


class MessageRejectedError(PermanentDeliveryError):
    """Telegram refused this message (400): sending it again would fail again."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """Telegram's limits, with a margin (https://core.telegram.org/bots/faq)."""

    # Seconds between two messages to one chat. Telegram allows one a second; exactly 1.0
    # drew 429s (benchmarks/): a message that travels 30 ms slower than the next one
    # arrives less than a second before it.
    per_chat_interval: float = 1.1
    # Telegram allows about 30. Each message leaves at its own evenly spaced slot, however
    # many are in flight, so arrivals are as even as travel times are alike. At 28, 31
    # slots span 1.07 s: 31 arrive within one second only if the last of them travels
    # ~70 ms faster than the first.
    global_per_second: float = 28.0
    group_per_minute: int = 20  # for groups (negative chat ids)
    group_window: float = 60.0


class Pacer:
    """When each chat may next be sent to; a send reserves its slot, sleeps until it, goes.

    The global limit is kept as an even spacing (1/rate between any two slots), which
    never bursts past the per-second limit whatever the window alignment. A slot is
    reserved only just before its sleep: one reserved long ahead could come due while
    the process is busy and leave together with the next ones.
    """

    def __init__(self, pacing: Pacing = Pacing(), clock: Callable[[], float] = time.monotonic):
        self.pacing = pacing
        self._clock = clock
        self._global_next = 0.0
        self._chat_next: dict[int, float] = {}
        self._group_sends: dict[int, deque[float]] = {}

    def delay(self, chat_id: int) -> float:
        """Seconds to wait before a message to `chat_id` may go."""
        now = self._clock()
        return max(0.0, self._earliest(chat_id, now) - now)

    @property
    def spacing(self) -> float:
        """Seconds between two slots: a wait longer than this is the chat's own."""
        rate = self.pacing.global_per_second
        return 1.0 / rate if rate > 0 else 0.0

    def reserve(self, chat_id: int) -> float:
        """Take the next slot for `chat_id`; returns how long to sleep until it."""
        now = self._clock()
        slot = self._earliest(chat_id, now)
        self._global_next = slot + self.spacing
        self._chat_next[chat_id] = slot + self.pacing.per_chat_interval
        if chat_id < 0 and self.pacing.group_per_minute > 0:
            sends = self._group_sends.setdefault(chat_id, deque(maxlen=self.pacing.group_per_minute))
            sends.append(slot)
        self._forget_before(now)
        return max(0.0, slot - now)

    def _earliest(self, chat_id: int, now: float) -> float:
        slot = max(now, self._global_next, self._chat_next.get(chat_id, 0.0))
        sends = self._group_sends.get(chat_id)
        if sends is not None and len(sends) == sends.maxlen:
            slot = max(slot, sends[0] + self.pacing.group_window)
        return slot

    def _forget_before(self, now: float) -> None:
        # Keep memory bounded by the chats seen in the last minute, not all chats ever.
        if len(self._chat_next) > 10_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        if len(self._group_sends) > 1_000:
            window = self.pacing.group_window
            self._group_sends = {c: d for c, d in self._group_sends.items() if d and d[-1] + window > now}


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A text message to the bot, as far as the bot's commands need it."""

    update_id: int
    chat_id: int | None  # None for an update that is not a message
    chat_type: str  # private | group | supergroup | channel
    text: str | None  # None for a photo, a sticker, a member joining…
    user_id: int | None = None  # who wrote it
    sender_chat_id: int | None = None  # set when written on behalf of a chat (an anonymous group admin)
    language_code: str | None = None  # the sender's Telegram language ("es", "pt-br"), when given


ADMIN_CACHE_SECONDS = 60.0  # a demoted administrator keeps their rights this long at most
_ADMIN_STATUSES = ("creator", "administrator")

# Connections to the Bot API, and so messages that may be in flight at once: enough for
# 28 a second when each takes up to ~250 ms to be answered.
CONNECTIONS = 8


class TelegramSender:
    """A paced Bot API client: `async with TelegramSender(token) as sender: …`."""

    def __init__(
        self,
        token: str,
        api_url: str | None = None,
        *,
        pacing: Pacing = Pacing(),
        timeout: float = 10.0,
    ):
        if not token or not token.strip():
            raise ConfigError("TELEGRAM_BOT_TOKEN is empty: set it to the token @BotFather gave the bot")
        # Opt in to PTB's coming behaviour (durations as timedelta), which we handle
        # already; otherwise every 429 emits a deprecation warning inside PTB.
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        api_url = (api_url or PUBLIC_API_URL).rstrip("/")
        self.api_url = api_url
        self.pacer = Pacer(pacing)
        self.max_in_flight = CONNECTIONS
        self.username: str | None = None
        self._admins: dict[tuple[int, int], tuple[bool, float]] = {}  # (chat, user) -> (admin?, until)
        register_secret(token.strip())  # error pages and httpx's log lines quote the request URL
        _redact_library_logs()
        # PTB appends the token: {api_url}/bot<token>/sendMessage, {api_url}/file/bot<token>/…
        self._bot = telegram.Bot(
            token.strip(),
            base_url=f"{api_url}/bot",
            base_file_url=f"{api_url}/file/bot",
            request=HTTPXRequest(connection_pool_size=CONNECTIONS, read_timeout=timeout, connect_timeout=timeout),
            get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=timeout, connect_timeout=timeout),
        )

    def __repr__(self) -> str:
        return f"TelegramSender(api_url={self.api_url!r}, username={self.username!r})"

    async def __aenter__(self) -> TelegramSender:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> str:
        """Check the token (getMe); returns the bot's @username."""
        try:
            await self._bot.initialize()
        except tg_error.InvalidToken:
            # PTB's message carries the token itself: do not chain it.
            raise ConfigError(
                f"the Bot API at {self.api_url} rejected TELEGRAM_BOT_TOKEN: "
                "check the token with @BotFather (and TELEGRAM_API_URL if set)"
            ) from None
        except tg_error.TelegramError as exc:
            said = redact_text(str(exc))[:MAX_ERROR]
            raise BotApiDownError(f"cannot reach the Bot API at {self.api_url}: {said}") from exc
        self.username = self._bot.username
        return self.username or ""

    async def ping(self) -> None:
        """Ask the Bot API whether it answers (getMe); starts the client the first time."""
        if self.username is None:
            await self.start()
            return
        try:
            await self._bot.get_me()
        except tg_error.TelegramError as exc:
            raise translate_error(exc, None) from exc

    async def close(self) -> None:
        await self._bot.shutdown()

    def delay(self, chat_id: int) -> float:
        """Seconds before a message to `chat_id` may go (to reschedule long waits)."""
        return self.pacer.delay(chat_id)

    async def wait_turn(self, chat_id: int) -> None:
        """Reserve the next slot for a message to `chat_id` and sleep until it.

        Send the message right after (`send_message(…, paced=False)`), in a task of its
        own if others may go while it travels.
        """
        await asyncio.sleep(self.pacer.reserve(chat_id))

    async def send_message(self, chat_id: int, text: str, *, disable_preview: bool = False, paced: bool = True) -> int:
        """Send one HTML-parse-mode message; returns Telegram's message id.

        Paced, unless the caller took the message's turn already (`wait_turn`).
        """
        if paced:
            await self.wait_turn(chat_id)
        preview = telegram.LinkPreviewOptions(is_disabled=True) if disable_preview else None
        try:
            message = await self._bot.send_message(
                chat_id, text, parse_mode=telegram.constants.ParseMode.HTML, link_preview_options=preview
            )
        except tg_error.TelegramError as exc:
            raise translate_error(exc, chat_id) from exc
        return message.message_id

    async def get_updates(self, offset: int | None, timeout: float) -> list[IncomingMessage]:
        """Long-poll for updates; those that are not text messages come with `text` None."""
        try:
            updates = await self._bot.get_updates(offset=offset, timeout=int(timeout), allowed_updates=["message"])
        except tg_error.TelegramError as exc:
            raise translate_error(exc, None) from exc
        return [_incoming(u) for u in updates]

    async def is_chat_admin(self, chat_id: int, user_id: int) -> bool:
        """Whether the user administers the group (getChatMember), asked at most once a minute."""
        now = time.monotonic()
        cached = self._admins.get((chat_id, user_id))
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except tg_error.TelegramError as exc:
            raise translate_error(exc, chat_id) from exc
        if len(self._admins) > 10_000:  # bounded: only the last minute's askers matter
            self._admins = {key: value for key, value in self._admins.items() if value[1] > now}
        admin = member.status in _ADMIN_STATUSES
        self._admins[(chat_id, user_id)] = (admin, now + ADMIN_CACHE_SECONDS)
        return admin

    async def prepare_polling(self, commands: Sequence[tuple[str, str]]) -> None:
        """Drop a webhook (getUpdates answers 409 while one is set) and list our commands."""
        try:
            await self._bot.delete_webhook(drop_pending_updates=False)
            await self._bot.set_my_commands([telegram.BotCommand(c, d) for c, d in commands])
        except tg_error.TelegramError as exc:
            raise translate_error(exc, None) from exc


def _redact_library_logs() -> None:
    """Mask the token in the records of the loggers that print request URLs, at the
    source: whatever handler gets them (the CLI's also masks everything, logs.py)."""
    for name in _LOGGERS_WITH_URLS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def _incoming(update: telegram.Update) -> IncomingMessage:
    message = update.message
    if message is None:
        return IncomingMessage(update.update_id, None, "", None)
    user = message.from_user.id if message.from_user else None
    on_behalf = message.sender_chat.id if message.sender_chat else None
    language = message.from_user.language_code if message.from_user else None
    return IncomingMessage(update.update_id, message.chat.id, message.chat.type, message.text, user, on_behalf,
                           language)


def retry_after_seconds(exc: tg_error.RetryAfter) -> float:
    """RetryAfter.retry_after is an int or a timedelta, depending on PTB_TIMEDELTA."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def translate_error(exc: tg_error.TelegramError, chat_id: int | None) -> Exception:
    """Our error for one of PTB's, saying what the operator or the caller does next.

    PTB's message may quote the server's answer, and an error page may quote the
    request URL with the token in it: what we pass on is redacted.
    """
    said = redact_text(exc.message)[:MAX_ERROR]  # an error page can be long
    where = f"chat {chat_id}" if chat_id is not None else "the Bot API"
    if isinstance(exc, tg_error.RetryAfter):
        seconds = retry_after_seconds(exc)
        return TransientDeliveryError(f"{where}: Telegram flood control, retry in {seconds:g} s", retry_after=seconds)
    if isinstance(exc, tg_error.InvalidToken):
        return ConfigError("the Bot API rejected TELEGRAM_BOT_TOKEN: check the token with @BotFather")
    if isinstance(exc, tg_error.ChatMigrated) and chat_id is not None:
        return ChatGoneError(chat_id, f"the group became supergroup {exc.new_chat_id}; update its chat id")
    if isinstance(exc, tg_error.Forbidden) and chat_id is not None:
        return ChatGoneError(chat_id, f"{said} (the bot was blocked, removed or the user is gone)")
    if isinstance(exc, tg_error.BadRequest):
        if chat_id is not None and "chat not found" in said.lower():
            return ChatGoneError(chat_id, said)
        return MessageRejectedError(f"{where}: Telegram refused the message: {said}")
    if isinstance(exc, tg_error.Conflict):
        return TransientDeliveryError(
            f"{where}: another process is polling this bot ({said}); run one worker per bot token"
        )
    if isinstance(exc, tg_error.NetworkError):  # TimedOut too
        return BotApiDownError(f"{where}: {said or type(exc).__name__}")
    return TransientDeliveryError(f"{where}: {said or type(exc).__name__}")
