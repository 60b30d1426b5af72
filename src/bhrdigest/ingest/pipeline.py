"""The fetch path, read as the data flow: fetch -> parse -> tag -> store -> queue alerts.

This is the one place that ties ingest's I/O together; each stage stays pure or
single-purpose and is tested on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.config.preferences import Choices
from bhrdigest.errors import FeedError, StoreError
from bhrdigest.ingest.fetch import DEFAULT_USER_AGENT, FeedState, FetchResult, fetch_feeds, record_failure
from bhrdigest.ingest.parse import parse_feed
from bhrdigest.ingest.tagging import Tagger
from bhrdigest.model import Entry
from bhrdigest.redact import display_url
from bhrdigest.store import alert_queue as alert_store
from bhrdigest.store import components as store
from bhrdigest.store.telegram_links import sync_all_links

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    url: str
    outcome: str  # ok | not_modified | skipped | failed
    new: int = 0
    updated: int = 0
    translated: int = 0
    error: str | None = None
    left_out: int = 0  # items past max_items_per_feed, not stored


@dataclass(frozen=True, slots=True)
class FetchSummary:
    feeds: tuple[FeedOutcome, ...]
    new_keys: tuple[str, ...] = ()  # new and alertable (not a feed's backfill)
    alerts_queued: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[FeedOutcome, ...]:
        return tuple(f for f in self.feeds if f.outcome == "failed")

    def line(self) -> str:
        total = lambda attr: sum(getattr(f, attr) for f in self.feeds)  # noqa: E731
        return (
            f"fetch feeds={len(self.feeds)} new={total('new')} updated={total('updated')} "
            f"translations={total('translated')} not_modified="
            f"{sum(f.outcome == 'not_modified' for f in self.feeds)} "
            f"skipped={sum(f.outcome == 'skipped' for f in self.feeds)} failed={len(self.failed)} "
            f"alerts_queued={self.alerts_queued}{self._left_out()} in {self.seconds:.1f}s"
        )

    def _left_out(self) -> str:
        left_out = sum(f.left_out for f in self.feeds)
        return f" left_out={left_out}" if left_out else ""


async def fetch_once(
    engine: sa.Engine,
    config: Config,
    *,
    now: datetime,
    user_agent: str | None = None,
    force: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FetchSummary:
    """Fetch every configured feed once and store what is new; never raises per feed."""
    started = time.monotonic()
    tagger = Tagger(config.catalogue)
    # A YAML chat starts tracking when we first see it in the config: before this
    # fetch stores anything, so what it stores can alert that chat.
    with _alert_queue("record the chats of subscriptions.yaml"):
        alert_store.sync_yaml_chats(engine, config.subscribers, now)
    with _alert_queue("bring linked Telegram chats in step with their subscriptions"):
        sync_all_links(engine, config.subscribers, Choices(config.catalogue), now)
    states = store.load_feed_states(engine, [feed.url for feed in config.feeds])
    results = await fetch_feeds(
        list(states.values()), now=now, user_agent=user_agent or DEFAULT_USER_AGENT, force=force, transport=transport
    )
    outcomes: list[FeedOutcome] = []
    alertable: list[str] = []
    for result in results:
        outcome, keys = _store_result(engine, tagger, result, states[result.url], now=now,
                                      max_items=config.max_items_per_feed)
        outcomes.append(outcome)
        alertable.extend(keys)
    with _alert_queue("queue alerts"):
        queued = alert_store.queue_alerts(engine, alertable) if alertable else 0
    summary = FetchSummary(
        feeds=tuple(outcomes),
        new_keys=tuple(alertable),
        alerts_queued=queued,
        seconds=time.monotonic() - started,
    )
    log.info(summary.line())
    return summary


@contextmanager
def _alert_queue(step: str) -> Iterator[None]:
    """The alert store's database failures as a StoreError (store.components translates its own)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        raise StoreError(
            f"the alert queue could not {step}: {exc.orig} (check DATABASE_URL, that the database is up, "
            "writable and not locked by another process, and that `bhrdigest db upgrade` has run)"
        ) from exc


def _store_result(
    engine: sa.Engine, tagger: Tagger, result: FetchResult, before: FeedState, *, now: datetime, max_items: int
) -> tuple[FeedOutcome, tuple[str, ...]]:
    """Persist one feed's result; returns its outcome and the new keys that may raise alerts."""
    if result.outcome != "ok":
        store.save_feed_state(engine, result.state, now=now, http_status=result.http_status, ok=False)
        return FeedOutcome(result.url, result.outcome, error=result.error), ()
    try:
        parsed = parse_feed(result.body or b"", feed_url=result.state.fetch_url or result.url,
                            content_type=result.content_type)
    except FeedError as exc:
        state = record_failure(before, f"not a usable feed: {exc}", now=now)
        store.save_feed_state(engine, state, now=now, http_status=result.http_status, ok=False)
        return FeedOutcome(result.url, "failed", error=state.last_error), ()
    if parsed.warning:
        log.debug("feed %s parsed with a warning: %s", result.url, parsed.warning)
    entries = newest_entries(parsed.entries, max_items)
    left_out = len(parsed.entries) - len(entries)
    if left_out:
        log.warning("feed %s has %d items: stored the newest %d, left out %d (worker.max_items_per_feed)",
                    display_url(result.url), len(parsed.entries), len(entries), left_out)
    backfill = store.is_new_feed(engine, result.url)
    saved = store.save_components(
        engine,
        [tagger.tag(entry) for entry in entries],
        feed_url=result.url,
        now=now,
        alertable=not backfill,
    )
    store.save_feed_state(engine, result.state, now=now, http_status=result.http_status, ok=True,
                          stored=len(saved.new))
    if backfill and saved.new:
        log.info("feed %s: first fetch stored %d components as a backfill (digests only, no alerts)",
                 result.url, len(saved.new))
    outcome = FeedOutcome(result.url, "ok", len(saved.new), len(saved.updated), len(saved.translated),
                          left_out=left_out)
    return outcome, () if backfill else saved.new


def newest_entries(entries: Sequence[Entry], most: int) -> Sequence[Entry]:
    """At most `most` entries, the newest first; undated ones last, in the feed's order."""
    if len(entries) <= most:
        return entries
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda entry: entry.published or oldest, reverse=True)[:most]
