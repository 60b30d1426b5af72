"""What `send` checks before it asks "Send N digests?": everything that can fail, said first.

    smtp     the relay answers: connect, EHLO, STARTTLS, AUTH (as `doctor` checks it)  fail
    secret   BHRDIGEST_SECRET is set, when mailing over SMTP (it signs the unsubscribe links)  fail
    feed …   a configured feed that is broken, and since when; one never fetched          warn
    fetch    the age of the last successful fetch: a stopped worker means missing news    warn

A failure stops `send` before the question (exit 1, nothing changed); a warning is
shown in the plan and the question is still asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.ops.doctor import FAIL, OK, WARN, Check, smtp_checks
from bhrdigest.settings import Settings
from bhrdigest.store import components as component_store

__all__ = ["FAIL", "OK", "WARN", "Check", "feed_checks", "send_checks"]

STALE_FETCH = timedelta(hours=24)  # the worker fetches every few minutes: a day without one is news lost


async def send_checks(settings: Settings, config: Config, engine: sa.Engine, *, now: datetime,
                      smtp: bool, timeout: float = 10.0) -> list[Check]:  # fmt: skip
    """The relay and the secret (when `smtp`), then the feeds; never raises for what it finds."""
    checks = await smtp_checks(settings, config, timeout) if smtp else []
    return checks + feed_checks(engine, config, now=now)


def feed_checks(engine: sa.Engine, config: Config, *, now: datetime) -> list[Check]:
    """Broken or never-fetched feeds, and how old the last successful fetch is."""
    rows = {row["url"]: row for row in component_store.feed_rows(engine)}
    checks = []
    last_ok: datetime | None = None
    for feed in config.feeds:
        row = rows.get(feed.url)
        ok_at = row["last_ok_at"] if row else None
        if ok_at is not None and (last_ok is None or ok_at > last_ok):
            last_ok = ok_at
        if row is not None and row["error_count"]:
            since = row["broken_since"]
            when = f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
            good = f"last good fetch {ok_at:%Y-%m-%d %H:%M} UTC" if ok_at else "never fetched successfully"
            errors = f"{row['error_count']} error{'s' if row['error_count'] != 1 else ''}"
            detail = (f"broken{when} ({errors}, last: "
                      f"{row['last_error']}); {good}: what it published since is not in these digests")
            checks.append(Check(f"feed {feed.url}", WARN, detail))
        elif ok_at is None:
            checks.append(Check(f"feed {feed.url}", WARN, "never fetched: run `bhrdigest fetch`"))
    checks.append(_fetch_age(last_ok, now))
    return checks


def _fetch_age(last_ok: datetime | None, now: datetime) -> Check:
    if last_ok is None:
        return Check("fetch", WARN, "no feed was ever fetched successfully: run `bhrdigest fetch` first")
    detail = f"last successful fetch {last_ok:%Y-%m-%d %H:%M} UTC ({_ago(now - last_ok)})"
    if now - last_ok > STALE_FETCH:
        return Check("fetch", WARN, f"{detail}: is the worker running? Run `bhrdigest fetch` before sending")
    return Check("fetch", OK, detail)


def _ago(age: timedelta) -> str:
    minutes = max(0, int(age.total_seconds() // 60))
    if not minutes:
        return "just now"
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes >= size:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return f"{minutes} minute{'s' if minutes != 1 else ''} ago"

