"""aiosmtplib's exceptions become ours here, and only here: each failure is named in the
operator's words and sorted into what happens next (see smtp.py's table).

    TransientDeliveryError   4xx, dropped connection, timeout: try again
    PermanentDeliveryError   5xx for this recipient or message: never again
    SessionFailure           the same would happen to every message (cannot connect,
                             log in, or send as the From address): the sender goes down
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
from typing import TypeVar

import aiosmtplib

from bhrdigest.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from bhrdigest.mail.target import SmtpTarget

_E = TypeVar("_E", bound=BaseException)


class StaleSessionError(TransientDeliveryError):
    """A pooled session the server had closed: retry at once on a fresh one."""


class SessionFailure(Exception):
    """Setting up a session failed: the same will happen to every message."""

    def __init__(self, error: DeliveryError):
        super().__init__(str(error))
        self.error = error


def setup_error(exc: Exception, stage: str, target: SmtpTarget, timeout: float) -> DeliveryError:
    """What went wrong setting up a session (`stage`: connect, starttls, auth), in our words."""
    where = f"smtp {target.address}"
    tls = _find(exc, ssl.SSLError)
    if tls is not None:
        hint = "check the host name and the relay's certificate"
        if stage == "connect":
            hint += "; for port 587 use smtp://, for 465 smtps://"
        return PermanentDeliveryError(scrub(target, f"TLS with {where} failed: {_tls_reason(tls)}: {hint}"))
    connect_timeout = stage == "connect" and isinstance(exc, TimeoutError)
    if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError) or connect_timeout:
        return TransientDeliveryError(f"cannot connect to {where}: no answer within {timeout:g}s")
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return _by_code(exc.code, scrub(target, f"{where} refused the session: {_reply(exc)}"))
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return TransientDeliveryError(f"cannot connect to {where}: {_os_reason(exc)}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        text = f"authentication failed for user {target.username} at {where}: {_reply(exc)}"
        return _by_code(exc.code, scrub(target, text))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, scrub(target, f"{where} refused {stage}: {_reply(exc)}"))
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, TimeoutError, OSError)):
        return TransientDeliveryError(scrub(target, f"{where} failed during {stage}: {_message(exc)}"))
    if stage == "auth":  # e.g. no AUTH extension offered
        text = f"cannot log in as {target.username} at {where}: {_message(exc)}"
        return PermanentDeliveryError(scrub(target, text))
    return PermanentDeliveryError(scrub(target, f"{where} failed during {stage}: {_message(exc)}"))


def send_error(exc: Exception, target: SmtpTarget, timeout: float) -> DeliveryError | SessionFailure:
    """What went wrong sending one message; a SessionFailure when every message would fail alike."""
    where = f"smtp {target.address}"
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
        return SessionFailure(PermanentDeliveryError(text))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code >= 500:
            return PermanentDeliveryError(f"message refused: {_reply(exc)}")
        return TransientDeliveryError(f"{where} deferred the message: {_reply(exc)}")
    if isinstance(exc, (aiosmtplib.SMTPTimeoutError, TimeoutError)):
        return TransientDeliveryError(f"{where} did not answer within {timeout:g}s")
    if isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError)):
        return TransientDeliveryError(f"{where} closed the connection")
    if isinstance(exc, (aiosmtplib.SMTPNotSupported, ValueError)):
        return PermanentDeliveryError(f"cannot send this message: {_message(exc)}")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError)):
        return TransientDeliveryError(scrub(target, f"{where}: {_message(exc)}"))
    raise exc  # not an SMTP failure: send() reports it as unexpected


def scrub(target: SmtpTarget, text: str) -> str:
    """`text` without the relay password (some servers echo what they were sent)."""
    return text.replace(target.password, "***") if target.password else text


def is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 421


def _by_code(code: int, text: str) -> DeliveryError:
    return PermanentDeliveryError(text) if code >= 500 else TransientDeliveryError(text)


def _reply(exc: aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientRefused) -> str:
    return f"{exc.code} {' '.join(exc.message.split())}"


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    """The first `kind` in `exc`'s chain of causes, `exc` included."""
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
