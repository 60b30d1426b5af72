"""Delivering email over SMTP: a pool of reused connections, rate limits, retries.

The only module that speaks SMTP. Beside it in mail/: target.py (SMTP_URL), smtp_errors.py
(aiosmtplib's exceptions in our words), sending.py (send_many, SendResult) and
aiosmtplib_fastpath.py (installed by the sender when it starts).

    SmtpSender   pooled sessions; `send()` returns a SendResult and never raises for one message

Failure kinds, and what happens next:

    4xx reply, dropped connection, timeout        retried with back-off, then "failed"
    5xx for this recipient or this message        "gone", never retried
    cannot connect, log in, or send as the From   the sender goes *down*: later sends are
        address (the same for every message)      "failed" without an attempt, send_many
                                                  stops pulling and says to run again
    a storm: `storm_after` attempts in a row      down too: a relay that defers (4xx) or
        deferred, or recipients refused, with     refuses (5xx) everyone is throttling or
        nothing accepted in between               misconfigured, not judging recipients
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import logging
import math
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from bhrdigest.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from bhrdigest.mail import aiosmtplib_fastpath
from bhrdigest.mail.sending import SendResult
from bhrdigest.mail.smtp_errors import (
    SessionFailure,
    StaleSessionError,
    is_disconnect,
    scrub,
    send_error,
    setup_error,
)
from bhrdigest.mail.target import SmtpTarget

log = logging.getLogger(__name__)


_PROBE_IDLE_AFTER = 10.0  # seconds; an idle pooled session older than this gets a NOOP first


class RateLimit:
    """At most `count` sends in any `window` seconds.

    A sliding log rather than a token bucket: a bucket lets a full burst plus its refill
    through in one window, which breaks a relay's hard per-hour cap.
    """

    def __init__(self, count: int, window: float, clock: Callable[[], float] = time.monotonic):
        if count < 1 or window <= 0:
            raise ValueError("a rate limit needs count >= 1 and window > 0")
        self.count = count
        self.window = window
        self._clock = clock
        self._stamps: deque[float] = deque()

    @classmethod
    def per_second(cls, rate: float, clock: Callable[[], float] = time.monotonic) -> RateLimit:
        window = max(1.0, 1.0 / rate)  # 0.5/s is "1 every 2 s"
        return cls(max(1, math.floor(rate * window)), window, clock)

    def delay(self) -> float:
        """Seconds to wait before the next send may go; 0 when it may go now."""
        now = self._clock()
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if len(self._stamps) < self.count:
            return 0.0
        return self._stamps[0] + self.window - now

    def record(self) -> None:
        self._stamps.append(self._clock())


@dataclass(eq=False)
class _Session:
    client: aiosmtplib.SMTP
    last_used: float


class SmtpSender:
    """Sends messages over up to `connections` reused SMTP sessions (an async context manager)."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        connections: int = 4,
        per_second: float | None = None,
        per_hour: int | None = None,
        timeout: float = 30,
        retries: int = 3,
        backoff: float = 1.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        storm_after: int = 12,
    ):
        if connections < 1:
            raise ValueError("connections must be at least 1")
        aiosmtplib_fastpath.install()  # here, not on import: only a process that sends gets it
        self.target = target
        # Without a stop, a relay deferring everything costs every recipient its full
        # retry back-off (an hour for 2,000), and one refusing everything marks them all gone.
        self._storm_after = storm_after
        self._deferred_in_a_row = 0
        self._refused_in_a_row = 0
        self._timeout = timeout
        self._retries = max(0, retries)
        self._backoff = backoff
        self._tls_context = tls_context
        self._sleep = sleep
        self._limits = [RateLimit.per_second(per_second, clock)] if per_second else []
        if per_hour:
            self._limits.append(RateLimit(per_hour, 3600.0, clock))
        self._slots = asyncio.Semaphore(connections)
        self._capacity = connections  # lowered when the relay caps concurrent sessions
        self._sessions: set[_Session] = set()  # open ones, idle or busy
        self._rate_lock = asyncio.Lock()
        self._idle: list[_Session] = []
        self._local_hostname: str | None = None
        self.down: str | None = None  # why sending stopped, once the relay is unusable

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """QUIT every pooled session (best effort: the mail is already sent)."""
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                async with asyncio.timeout(min(self._timeout, 5)):
                    await session.client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
            finally:
                self._discard(session)

    async def check(self) -> None:
        """Connect, EHLO, STARTTLS, AUTH and QUIT; raises DeliveryError saying what is wrong."""
        try:
            client = await self._open()
        except SessionFailure as exc:
            raise exc.error from exc.__cause__
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass
        finally:
            client.close()

    async def send(self, message: EmailMessage) -> SendResult:
        message_id = str(message.get("Message-ID", "")).strip()
        if self.down:
            return SendResult(message_id, "failed", f"not attempted: {self.down}", 0)
        result = await self._send_with_retries(message, message_id)
        if result.status == "sent":
            self._deferred_in_a_row = self._refused_in_a_row = 0
        elif result.status == "gone":
            self._refused_in_a_row += 1
            if 0 < self._storm_after <= self._refused_in_a_row:
                self._go_down(
                    f"smtp {self.target.address} refused {self._refused_in_a_row} recipients in a row, none "
                    f"accepted (last: {result.error}): that is the relay's configuration (relaying allowed for "
                    "this account? the From address?), not the subscribers; fix it before sending again"
                )
        return result

    async def _send_with_retries(self, message: EmailMessage, message_id: str) -> SendResult:
        attempts = 0
        while True:
            attempts += 1
            try:
                await self._send_once(message)
            except SessionFailure as exc:
                if isinstance(exc.error, TransientDeliveryError) and attempts <= self._retries and not self.down:
                    await self._sleep(self._backoff * 2 ** (attempts - 1))
                    continue
                self._go_down(str(exc.error))
                return SendResult(message_id, "failed", str(exc.error), attempts)
            except TransientDeliveryError as exc:
                if not isinstance(exc, StaleSessionError):
                    self._note_deferral(exc)
                if attempts <= self._retries and not self.down:
                    # A pooled session the server closed is no reason to wait.
                    if not isinstance(exc, StaleSessionError):
                        await self._sleep(self._backoff * 2 ** (attempts - 1))
                    if not self.down:  # the storm may have been called while we waited
                        continue
                log.warning("message %s failed after %d attempts: %s", message_id, attempts, exc)
                return SendResult(message_id, "failed", str(exc), attempts)
            except PermanentDeliveryError as exc:
                log.warning("message %s refused: %s", message_id, exc)
                return SendResult(message_id, "gone", str(exc), attempts)
            except Exception as exc:  # one recipient's bug must not stop the run
                log.exception("message %s: unexpected error", message_id)
                return SendResult(message_id, "failed", scrub(self.target, f"unexpected error: {exc!r}"), attempts)
            log.debug("message %s sent after %d attempt(s)", message_id, attempts)
            return SendResult(message_id, "sent", None, attempts)

    def _note_deferral(self, exc: TransientDeliveryError) -> None:
        """Go down after `storm_after` deferred attempts in a row with nothing accepted."""
        self._deferred_in_a_row += 1
        if 0 < self._storm_after <= self._deferred_in_a_row:
            self._go_down(
                f"smtp {self.target.address} deferred {self._deferred_in_a_row} attempts in a row, none "
                f"accepted (last: {exc}): the relay is throttling us or in trouble; run `bhrdigest send` again "
                "later, with fewer --connections or a --rate if it keeps happening"
            )

    def _go_down(self, reason: str) -> None:
        if not self.down:
            log.error("stopping delivery: %s", reason)
            self.down = reason

    async def _send_once(self, message: EmailMessage) -> None:
        await self._slots.acquire()
        retire_slot = False
        try:
            await self._throttle()  # with a slot held, so a stamp is not taken long before its send
            try:
                session, reused = await self._checkout()
            except SessionFailure as exc:
                retire_slot = self._over_relay_limit(exc)
                if retire_slot:  # go on with the sessions the relay accepted
                    raise StaleSessionError(str(exc.error)) from exc
                raise
            try:
                async with asyncio.timeout(self._timeout * 4):  # a guard over the per-read timeouts
                    refused, _ = await session.client.sendmail(*_envelope(message), _wire_bytes(message))
            except BaseException as exc:
                self._release(session, exc)
                if isinstance(exc, Exception):
                    error = send_error(exc, self.target, self._timeout)
                    if reused and isinstance(error, TransientDeliveryError) and is_disconnect(exc):
                        error = StaleSessionError(str(error))
                    raise error from exc
                raise
            self._release(session, None)
            if refused:  # some of several recipients; digests have one
                log.warning("message %s: recipients refused: %s", message.get("Message-ID"), refused)
        finally:
            if not retire_slot:
                self._slots.release()

    def _over_relay_limit(self, failure: SessionFailure) -> bool:
        """A relay that caps concurrent sessions refuses one more: keep one slot fewer, not stop."""
        live = sum(1 for session in self._sessions if session.client.is_connected)
        if not isinstance(failure.error, TransientDeliveryError) or live == 0 or self._capacity <= 1:
            return False
        self._capacity -= 1
        log.warning("%s; going on with %d connection(s): lower `connections`", failure.error, self._capacity)
        return True

    async def _throttle(self) -> None:
        if not self._limits:
            return
        async with self._rate_lock:  # one queue across every connection, first come first served
            while (wait := max(limit.delay() for limit in self._limits)) > 0:
                await self._sleep(wait)
            for limit in self._limits:
                limit.record()

    async def _checkout(self) -> tuple[_Session, bool]:
        while self._idle:
            session = self._idle.pop()
            if not session.client.is_connected:
                self._discard(session)
                continue
            if time.monotonic() - session.last_used > _PROBE_IDLE_AFTER:
                try:
                    await session.client.noop(timeout=min(self._timeout, 10))
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    self._discard(session)
                    continue
            return session, True
        session = _Session(await self._open(), time.monotonic())
        self._sessions.add(session)
        return session, False

    def _release(self, session: _Session, exc: BaseException | None) -> None:
        # After a refused command aiosmtplib has sent RSET: the session is still good.
        refused = (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused)
        reusable = exc is None or isinstance(exc, refused)
        if reusable and session.client.is_connected:
            session.last_used = time.monotonic()
            self._idle.append(session)
        else:
            self._discard(session)

    def _discard(self, session: _Session) -> None:
        session.client.close()
        self._sessions.discard(session)

    async def _open(self) -> aiosmtplib.SMTP:
        """A logged-in session, or SessionFailure carrying our error."""
        target = self.target
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        if self._tls_context is None and target.security != "plain":
            self._tls_context = ssl.create_default_context()  # once: loading CAs is slow
        client = aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            timeout=self._timeout,
            use_tls=target.security == "tls",
            start_tls=False,
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        stage = "connect"
        try:
            await client.connect()
            await client.ehlo()
            if target.security == "starttls":
                if client.supports_extension("starttls"):
                    stage = "starttls"
                    await client.starttls(tls_context=self._tls_context)
                    await client.ehlo()
                elif target.starttls_required:
                    raise PermanentDeliveryError(
                        f"smtp {target.address} does not offer STARTTLS, so the password would "
                        "travel unencrypted: use smtps:// (port 465) or enable STARTTLS on the relay"
                    )
            if target.username is not None:
                stage = "auth"
                await client.login(target.username, target.password or "")
        except BaseException as exc:
            client.close()
            if isinstance(exc, DeliveryError):
                raise SessionFailure(exc) from None
            if isinstance(exc, Exception):
                raise SessionFailure(setup_error(exc, stage, self.target, self._timeout)) from exc
            raise
        return client

def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """Envelope sender and recipients from the headers: Return-Path (a VERP bounce
    address), else Sender, else From.

    The message is sent as built (`as_bytes()` with its own policy): aiosmtplib's
    `send_message` would re-flatten it with the default policy and fold
    List-Unsubscribe into RFC 2047 encoded words, which breaks one-click unsubscribe.
    """
    origin = message.get("Return-Path") or message.get("Sender") or message.get("From", "")
    sender = email.utils.parseaddr(str(origin))[1]
    fields = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return sender, [address for _, address in email.utils.getaddresses(fields) if address]


def _wire_bytes(message: EmailMessage) -> bytes:
    """The message as sent: without Return-Path, which the receiving server writes from
    MAIL FROM (RFC 5321 4.4); the message itself keeps it (a retry needs it again)."""
    if "Return-Path" not in message:
        return message.as_bytes()
    wire = copy.copy(message)  # shallow: deleting a header gives the copy a list of its own
    del wire["Return-Path"]
    return wire.as_bytes()
