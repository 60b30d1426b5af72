"""A digest run: plan who gets what, then deliver each digest exactly once.

    plan_run       period -> components first seen in it -> matches -> minus what was
                   already delivered to each subscriber: one PlannedDigest per recipient
    deliver_run    for each planned digest, lazily: build + render -> ledger `pending`
                   -> send (SMTP or outbox) -> ledger `sent` / `failed` / `gone`

The ledger row is written before the message goes out and marked after, so a
re-run after Ctrl-C, kill -9 or a dead relay never sends anyone a second digest
and never skips anyone; a message whose fate is unknown is reported and re-sent
only when staff ask (`--resend-unknown`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from bhrdigest.components import Subscriber
from bhrdigest.config import Config
from bhrdigest.delivery.smtp import SendResult, send_many
from bhrdigest.digests import DigestRenderer, RenderedDigest, build_digest
from bhrdigest.matching import Match, Matcher
from bhrdigest.messages import build_message
from bhrdigest.store import ledger
from bhrdigest.store.components import load_components
from bhrdigest.tokens import make_token

log = logging.getLogger(__name__)


class Sender(Protocol):
    down: str | None  # why sending stopped, once the destination is unusable

    async def send(self, message: EmailMessage) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class PlannedDigest:
    subscriber: Subscriber
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    period_start: datetime
    period_end: datetime
    component_count: int
    digests: tuple[PlannedDigest, ...]
    already_delivered: int = 0  # subscribers whose matches were all delivered before
    nothing_new: int = 0  # subscribers with no match in the period

    @property
    def item_count(self) -> int:
        return sum(len(d.matches) for d in self.digests)


@dataclass(slots=True)
class RunSummary:
    run_id: int | None
    planned: int = 0
    sent: int = 0
    failed: int = 0
    gone: int = 0
    skipped: int = 0  # already sent, refused or of unknown fate in this run
    unknown: int = 0  # fate unknown after an interrupted earlier send: not re-sent
    finished: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.gone or self.unknown)

    def line(self) -> str:
        run = f"run={self.run_id} " if self.run_id is not None else ""
        state = "finished" if self.finished else "unfinished"
        return (
            f"send {run}planned={self.planned} sent={self.sent} failed={self.failed} gone={self.gone} "
            f"skipped={self.skipped} unknown={self.unknown} ({state})"
        )


def planned_period(engine: sa.Engine, *, now: datetime, first_period_days: int = 7) -> tuple[datetime, datetime]:
    """The period the next `send` would cover, without opening a run."""
    last = ledger.last_run(engine)
    if last is None:
        return now - timedelta(days=first_period_days), now
    if last.finished_at is None:
        return last.period_start, last.period_end
    return last.period_end, max(now, last.period_end)


def plan_run(
    engine: sa.Engine,
    subscribers: Sequence[Subscriber],
    *,
    period_start: datetime,
    period_end: datetime,
) -> Plan:
    """Who gets which components: matched, first seen in the period, never delivered to them."""
    components = load_components(engine, seen_since=period_start, seen_before=period_end)
    matched = Matcher(subscribers).match(components) if components else {}
    candidates = {m.component.key for matches in matched.values() for m in matches}
    delivered = ledger.delivered_keys(engine, list(matched), keys=candidates)
    digests, already = [], 0
    for subscriber in subscribers:
        matches = matched.get(subscriber.email.lower(), [])
        seen = delivered.get(subscriber.email.lower(), set())
        fresh = tuple(m for m in matches if m.component.key not in seen)
        if fresh:
            digests.append(PlannedDigest(subscriber, fresh))
        elif matches:
            already += 1
    return Plan(
        period_start=period_start,
        period_end=period_end,
        component_count=len(components),
        digests=tuple(digests),
        already_delivered=already,
        nothing_new=len(subscribers) - len(digests) - already,
    )


class DigestComposer:
    """Turns a planned digest into the email that goes out (rendering, headers, tokens)."""

    def __init__(self, config: Config, renderer: DigestRenderer, *, secret: str | None, now: datetime):
        self.config = config
        self.renderer = renderer
        self.secret = secret
        self.now = now
        sender = config.sender
        self.domain = parseaddr(sender.from_addr)[1].rpartition("@")[2] or "bhrdigest.invalid"

    def unsubscribe_url(self, email: str) -> str | None:
        template = self.config.sender.unsubscribe_url
        if not template or not self.secret:
            return None
        return template.replace("{token}", make_token(self.secret, email, self.config.sender.list_id))

    def render(self, planned: PlannedDigest) -> RenderedDigest:
        digest = build_digest(planned.subscriber, planned.matches, max_items=self.config.digest.max_items)
        return self.renderer.render(
            digest, unsubscribe_url=self.unsubscribe_url(planned.subscriber.email), preferences_url=None
        )

    def message(self, planned: PlannedDigest, rendered: RenderedDigest, *, run_id: int) -> EmailMessage:
        sender = self.config.sender
        return build_message(
            rendered,
            subscriber=planned.subscriber,
            from_addr=sender.from_addr,
            subject=self.config.digest.subject,
            run_id=run_id,
            list_id=sender.list_id,
            unsubscribe_url=self.unsubscribe_url(planned.subscriber.email),
            unsubscribe_mailto=sender.unsubscribe_mailto,
            now=self.now,
            domain=self.domain,
        )


async def deliver_run(
    engine: sa.Engine,
    run: ledger.DigestRun,
    plan: Plan,
    composer: DigestComposer,
    sender: Sender,
    *,
    concurrency: int = 4,
    on_result: Callable[[SendResult], None] | None = None,
) -> RunSummary:
    """Send every planned digest once, with a ledger row around each send."""
    summary = RunSummary(run_id=run.id, planned=len(plan.digests))
    in_flight: dict[str, tuple[str, tuple[str, ...]]] = {}  # message id -> (email, keys)

    async def messages() -> AsyncIterator[EmailMessage]:
        for planned in plan.digests:
            rendered = composer.render(planned)
            message = composer.message(planned, rendered, run_id=run.id)
            message_id = str(message["Message-ID"])
            email = planned.subscriber.email.lower()
            size = len(message.as_bytes())
            if not ledger.claim(engine, run.id, email, message_id, rendered.component_keys, size):
                summary.skipped += 1
                continue
            in_flight[message_id] = (email, rendered.component_keys)
            yield message

    def record(result: SendResult) -> None:
        email, keys = in_flight.pop(result.message_id)
        ledger.mark(engine, run.id, email, result, keys)
        if result.status == "sent":
            summary.sent += 1
        else:
            setattr(summary, result.status, getattr(summary, result.status) + 1)
            summary.failures.append(f"{email}: {result.error}")
        if on_result:
            on_result(result)

    try:
        await send_many(sender, messages(), concurrency=concurrency, on_result=record)
    finally:
        counts = ledger.run_summary(engine, run.id)
        summary.unknown = counts[ledger.UNKNOWN]
        summary.finished = ledger.finish_run(engine, run.id, composer.now)
    return summary


# --- the outbox: the embedded default when no SMTP_URL is set ---------------


class Outbox:
    """Writes each message as an .eml file, atomically, named after its Message-ID."""

    down = None

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []

    async def send(self, message: EmailMessage) -> SendResult:
        message_id = str(message.get("Message-ID", "")).strip()
        path = self.folder / f"{file_stem(message_id or 'message')}.eml"
        try:
            write_atomically(path, message.as_bytes())
        except OSError as exc:
            return SendResult(message_id, "failed", f"cannot write {path}: {exc.strerror}", 1)
        self.written.append(path)
        return SendResult(message_id, "sent", None, 1)


def file_stem(message_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>"))[:120]


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def render_previews(composer: DigestComposer, digests: Iterable[PlannedDigest], folder: Path) -> list[tuple[str, Path, int, int]]:
    """--dry-run: every digest to folder/<address>.html and .eml; (email, path, items, size) each."""
    folder.mkdir(parents=True, exist_ok=True)
    report = []
    for planned in digests:
        rendered = composer.render(planned)
        message = composer.message(planned, rendered, run_id=0)
        data = message.as_bytes()
        stem = file_stem(planned.subscriber.email)
        write_atomically(folder / f"{stem}.html", rendered.html.encode())
        write_atomically(folder / f"{stem}.eml", data)
        report.append((planned.subscriber.email, folder / f"{stem}.eml", rendered.item_count, len(data)))
    return report
