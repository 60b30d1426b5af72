"""`fetch` and `components`: reading the feeds and what came in."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, time

import click

from bhrdigest.cli.app import EXIT_PARTIAL, App, pass_app, run
from bhrdigest.redact import display_url


@click.command()
@click.option("--force", is_flag=True, help="Fetch feeds that are backing off after errors too.")
@pass_app
def fetch(app: App, force: bool) -> None:
    """Fetch every feed once (conditional GET) and store new and updated components.

    Example: bhrdigest fetch
    """
    from bhrdigest.ingest.pipeline import fetch_once

    summary = run(fetch_once(app.engine, app.config, now=app.now(), user_agent=app.settings.user_agent,
                             force=force))
    for feed in summary.feeds:
        if feed.outcome == "failed":
            click.echo(f"failed: {display_url(feed.url)}: {feed.error}", err=True)
    click.echo(summary.line())
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use a date like 2026-11-21 or 2026-11-21T09:00") from None
    if isinstance(moment, date) and not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option("--since", metavar="DATE", help="Only components first seen on or after DATE.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_app
def components(app: App, since: str | None, as_json: bool) -> None:
    """List stored components, oldest first.

    Example: bhrdigest components --since 2026-11-21 --json
    """
    from bhrdigest.store.components import load_components

    for component in load_components(app.engine, seen_since=parse_since(since)):
        if as_json:
            click.echo(json.dumps(component.to_json(), ensure_ascii=False))
            continue
        day = component.published.date().isoformat() if component.published else "no date   "
        click.echo(f"{day}  {component.kind.value:<20}  {component.title}")
        tags = [("companies", component.companies), ("places", component.countries or component.regions),
                ("topics", component.topics)]
        details = "; ".join(f"{name}: {', '.join(values)}" for name, values in tags if values)
        if details:
            click.echo(f"{'':12}{details}")
