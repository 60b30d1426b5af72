"""`bhrdigest status`: feeds' health, counts, the last digest run and its deliveries.

The last run names the addresses whose digest failed (retried by the next `send`), was
refused for good, or is of unknown fate (re-sent only with `send --resend-unknown`);
`runs=True` adds the history of every run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.redact import display_url, redact_text
from bhrdigest.store import alert_queue as alert_store
from bhrdigest.store import bot_api, ledger, notices, roster, runs, signups
from bhrdigest.store import components as component_store
from bhrdigest.store.bounces import bounce_counts, suppression_counts
from bhrdigest.wording import counted

_BOUNCE_KINDS = ("hard", "soft", "complaint")

NAMED = (ledger.FAILED, ledger.GONE, ledger.UNKNOWN)  # the states whose addresses staff must see
SHOWN = 20  # addresses listed per state in the text; --json lists them all


def collect_status(engine: sa.Engine, config: Config, *, now: datetime, history: bool = False) -> dict:
    configured = {feed.url for feed in config.feeds}
    feeds = []
    rows = list(component_store.feed_rows(engine))
    for row in rows:
        if row["url"] not in configured:
            continue
        health = "broken" if row["error_count"] else "ok" if row["last_ok_at"] else "never fetched"
        feeds.append(
            {
                "url": display_url(row["url"]),
                "health": health,
                "errors": row["error_count"],
                "last_error": row["last_error"] and redact_text(row["last_error"]),
                "last_ok_at": row["last_ok_at"],
                "broken_since": row["broken_since"],
                "next_check_at": row["next_check_at"],
                "components": row["component_count"],
            }
        )
    seen = {row["url"] for row in rows}
    feeds += [{"url": display_url(url), "health": "never fetched", "errors": 0} for url in sorted(configured - seen)]
    run = ledger.last_run(engine)
    return {
        "now": now,
        "feeds": feeds,
        "components": component_store.count_components(engine),
        # addresses listed in the YAML or the database, one each (store/subscribers.py)
        "subscribers": len({s.email.lower() for s in config.subscribers} | roster.stored_emails(engine)),
        "last_digest_run": None
        if run is None
        else {
            "id": run.id,
            "period_start": run.period_start,
            "period_end": run.period_end,
            "finished_at": run.finished_at,
            "deliveries": ledger.run_summary(engine, run.id),
            **_addresses(engine, run.id),
        },
        "alerts": alert_store.alert_counts(engine),
        "telegram_bot_api": _bot_api(engine),
        "bounces": bounce_status(engine, now=now),
        # sign-up (store/signups.py): pending, expired (deleted by the worker), confirmed; its emails by status
        "signups": {**signups.signup_counts(engine, now=now), "emails": notices.notice_counts(engine)},
    } | ({"runs": [record.to_json() for record in runs.run_history(engine)]} if history else {})


def _addresses(engine: sa.Engine, run_id: int) -> dict[str, list[dict]]:
    """{"failed": [{"email", "error"}…], "gone": […], "unknown": […]} for the run."""
    named: dict[str, list[dict]] = {status: [] for status in NAMED}
    for delivery in runs.deliveries_in(engine, run_id, NAMED):
        named[delivery.status].append({"email": delivery.email, "error": delivery.error})
    return named


def _bot_api(engine: sa.Engine) -> dict | None:
    """What the worker last saw of the Bot API; None before any worker asked it."""
    seen = bot_api.health(engine)
    if seen is None:
        return None
    return {"state": seen.state, "down_since": seen.down_since, "last_error": seen.last_error,
            "checked_at": seen.checked_at}


def bounce_status(engine: sa.Engine, *, now: datetime) -> dict:
    """Bounces and complaints recorded in the last 7 days and all time; suppressed addresses by reason."""
    week, ever = bounce_counts(engine, since=now - timedelta(days=7)), bounce_counts(engine)
    return {
        "last_7_days": {kind: week[kind] for kind in _BOUNCE_KINDS},
        "all_time": {kind: ever[kind] for kind in _BOUNCE_KINDS},
        "suppressed": dict(sorted(suppression_counts(engine).items())),
    }


def format_bounces(bounces: dict) -> str:
    def counts(by_kind: dict) -> str:
        return ", ".join(f"{kind} {by_kind[kind]}" for kind in _BOUNCE_KINDS)

    suppressed = ", ".join(f"{reason} {n}" for reason, n in bounces["suppressed"].items()) or "none"
    return (f"bounces: last 7 days {counts(bounces['last_7_days'])}; all time {counts(bounces['all_time'])}\n"
            f"suppressed addresses: {suppressed}")


def format_status(report: dict) -> str:
    lines = [f"components: {report['components']}   subscribers: {report['subscribers']}", "feeds:"]
    for feed in report["feeds"]:
        detail = counted(feed.get("components", 0), "component")
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
        lines += _address_lines(run)
    counts = ", ".join(f"{status} {count}" for status, count in report["alerts"].items()) or "none"
    lines.append(f"telegram alerts: {counts}")
    api = report.get("telegram_bot_api")
    if api is not None and api["state"] == "down":
        lines.append(f"telegram bot api: DOWN since {api['down_since']:%Y-%m-%d %H:%M} UTC, last tried "
                     f"{api['checked_at']:%H:%M}: {api['last_error']} (alerts wait; fetching goes on)")
    elif api is not None:
        lines.append(f"telegram bot api: up (checked {api['checked_at']:%Y-%m-%d %H:%M} UTC)")
    lines.append(format_bounces(report["bounces"]))
    signup = report["signups"]
    emails = ", ".join(f"{status} {count}" for status, count in sorted(signup["emails"].items())) or "none"
    lines.append(f"sign-ups: {signup['pending']} pending, {signup['expired']} expired, {signup['confirmed']} "
                 f"confirmed; sign-up emails: {emails}")
    if "runs" in report:
        lines += _history_lines(report["runs"])
    return "\n".join(lines)


_WHAT_NEXT = {
    ledger.FAILED: "failed (the next `send` tries them again)",
    ledger.GONE: "refused for good by the relay (never retried)",
    ledger.UNKNOWN: "of unknown fate (may have arrived; re-send with `bhrdigest send --resend-unknown`)",
}


def _address_lines(run: dict) -> list[str]:
    lines = []
    for status in NAMED:
        if not (entries := run[status]):
            continue
        lines.append(f"  {len(entries)} {_WHAT_NEXT[status]}:")
        for entry in entries[:SHOWN]:
            lines.append(f"    {entry['email']}" + (f": {entry['error']}" if status != ledger.UNKNOWN else ""))
        if len(entries) > SHOWN:
            lines.append(f"    … and {len(entries) - SHOWN} more (`bhrdigest status --json` lists them all)")
    return lines


def _history_lines(history: list[dict]) -> list[str]:
    if not history:
        return ["digest runs: none yet"]
    lines = ["digest runs, newest first:"]
    for run in history:
        counts = run["deliveries"]
        finished = run["finished_at"][:16].replace("T", " ") if run["finished_at"] else "unfinished"
        lines.append(
            f"  #{run['id']:<4} period {_minute(run['period_start'])} to {_minute(run['period_end'])}  "
            f"planned {run['planned']}, sent {counts['sent']}, failed {counts['failed']}, gone {counts['gone']}, "
            f"unknown {counts['unknown']}  started {_minute(run['started_at'])}, finished {finished}"
        )
    return lines


def _minute(iso: str) -> str:
    return iso[:16].replace("T", " ")
