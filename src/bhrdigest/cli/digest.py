"""`preview` and `demo`: one subscriber's next digest, and the whole pipeline offline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bhrdigest.bundled import bundled_path
from bhrdigest.cli.app import App, make_composer, pass_app, run
from bhrdigest.errors import ConfigError
from bhrdigest.wording import counted

if TYPE_CHECKING:
    from bhrdigest.config.load import FeedSource


@click.command()
@click.argument("email")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML.")
@pass_app
def preview(app: App, email: str, output: str | None, text: bool) -> None:
    """Render one subscriber's next digest without sending or recording anything.

    Example: bhrdigest preview alex@example.org -o alex.html
    """
    from bhrdigest.digest import run as sending
    from bhrdigest.digest.rehearsal import why_no_digest
    from bhrdigest.store.subscribers import subscriber_views

    config, engine = app.config, app.engine
    # As `send` sees them: the database's subscribers too, web preferences and suppressions applied.
    views = subscriber_views(engine, config.subscribers, config.catalogue, include_unlisted=False)
    view = next((view for view in views if view.email == email.strip().lower()), None)
    if view is None:
        raise ConfigError(f"{email} is not a subscriber: neither in {config.path} nor imported")
    subscriber = view.subscriber
    if view.status != "active" or subscriber is None:
        click.echo(why_no_digest(view.email, view, config.path), err=True)  # unsubscribed or paused, since when
        return
    start, end = sending.planned_period(engine, now=app.now(), first_period_days=config.digest.period_days)
    plan = sending.plan_run(engine, [subscriber], period_start=start, period_end=end,
                            max_items=config.digest.max_items)
    if not plan.digests:
        click.echo(f"nothing new for {email} since {start:%Y-%m-%d %H:%M} UTC: no digest would be sent", err=True)
        return
    rendered = make_composer(app, require_secret=False).render(plan.digests[0])
    content = rendered.text if text else rendered.html
    if output:
        Path(output).write_text(content, encoding="utf-8")
        click.echo(f"{counted(rendered.item_count, 'item')} written to {output}", err=True)
    else:
        click.echo(content)


@click.command()
@click.option("--outbox", metavar="DIR", help="Where to write the digests [default: OUTBOX/demo].")
@pass_app
def demo(app: App, outbox: str | None) -> None:
    """The whole pipeline offline on the bundled sample feeds, digests written to a folder.

    Uses a throwaway database, so it can be run again and again. Sample feeds from long ago
    are read as of the day after their newest item, so their items count as that week's news
    (otherwise every one is an earlier item newly added).

    Example: bhrdigest demo && open outbox/demo/*.html
    """
    import tempfile

    from bhrdigest.digest.run import work_run
    from bhrdigest.digest.sendplan import prepare_send, start_send
    from bhrdigest.ingest.pipeline import fetch_once
    from bhrdigest.mail.outbox import Outbox
    from bhrdigest.store.components import load_components
    from bhrdigest.store.db import connect

    if not app.settings.config_path.exists():
        app.settings = app.settings.override(config=str(bundled_path("subscriptions.yaml")))
    config = app.config
    as_of = _sample_week(config.feeds, app.now())
    if as_of is not None:
        app.started = as_of  # the one clock every part of this command reads
        click.echo(f"demo: the sample feeds' newest item is from {as_of - timedelta(days=1):%d %B %Y}: "
                   f"running as of {as_of:%d %B %Y} so they read as that week's news")
    now = app.now()
    folder = Path(outbox) if outbox else app.settings.outbox / "demo"
    with tempfile.TemporaryDirectory() as tmp:
        engine = connect(f"sqlite:///{tmp}/demo.db", create=True)
        summary = run(fetch_once(engine, config, now=now))
        click.echo(summary.line())
        components = load_components(engine)
        click.echo(f"\nunderstood {counted(len(components), 'component')}:")
        for component in components:
            click.echo(f"- [{component.kind.value}] {component.title}")
            for label, values in (("companies", component.companies), ("mentioned", component.mentions),
                                  ("places", component.countries),
                                  ("regions", component.regions), ("topics", component.topics),
                                  ("translations", [t.language for t in component.translations])):
                if values:
                    click.echo(f"    {label}: {', '.join(values)}")
        after_fetch = now + timedelta(seconds=1)  # the run's period ends just after the fetch
        run_ = start_send(engine, config, prepare_send(engine, config, now=after_fetch), now=after_fetch)
        composer = make_composer(app, require_secret=False, engine=engine)
        box = Outbox(folder, html_copies=True)
        result = run(work_run(engine, run_, composer, box))
        engine.dispose()
    click.echo(f"\n{result.line()}")
    for email, path, size in box.written:
        click.echo(f"  {email:<36} {size / 1024:6.1f} KB  {path.with_suffix('.html')}")
    if box.written:
        first = box.written[0][1].with_suffix(".html")
        click.echo(f"\nOpen {first} in a browser, or the .eml files beside it in a mail client.")


def _sample_week(feeds: Sequence[FeedSource], now: datetime) -> datetime | None:
    """The day after the newest item of the local feed files, when that is more than a week ago."""
    from bhrdigest.digest.match import EARLIER_THAN_SEEN
    from bhrdigest.errors import FeedError
    from bhrdigest.ingest.parse import parse_feed

    newest: datetime | None = None
    for feed in feeds:
        path = Path(feed.url)
        if not path.is_file():
            continue  # an http(s) feed: fetched as it is
        try:
            parsed = parse_feed(path.read_bytes(), feed_url=feed.url, now=now)
        except FeedError:
            continue  # fetch reports it
        dates = [entry.published for entry in parsed.entries if entry.published is not None]
        if dates and (newest is None or max(dates) > newest):
            newest = max(dates)
    if newest is None or now - newest < min(EARLIER_THAN_SEEN, timedelta(days=7)):
        return None
    return newest + timedelta(days=1)
