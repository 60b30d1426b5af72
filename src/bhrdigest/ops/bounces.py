"""`bhrdigest bounces`: read the bounce mailbox, record what it reports, keep the list clean.

mailbox -> classify (mail/bounces.py) -> record + suppression rule (store/bounces.py) ->
remove the message. A message that is not a report we recognise (an out-of-office reply, a
person writing back) is left in the mailbox for a person and counted; so is every message
of a dry run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

import sqlalchemy as sa

from bhrdigest.mail.bounces import BounceKind, classify
from bhrdigest.mail.mailbox import Mailbox, open_mailbox
from bhrdigest.store.bounces import SOFT_THRESHOLD, record_bounce

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BounceRunSummary:
    read: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    repeated: int = 0  # reports recorded before (read again after an interrupted run)
    left: int = 0  # messages left in the mailbox
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"bounces read={self.read} hard={self.kinds['hard']} soft={self.kinds['soft']} "
            f"complaints={self.kinds['complaint']} unknown={self.kinds['unknown']} "
            f"suppressed={self.suppressed} left={self.left} in {self.seconds:.1f}s"
        )

    def add(self, other: BounceRunSummary) -> None:
        """Count another run in (the worker's totals)."""
        self.read += other.read
        self.kinds.update(other.kinds)
        self.suppressed += other.suppressed
        self.repeated += other.repeated
        self.left = other.left  # what is in the mailbox now, not a sum
        self.seconds += other.seconds

    def to_json(self) -> dict[str, object]:
        return {"read": self.read, "hard": self.kinds["hard"], "soft": self.kinds["soft"],
                "complaints": self.kinds["complaint"], "unknown": self.kinds["unknown"],
                "suppressed": self.suppressed, "repeated": self.repeated, "left": self.left}


def check_mailbox(engine: sa.Engine, url: str, *, now: datetime, bounce_address: str | None,
                  dry_run: bool = False) -> BounceRunSummary:
    """Open the mailbox `url`, handle every message in it, close it (`bounces`, and the worker)."""
    box = open_mailbox(url)  # ConfigError: bad URL, login refused; TransientDeliveryError: no answer
    try:
        return process_bounces(engine, box, now=now, bounce_address=bounce_address, dry_run=dry_run)
    finally:
        box.close()


def process_bounces(
    engine: sa.Engine,
    box: Mailbox,
    *,
    now: datetime,
    bounce_address: str | None,
    dry_run: bool = False,
    soft_threshold: int = SOFT_THRESHOLD,
) -> BounceRunSummary:
    """Handle every message in `box`; returns what was found and done."""
    started = time.monotonic()
    summary = BounceRunSummary()
    for key, message in box.messages():
        summary.read += 1
        report = classify(message, bounce_address=bounce_address)
        summary.kinds[report.kind.value] += 1
        if report.kind is BounceKind.UNKNOWN or not report.recipients or dry_run:
            summary.left += 1
            continue
        for address in report.recipients:
            recorded = record_bounce(engine, address, report.kind.value, report_id=_report_id(message),
                                     detail=report.detail, now=now, soft_threshold=soft_threshold)
            summary.suppressed += recorded.suppressed
            summary.repeated += not recorded.new
        box.remove(key)
    summary.seconds = time.monotonic() - started
    log.info("%s", summary.line())
    return summary


def _report_id(message: Message) -> str:
    """The report's Message-ID, else a hash of its bytes: the same report is recorded once."""
    message_id = str(message.get("Message-ID", "")).strip()
    return message_id or "sha256:" + hashlib.sha256(message.as_bytes()).hexdigest()
