"""`bhrdigest doctor`: is this deployment ready? Each part checked live, in plain words.

    configuration   subscriptions.yaml loads (every problem named)
    database        DATABASE_URL answers, and its schema is the one this bhrdigest needs
    smtp            SMTP_URL connects, TLS works, the credentials are accepted; the signing
                    secret the unsubscribe links need is set
    telegram        the Bot API accepts TELEGRAM_BOT_TOKEN
    feed <url>      each feed answers and parses

Nothing is changed: no schema upgrade, no mail, no message, no fetch state stored.
A part that is not configured (no SMTP_URL, no token) is a warning, not a failure:
the product runs without it, and says what it does instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bhrdigest.errors import BhrDigestError
from bhrdigest.redact import display_url, redact_text
from bhrdigest.settings import Settings
from bhrdigest.wording import counted

if TYPE_CHECKING:  # the checks import these themselves: a broken import is one failed check
    import sqlalchemy as sa

    from bhrdigest.config.load import Config

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str  # what is right, or what is wrong and what to do

    def line(self) -> str:
        return redact_text(f"{self.status.upper():<5} {self.name}: {self.detail}")

    def to_json(self) -> dict:
        return {key: redact_text(value) for key, value in asdict(self).items()}


async def run_checks(settings: Settings, *, timeout: float = 10.0) -> list[Check]:
    """Every check, in order; never raises for what it finds."""
    config, checks = _configuration(settings)
    checks.append(await _guarded("database", lambda: asyncio.to_thread(_database, settings)))
    checks += await smtp_checks(settings, config, timeout)
    checks.append(await _guarded("telegram", lambda: _telegram(settings, timeout)))
    if config is not None:
        checks += await _feeds(config, settings, timeout)
    return checks


async def _guarded(name: str, check: Callable[[], Awaitable[Check]]) -> Check:
    try:
        return await check()
    except BhrDigestError as exc:
        return Check(name, FAIL, str(exc))
    except Exception as exc:
        log.debug("%s check failed", name, exc_info=True)
        return Check(name, FAIL, f"unexpected error: {exc!r}")


def _configuration(settings: Settings) -> tuple[Config | None, list[Check]]:
    from bhrdigest.config.load import load_config

    try:
        config = load_config(settings.config_path)
    except BhrDigestError as exc:
        return None, [Check("configuration", FAIL, str(exc))]  # names the file, line and field
    detail = (f"{config.path}: {counted(len(config.feeds), 'feed')}, {counted(len(config.subscribers), 'subscriber')}, "
              f"{counted(len(config.catalogue.companies), 'company', 'companies')}")  # fmt: skip
    return config, [Check("configuration", OK, detail)]


def _database(settings: Settings) -> Check:
    from bhrdigest.store.db import SCHEMA_VERSION, current_version, open_engine

    url = settings.checked_database_url()  # a SQLite file on an ephemeral disk is refused here
    engine = open_engine(url)
    try:
        version = current_version(engine)
        kind = _database_kind(engine)
    finally:
        engine.dispose()
    if version is None:
        return Check("database", FAIL, f"{kind} answers but has no bhrdigest schema: run `bhrdigest db upgrade`")
    if version < SCHEMA_VERSION:
        return Check("database", FAIL, f"{kind} has schema version {version}, this bhrdigest needs "
                                       f"{SCHEMA_VERSION}: run `bhrdigest db upgrade`")  # fmt: skip
    if version > SCHEMA_VERSION:
        return Check("database", FAIL, f"{kind} has schema version {version}, newer than this bhrdigest "
                                       f"({SCHEMA_VERSION}): deploy the newer bhrdigest")  # fmt: skip
    if engine.dialect.name == "sqlite":
        return Check("database", WARN, f"{kind}, schema version {version}: fine for one machine and one "
                                       "worker; use PostgreSQL (DATABASE_URL) for several")  # fmt: skip
    return Check("database", OK, f"{kind}, schema version {version}")


def _database_kind(engine: sa.Engine) -> str:
    import sqlalchemy as sa

    if engine.dialect.name != "postgresql":
        return f"SQLite file {engine.url.database}"
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar()
    return f"PostgreSQL {version} at {engine.url.host or 'localhost'}"


async def smtp_checks(settings: Settings, config: Config | None, timeout: float) -> list[Check]:
    """The relay answers and logs us in; the secret the unsubscribe links need is set (also `send`'s checks)."""
    url = settings.smtp_url
    if not url:
        return [Check("smtp", WARN, "SMTP_URL is not set: `send` refuses to run until it is (or writes the "
                                    "digests as .eml files when given `--outbox DIR`)")]  # fmt: skip
    checks = [await _guarded("smtp", lambda: _smtp_session(url, timeout))]
    if config is not None and config.sender.unsubscribe_url and not settings.secret:
        checks.append(Check("secret", FAIL, "BHRDIGEST_SECRET is not set: `send` over SMTP refuses to run without "
                                            "it (it signs the one-click unsubscribe links). Set it to a long "
                                            "random string and keep it stable."))  # fmt: skip
    elif settings.secret:
        checks.append(Check("secret", OK, "BHRDIGEST_SECRET is set"))
    return checks


async def _smtp_session(smtp_url: str, timeout: float) -> Check:
    from bhrdigest.mail.smtp import SmtpSender
    from bhrdigest.mail.target import parse_smtp_url

    target = parse_smtp_url(smtp_url)
    sender = SmtpSender(target, connections=1, timeout=timeout, retries=0)
    await sender.check()  # connect, EHLO, STARTTLS, AUTH, QUIT: raises DeliveryError in plain words
    tls = {"tls": "implicit TLS", "starttls": "STARTTLS when offered", "plain": "no TLS (loopback)"}[target.security]
    login = f"logged in as {target.username}" if target.username else "no login"
    return Check("smtp", OK, f"{target.address}: connected, {tls}, {login}")


async def _telegram(settings: Settings, timeout: float) -> Check:
    if not settings.telegram_token:
        return Check("telegram", WARN, "TELEGRAM_BOT_TOKEN is not set: instant alerts are skipped and the bot "
                                       "does not answer (digests are not affected)")  # fmt: skip
    from bhrdigest.telegram.client import TelegramSender

    sender = TelegramSender(settings.telegram_token, settings.telegram_api_url, timeout=timeout)
    try:
        username = await sender.start()  # getMe
    finally:
        await sender.close()
    return Check("telegram", OK, f"the Bot API accepts the token: this is @{username}")


async def _feeds(config: Config, settings: Settings, timeout: float) -> list[Check]:
    from bhrdigest.ingest.fetch import DEFAULT_USER_AGENT, FeedState, fetch_feeds
    from bhrdigest.ingest.parse import parse_feed

    try:
        results = await fetch_feeds([FeedState(feed.url) for feed in config.feeds], now=datetime.now(UTC),
                                    user_agent=settings.user_agent or DEFAULT_USER_AGENT,
                                    connect_timeout=timeout, read_timeout=timeout, force=True)
    except Exception as exc:  # noqa: BLE001 -- reported like any other finding
        return [Check("feeds", FAIL, f"cannot fetch the feeds: {exc}")]
    checks = []
    for result in results:
        name = f"feed {display_url(result.url)}"
        if result.outcome == "failed" or result.body is None:
            checks.append(Check(name, FAIL, result.error or "no answer"))
            continue
        try:
            parsed = parse_feed(result.body, feed_url=result.url, content_type=result.content_type)
        except BhrDigestError as exc:
            checks.append(Check(name, FAIL, str(exc)))
            continue
        status = WARN if parsed.warning or not parsed.entries else OK
        detail = f"{counted(len(parsed.entries), 'item')}, “{parsed.title}”"
        if parsed.warning:
            detail += f"; {parsed.warning}"
        elif not parsed.entries:
            detail += "; the feed is empty"
        checks.append(Check(name, status, detail))
    return checks
