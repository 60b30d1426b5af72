"""What a message in the bounce mailbox says: a hard or soft bounce, a complaint, or nothing we know.

Relays accept a digest and report failures later, by mail: delivery status notifications
(RFC 3464) and the many older non-standard forms, recognised by flufl.bounce (GNU Mailman's
detector library), and feedback-loop complaint reports (ARF, RFC 5965). Every digest's
envelope sender is a VERP address, `bounces+alex=example.org@bounce.example.org`, so a bounce
that reaches that address names its recipient even when the report itself is unreadable.

Pure: a message in, a `BounceReport` out. Reading the mailbox is mail/mailbox.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from flufl.bounce import all_failures

log = logging.getLogger(__name__)

# Where a receiving server or the relay puts the address a message was delivered to.
_DELIVERY_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


class BounceKind(StrEnum):
    HARD = "hard"  # permanent: the address does not exist, the domain does not take mail
    SOFT = "soft"  # temporary: mailbox full, greylisted, over quota
    COMPLAINT = "complaint"  # the reader pressed "this is spam" (a feedback-loop report)
    UNKNOWN = "unknown"  # not a report we recognise (an auto-reply, a person writing back)


@dataclass(frozen=True, slots=True)
class BounceReport:
    kind: BounceKind
    recipients: tuple[str, ...]  # lower-cased addresses of ours that the report is about
    detail: str  # one line for `status` and the log: what said so


def verp_address(recipient: str, bounce_address: str) -> str:
    """The envelope sender for `recipient`: bounces@b.org + alex@example.org -> bounces+alex=example.org@b.org."""
    local, _, domain = bounce_address.rpartition("@")
    r_local, _, r_domain = recipient.rpartition("@")
    return f"{local}+{r_local}={r_domain}@{domain}"


def recipient_from_verp(address: str, bounce_address: str) -> str | None:
    """The recipient a VERP address stands for, or None when it is not one of ours."""
    local, _, domain = bounce_address.lower().rpartition("@")
    a_local, _, a_domain = address.strip().strip("<>").lower().rpartition("@")
    if a_domain != domain or not a_local.startswith(local + "+"):
        return None
    r_local, sep, r_domain = a_local[len(local) + 1 :].rpartition("=")
    return f"{r_local}@{r_domain}" if sep and r_local and r_domain else None


def classify(message: Message, *, bounce_address: str | None = None) -> BounceReport:
    """What `message` reports, and about whom (the VERP address first, the report's own second)."""
    verp = _verp_recipient(message, bounce_address) if bounce_address else None
    if _is_feedback_report(message):
        recipients = (verp,) if verp else _complained_about(message)
        return BounceReport(BounceKind.COMPLAINT, recipients, _feedback_detail(message))
    try:
        temporary, permanent = all_failures(message)
    except Exception as exc:  # noqa: BLE001 - a detector choking on a malformed message must not stop the run
        log.warning("bounce detectors failed on a message (%s): left for a person to read", exc)
        return BounceReport(BounceKind.UNKNOWN, (), f"detectors failed: {exc}")
    if permanent:
        kind, found = BounceKind.HARD, permanent
    elif temporary:
        kind, found = BounceKind.SOFT, temporary
    else:
        return BounceReport(BounceKind.UNKNOWN, (), _subject(message) or "no delivery report found")
    recipients = (verp,) if verp else tuple(sorted({_text(a).lower() for a in found}))
    return BounceReport(kind, recipients, _subject(message) or f"{kind} bounce")


def _verp_recipient(message: Message, bounce_address: str) -> str | None:
    for header in _DELIVERY_HEADERS:
        for _, address in getaddresses(message.get_all(header, [])):
            recipient = recipient_from_verp(address, bounce_address)
            if recipient:
                return recipient
    return None


def _is_feedback_report(message: Message) -> bool:
    return message.get_content_type() == "multipart/report" and (
        (message.get_param("report-type") or "").lower() == "feedback-report"  # type: ignore[union-attr]
    )


def _complained_about(message: Message) -> tuple[str, ...]:
    """ARF names the original recipient in the report part, else the returned message's To."""
    found: set[str] = set()
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks = part.get_payload() if part.is_multipart() else []
            for block in blocks if isinstance(blocks, list) else []:
                if isinstance(block, Message):
                    found.update(a.lower() for _, a in getaddresses(block.get_all("Original-Rcpt-To", [])) if a)
        elif part.get_content_type() in ("message/rfc822", "text/rfc822-headers") and not found:
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, Message):
                found.update(a.lower() for _, a in getaddresses(inner.get_all("To", [])) if a)
    return tuple(sorted(found))


def _feedback_detail(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report" and part.is_multipart():
            block = part.get_payload(0)
            if isinstance(block, Message):
                return f"complaint ({block.get('Feedback-Type', 'abuse')}) from {block.get('Reported-Domain', '?')}"
    return "complaint"


def _subject(message: Message) -> str:
    return " ".join(str(message.get("Subject", "")).split())[:200]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
