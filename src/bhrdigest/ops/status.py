"""`bhrdigest status`: feeds' health, counts, the last digest run and its deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bhrdigest.store import alert_queue as alert_store
from bhrdigest.store import components as component_store
from bhrdigest.store import ledger

if TYPE_CHECKING:
    from bhrdigest.config.load import Config


def collect_status(engine: sa.Engine, config: Config, *, now: datetime) -> dict:
    configured = {feed.url for feed in config.feeds}
    feeds = []
    for row in component_store.feed_rows(engine):
        if row["url"] not in configured:
            continue
        health = "broken" if row["error_count"] else "ok" if row["last_ok_at"] else "never fetched"
        feeds.append(
            {
                "url": row["url"],
                "health": health,
                "errors": row["error_count"],
                "last_error": row["last_error"],
                "last_ok_at": row["last_ok_at"],
                "broken_since": row["broken_since"],
                "next_check_at": row["next_check_at"],
                "components": row["component_count"],
            }
        )
    seen = {feed["url"] for feed in feeds}
    feeds += [{"url": url, "health": "never fetched", "errors": 0} for url in sorted(configured - seen)]
    run = ledger.last_run(engine)
    return {
        "now": now,
        "feeds": feeds,
        "components": component_store.count_components(engine),
        "subscribers": len(config.subscribers),
        "last_digest_run": None
        if run is None
        else {
            "id": run.id,
            "period_start": run.period_start,
            "period_end": run.period_end,
            "finished_at": run.finished_at,
            "deliveries": ledger.run_summary(engine, run.id),
        },
        "alerts": alert_store.alert_counts(engine),
    }


def format_status(report: dict) -> str:
    lines = [f"components: {report['components']}   subscribers: {report['subscribers']}", "feeds:"]
    for feed in report["feeds"]:
        detail = f"{feed.get('components', 0)} components"
        if feed["health"] == "broken":
            detail = f"{feed['errors']} errors since {feed['broken_since']:%Y-%m-%d %H:%M}: {feed['last_error']}"
        lines.append(f"  {feed['health']:<13} {feed['url']}  ({detail})")
    run = report["last_digest_run"]
    if run is None:
        lines.append("last digest run: none yet")
    else:
        state = f"finished {run['finished_at']:%Y-%m-%d %H:%M}" if run["finished_at"] else "unfinished"
        counts = ", ".join(f"{status} {count}" for status, count in run["deliveries"].items())
        lines.append(f"last digest run: #{run['id']} {state}; deliveries: {counts}")
    counts = ", ".join(f"{status} {count}" for status, count in report["alerts"].items()) or "none"
    lines.append(f"telegram alerts: {counts}")
    return "\n".join(lines)
