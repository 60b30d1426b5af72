"""Delivering email over SMTP: a pool of reused connections, rate limits, retries.

The only module that speaks SMTP; aiosmtplib's exceptions become ours here and only here.

    SmtpTarget   where to send (parsed from SMTP_URL); the password stays out of repr
    SmtpSender   pooled sessions; `send()` returns a SendResult and never raises for one message
    send_many    streams messages through a sender with a bounded number in flight

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
import email.utils
import errno
import inspect
import ipaddress
import logging
import math
import os
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import aiosmtplib
import aiosmtplib.protocol
import aiosmtplib.smtp

from bhrdigest.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

log = logging.getLogger(__name__)


# aiosmtplib passes every message through three regular expressions: line endings made
# CR LF (twice: for SIZE, then for DATA) and dot-stuffing. On a 75 KB digest each costs
# about 0.3 ms, a sixth of what a digest costs to send. A digest is flattened with CR LF
# line ends, and its quoted-printable never starts a line with "." (messages.py), so
# these check at C speed whether there is anything to change, once a message, and when
# there is, change it as the expressions would. The bytes sent are the same either way
# (tests/test_smtp.py compares them with aiosmtplib's own).
_AIOSMTPLIB_LINE_ENDINGS = aiosmtplib.protocol.normalize_message_line_endings
_AIOSMTPLIB_PERIOD = aiosmtplib.protocol.PERIOD_REGEX
_FOUND_CRLF: deque[bytes] = deque(maxlen=16)  # messages just found all CR LF (SIZE, then DATA)


def _normalize_line_endings(message: bytes) -> bytes:
    """aiosmtplib's normalize_message_line_endings: a message already all CR LF, ending
    with one, is returned as is."""
    if any(message is found for found in _FOUND_CRLF):
        return message
    if message.endswith(b"\r\n") and message.count(b"\r") == message.count(b"\n") == message.count(b"\r\n"):
        _FOUND_CRLF.append(message)  # every CR is in a CR LF, and every LF
        return message
    return _AIOSMTPLIB_LINE_ENDINGS(message)


class _DotStuffing:
    """aiosmtplib's PERIOD_REGEX, `(?m)^\\.`, for its one use: `sub(b"..", message)`."""

    def sub(self, replacement: bytes, message: bytes) -> bytes:
        if replacement != b"..":
            return _AIOSMTPLIB_PERIOD.sub(replacement, message)
        if b"\n." in message:
            message = message.replace(b"\n.", b"\n..")
        return b"." + message if message.startswith(b".") else message


def use_quick_checks(on: bool) -> None:
    """Put the quick checks in front of aiosmtplib's expressions (done on import), or take
    them away (the benchmarks' bare aiosmtplib loop runs it as shipped)."""
    line_endings, period = (_normalize_line_endings, _DotStuffing()) if on else (_AIOSMTPLIB_LINE_ENDINGS,
                                                                                 _AIOSMTPLIB_PERIOD)  # fmt: skip
    aiosmtplib.protocol.normalize_message_line_endings = line_endings
    aiosmtplib.smtp.normalize_message_line_endings = line_endings
    aiosmtplib.protocol.PERIOD_REGEX = period  # type: ignore[assignment]  # duck-typed: only `.sub` is called


use_quick_checks(True)

