"""Delivery stages against servers in other processes: SMTP sending and Telegram alerts."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from benchmarks.report import Row
from benchmarks.servers import ServerProcess
from bhrdigest.ingest.tagging import Tagger
from bhrdigest.mail import aiosmtplib_fastpath
from bhrdigest.mail.sending import send_many
from bhrdigest.mail.smtp import SmtpSender
from bhrdigest.mail.target import SmtpTarget
from bhrdigest.model import Company, Entry, Kind, Subscriber
from bhrdigest.store import alert_queue as alert_store
from bhrdigest.store import components as component_store
from bhrdigest.store.db import connect
from bhrdigest.telegram.client import CONNECTIONS, Pacing, TelegramSender

_EXCERPT = (
    "Workers at the factory said wages had not been paid for three months; "
    "the company said it was looking into the matter. "
) * 3
TELEGRAM_CAP = 30.0  # messages a second, Telegram's documented overall limit for a bot


# --- SMTP -----------------------------------------------------------------------------


async def _bare_loop(port: int, data: Sequence[tuple[str, list[str], object]], connections: int) -> None:
    """aiosmtplib alone: `connections` sessions, each a plain loop of sendmail.

    A payload is bytes, or a built EmailMessage flattened right there as the send path does.
    """

    async def one(chunk) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench") as smtp:
            for sender, recipients, payload in chunk:
                await smtp.sendmail(sender, recipients, payload if isinstance(payload, bytes) else payload.as_bytes())

    await asyncio.gather(*(one(data[i::connections]) for i in range(connections)))


def _shipped(function):
    """`function` with aiosmtplib as shipped: without the quick checks that an SmtpSender
    puts in front of its regular expressions when it starts (mail/aiosmtplib_fastpath.py)."""

    def run():
        aiosmtplib_fastpath.uninstall()
        function()

    return run


def _quick(function):
    """`function` with the quick checks in front of aiosmtplib's expressions."""

    def run():
        if not aiosmtplib_fastpath.install():
            raise RuntimeError("the installed aiosmtplib cannot take the quick checks (see the log)")
        function()

    return run


async def _ours(port: int, messages: Sequence[EmailMessage], connections: int) -> int:
    target = SmtpTarget("127.0.0.1", port, "plain", None, None)
    sent = 0

    def count(result) -> None:
        nonlocal sent
        sent += result.status == "sent"

    async with SmtpSender(target, connections=connections) as sender:
        await send_many(sender, messages, concurrency=connections, on_result=count)
    return sent


def sending(messages: Sequence[EmailMessage], *, count: int, repeat: int, sink_kind: str) -> list[Row]:
    """SmtpSender + send_many against a bare aiosmtplib loop, same messages, same sink process."""
    pool = list(itertools.islice(itertools.cycle(messages), count))
    envelopes = [(_address(m["From"]), [_address(m["To"])]) for m in pool]
    built = [(sender, to, m) for (sender, to), m in zip(envelopes, pool, strict=True)]
    flat = [(sender, to, m.as_bytes()) for (sender, to), m in zip(envelopes, pool, strict=True)]
    size = sum(len(p) for _, _, p in flat) / len(flat) / 1024
    rows = []
    with ServerProcess(sink_kind) as sink:
        for connections in (1, 4):
            mine, theirs, transport, quick = [], [], [], []
            for _ in range(repeat):
                theirs.append(_timed(_shipped(lambda n=connections: asyncio.run(_bare_loop(sink.port, built, n)))))
                mine.append(_timed(lambda n=connections: _check(asyncio.run(_ours(sink.port, pool, n)), len(pool))))
                transport.append(_timed(_shipped(lambda n=connections: asyncio.run(_bare_loop(sink.port, flat, n)))))
                quick.append(_timed(_quick(lambda n=connections: asyncio.run(_bare_loop(sink.port, built, n)))))
            received = sink.stats()["messages"]
            expected = 4 * repeat * len(pool)
            ours_rate, bare_rate = len(pool) / min(mine), len(pool) / min(theirs)
            bytes_rate, quick_rate = len(pool) / min(transport), len(pool) / min(quick)
            rows.append(
                Row(
                    f"sending, {connections} connection{'s' if connections > 1 else ''}",
                    f"{ours_rate:,.0f} messages/s; bare aiosmtplib {bare_rate:,.0f}/s",
                    f"{ours_rate / bare_rate:.0%} of bare",
                    "≥ 80% of a bare aiosmtplib loop",
                    ours_rate / bare_rate >= 0.8,
                    f"{len(pool):,} built digests of {size:.0f} KB on average, best of {repeat}, alternately. "
                    f"Both flatten each EmailMessage as they send it; a bare loop given the bytes flattened "
                    f"beforehand does {bytes_rate:,.0f}/s (ours is {ours_rate / bytes_rate:.0%} of that). The bare "
                    f"loops run aiosmtplib as shipped; given the quick checks bhrdigest puts in front of its "
                    f"regular expressions (mail/aiosmtplib_fastpath.py), the bare loop does {quick_rate:,.0f}/s "
                    f"(ours is "
                    f"{ours_rate / quick_rate:.0%} of that: the pool's own cost). "
                    f"Sink `{sink_kind}` in another process; it counted {received:,} messages of {expected:,}.",
                )
            )
            sink.reset()
    return rows