SECURITIES = ("starttls", "tls", "plain")
_SCHEMES = {"smtp": ("starttls", 587), "smtps": ("tls", 465), "smtp+plain": ("plain", 25)}
_PROBE_IDLE_AFTER = 10.0  # seconds; an idle pooled session older than this gets a NOOP first


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpTarget:
    """Where digests go.

    `security`: "starttls" (upgrade when offered), "tls" (implicit, smtps) or "plain".
    STARTTLS becomes mandatory with `require_starttls`, and whenever credentials would go
    to a host beyond loopback.
    """

    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    require_starttls: bool = False

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ValueError(f"security must be one of {SECURITIES}, not {self.security!r}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def starttls_required(self) -> bool:
        """Credentials never cross a network in clear text; loopback is exempt (tests, local relays)."""
        if self.security != "starttls":
            return False
        return self.require_starttls or (self.username is not None and not _is_loopback(self.host))


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587`, `smtps://user:pass@host:465` or `smtp+plain://127.0.0.1:2525`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(
            "SMTP_URL is not a valid URL: is the port a number? Percent-encode special "
            "characters in the user name and password (@ as %40, / as %2F, : as %3A)"
        ) from None  # the original error quotes the URL, password and all
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"SMTP_URL scheme {scheme!r} is not supported: use smtp:// (STARTTLS), "
            "smtps:// (implicit TLS) or smtp+plain:// (loopback only)"
        )
    security, default_port = _SCHEMES[scheme]
    host = parts.hostname
    if not host:
        raise ConfigError("SMTP_URL has no host name, e.g. smtp://user:pass@smtp.example.org:587")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("SMTP_URL must be scheme://[user:password@]host[:port] with nothing after the port")
    if security == "plain" and not _is_loopback(host):
        raise ConfigError(
            f"smtp+plain:// sends mail unencrypted and is allowed only to a loopback host, "
            f"not {host}: use smtp:// or smtps://"
        )
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ConfigError("SMTP_URL has a password but no user name")
    return SmtpTarget(host, port or default_port, security, username, password)


@dataclass(frozen=True)
class SendResult:
    """What became of one message: "sent", "failed" (transient: try again) or "gone" (permanent)."""

    message_id: str
    status: str
    error: str | None
    attempts: int


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


class _StaleSessionError(TransientDeliveryError):
    """A pooled session the server had closed: retry at once on a fresh one."""


class _SessionFailure(Exception):
    """Setting up a session failed: the same will happen to every message."""

    def __init__(self, error: DeliveryError):
        super().__init__(str(error))
        self.error = error


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
        except _SessionFailure as exc:
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
            except _SessionFailure as exc:
                if isinstance(exc.error, TransientDeliveryError) and attempts <= self._retries and not self.down:
                    await self._sleep(self._backoff * 2 ** (attempts - 1))
                    continue
                self._go_down(str(exc.error))
                return SendResult(message_id, "failed", str(exc.error), attempts)
            except TransientDeliveryError as exc:
                if not isinstance(exc, _StaleSessionError):
                    self._note_deferral(exc)
                if attempts <= self._retries and not self.down:
                    # A pooled session the server closed is no reason to wait.
                    if not isinstance(exc, _StaleSessionError):
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
                return SendResult(message_id, "failed", self._scrub(f"unexpected error: {exc!r}"), attempts)
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
            except _SessionFailure as exc:
                retire_slot = self._over_relay_limit(exc)
                if retire_slot:  # go on with the sessions the relay accepted
                    raise _StaleSessionError(str(exc.error)) from exc
                raise
            try:
                async with asyncio.timeout(self._timeout * 4):  # a guard over the per-read timeouts
                    refused, _ = await session.client.sendmail(*_envelope(message), message.as_bytes())
            except BaseException as exc:
                self._release(session, exc)
                if isinstance(exc, Exception):
                    error = self._translate_send(exc)
                    if reused and isinstance(error, TransientDeliveryError) and _is_disconnect(exc):
                        error = _StaleSessionError(str(error))
                    raise error from exc
                raise
            self._release(session, None)
            if refused:  # some of several recipients; digests have one
                log.warning("message %s: recipients refused: %s", message.get("Message-ID"), refused)
        finally:
            if not retire_slot:
                self._slots.release()

    def _over_relay_limit(self, failure: _SessionFailure) -> bool:
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
        """A logged-in session, or _SessionFailure carrying our error."""
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
                raise _SessionFailure(exc) from None
            if isinstance(exc, Exception):
                raise _SessionFailure(self._translate_setup(exc, stage)) from exc
            raise
        return client

    def _translate_setup(self, exc: Exception, stage: str) -> DeliveryError:
        where = f"smtp {self.target.address}"
        tls = _find(exc, ssl.SSLError)
        if tls is not None:
            hint = "check the host name and the relay's certificate"
            if stage == "connect":
                hint += "; for port 587 use smtp://, for 465 smtps://"
            return PermanentDeliveryError(self._scrub(f"TLS with {where} failed: {_tls_reason(tls)}: {hint}"))
        connect_timeout = stage == "connect" and isinstance(exc, TimeoutError)
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError) or connect_timeout:
            return TransientDeliveryError(f"cannot connect to {where}: no answer within {self._timeout:g}s")
        if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
            return _by_code(exc.code, self._scrub(f"{where} refused the session: {_reply(exc)}"))
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            return TransientDeliveryError(f"cannot connect to {where}: {_os_reason(exc)}")
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            text = f"authentication failed for user {self.target.username} at {where}: {_reply(exc)}"
            return _by_code(exc.code, self._scrub(text))
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return _by_code(exc.code, self._scrub(f"{where} refused {stage}: {_reply(exc)}"))
        if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, TimeoutError, OSError)):
            return TransientDeliveryError(self._scrub(f"{where} failed during {stage}: {_message(exc)}"))
        if stage == "auth":  # e.g. no AUTH extension offered
            text = f"cannot log in as {self.target.username} at {where}: {_message(exc)}"
            return PermanentDeliveryError(self._scrub(text))
        return PermanentDeliveryError(self._scrub(f"{where} failed during {stage}: {_message(exc)}"))

    def _translate_send(self, exc: Exception) -> DeliveryError | _SessionFailure:
        where = f"smtp {self.target.address}"
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            replies = "; ".join(f"{r.recipient}: {_reply(r)}" for r in exc.recipients)
            if all(r.code >= 500 for r in exc.recipients):
                return PermanentDeliveryError(f"recipient refused: {replies}")
            return TransientDeliveryError(f"recipient deferred: {replies}")
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            if exc.code < 500:
                return TransientDeliveryError(f"{where} deferred the message: {_reply(exc)}")
            if exc.code == 552:  # the declared SIZE is too large: this message only
                return PermanentDeliveryError(f"message refused: {_reply(exc)}")
            # Not this message's fault: every message would be refused the same way.
            text = (
                f"{where} refused the sender {exc.sender}: {_reply(exc)}: "
                "check the From address and the relay account"
            )
            return _SessionFailure(PermanentDeliveryError(text))
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            if exc.code >= 500:
                return PermanentDeliveryError(f"message refused: {_reply(exc)}")
            return TransientDeliveryError(f"{where} deferred the message: {_reply(exc)}")
        if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
            return TransientDeliveryError(f"{where} did not answer within {self._timeout:g}s")
        if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
            return TransientDeliveryError(f"{where} closed the connection")
        if isinstance(exc, (aiosmtplib.SMTPNotSupported, ValueError)):
            return PermanentDeliveryError(f"cannot send this message: {_message(exc)}")
        if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
            return TransientDeliveryError(self._scrub(f"{where}: {_message(exc)}"))
        raise exc  # not an SMTP failure: send() reports it as unexpected

    def _scrub(self, text: str) -> str:
        password = self.target.password
        return text.replace(password, "***") if password else text


def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """Envelope sender and recipients from the headers.

    The message is sent as built (`as_bytes()` with its own policy): aiosmtplib's
    `send_message` would re-flatten it with the default policy and fold
    List-Unsubscribe into RFC 2047 encoded words, which breaks one-click unsubscribe.
    """
    sender = email.utils.parseaddr(str(message.get("Sender") or message.get("From", "")))[1]
    fields = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return sender, [address for _, address in email.utils.getaddresses(fields) if address]


def _is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421


def _by_code(code: int, text: str) -> DeliveryError:
    return PermanentDeliveryError(text) if code >= 500 else TransientDeliveryError(text)


def _reply(exc: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientRefused) -> str:
    return f"{exc.code} {' '.join(exc.message.split())}"


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


_E = TypeVar("_E", bound=BaseException)


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_reason(exc: BaseException) -> str:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None)
    return reason.replace("_", " ").lower() if reason else _message(exc)


def _os_reason(exc: BaseException) -> str:
    if _find(exc, socket.gaierror) is not None:
        return "host not found (check the host name in SMTP_URL)"
    cause = _find(exc.__cause__, OSError) if exc.__cause__ else None  # below aiosmtplib's own
    if cause is None:
        return _message(exc)
    if isinstance(cause, ConnectionRefusedError) or cause.errno == errno.ECONNREFUSED:
        return "connection refused (is the relay running, and is the port right?)"
    if cause.errno is not None:
        return os.strerror(cause.errno).lower()
    return _message(cause)


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
        # Callers catch our errors, not exception groups; no `from`: the error keeps its own cause.
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