def _address(header) -> str:
    return str(header).rpartition("<")[2].rstrip(">").strip()


def _timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _check(sent: int, expected: int) -> None:
    if sent != expected:
        raise RuntimeError(f"only {sent} of {expected} messages were sent to the sink")


# --- Telegram -------------------------------------------------------------------------


def _alert_store(folder: Path, *, chats: int, per_chat: int, now: datetime):
    """A store with `chats` chats and `chats * per_chat` queued alerts.

    100 companies are tracked by chats/100 chats each; each company is named by
    `per_chat` components, so every chat has `per_chat` alerts due.
    """
    engine = connect(f"sqlite:///{folder / 'alerts.db'}", create=True)
    companies = [Company(f"Tracked Company {i:03d}") for i in range(100)]
    tracking = [
        Subscriber(email=f"chat{c}@example.org", companies=(companies[c % 100].name,), telegram=800_000_000 + c)
        for c in range(chats)
    ]
    alert_store.sync_yaml_chats(engine, tracking, now - timedelta(hours=1))
    tagger = Tagger(_catalogue(companies))
    entries = []
    for company, n in itertools.product(companies[: max(1, min(100, chats))], range(per_chat)):
        key = f"{company.name}-{n}".replace(" ", "-").lower()
        entry = Entry(
            key=key, url=f"https://www.business-humanrights.org/en/latest-news/{key}/",
            title=f"Kenya: {company.name} accused of unpaid wages at a supplier ({n})", language="en",
            published=now, author="Daily Nation", source_title=None, source_date=None,
            excerpt_html="", excerpt_text=_EXCERPT, marker_companies=(company.name,),
            kind=Kind.COMPANY_RESPONSE if n % 7 == 0 else Kind.ARTICLE,
        )  # fmt: skip
        entries.append(entry)
    saved = component_store.save_components(engine, [tagger.tag(e) for e in entries], feed_url="bench", now=now)
    queued = alert_store.queue_alerts(engine, saved.new, now=now)
    return engine, queued


def _catalogue(companies):
    from bhrdigest.model import Catalogue

    return Catalogue(companies=tuple(companies))


async def _deliver_alerts(engine, url: str, token: str, pacing: Pacing | None):
    from bhrdigest.telegram.deliver import run_alerts

    options = {"pacing": pacing} if pacing is not None else {}
    async with TelegramSender(token, url, **options) as sender:
        started = time.perf_counter()
        summary = await run_alerts(engine, sender, max_wait=30.0)
        return summary, time.perf_counter() - started


def telegram(*, chats: int, per_chat: int) -> list[Row]:
    """The product's default pacing against the test suite's Bot API with Telegram's limits."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, ServerProcess("botapi") as api:
        engine, queued = _alert_store(Path(tmp), chats=chats, per_chat=per_chat, now=now)
        summary, took = asyncio.run(_deliver_alerts(engine, api.url, api.info["token"], None))
        stats = api.stats()
        engine.dispose()
    messages = stats["messages"]
    span = (stats["last"] - stats["first"]) if messages > 1 else took
    rate = (messages - 1) / span if messages > 1 else 0.0
    pacing = Pacing()
    longest = stats["gaps"][0] if stats["gaps"] else 0.0
    met = rate >= 0.9 * TELEGRAM_CAP and stats["status_429"] == 0 and summary.sent == queued
    return [
        Row(
            f"Telegram, {queued:,} alerts to {chats:,} chats",
            f"{rate:.1f} messages/s ({summary.sent / took:,.0f} alerts/s), {stats['status_429']} × 429, "
            f"busiest second {stats['busiest_second']}",
            f"{rate / TELEGRAM_CAP:.0%} of the 30/s cap",
            "≥ 90% of the cap, no 429 from our pacing",
            met,
            f"Real time, real pacing (`Pacing()` defaults: {pacing.global_per_second:g}/s overall, one message "
            f"a second per chat; up to {CONNECTIONS} in flight) against the test suite's Bot API in another "
            f"process, which answers 429 as Telegram does (30/s overall, 1/s per chat). {summary.sent:,} of "
            f"{queued:,} alerts sent in {messages:,} messages (a chat's burst shares messages) over {span:.0f} s, "
            f"the longest pause between two {longest * 1000:.0f} ms (the pacing's spacing is "
            f"{1000 / pacing.global_per_second:.0f} ms); pending afterwards {summary.pending}.",
        )
    ]
