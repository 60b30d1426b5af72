"""The command line: a thin click shell over the library.

options -> settings -> one call -> echo. Every BhrDigestError becomes a plain
message and exit 1 (nothing changed); partial failures exit 3 (CONTRACT.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path

import click

from bhrdigest import __version__
from bhrdigest.errors import BhrDigestError, ConfigError
from bhrdigest.logs import configure_logging
from bhrdigest.settings import Settings

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 3


class App:
    """What every command needs, loaded on first use so `--help` stays instant."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def config(self):
        from bhrdigest.config.load import load_config

        if self.settings.config_snapshot is not None:  # a sender started by `send --workers N`
            from bhrdigest.digest.senders import read_config_snapshot

            return read_config_snapshot(self.settings.config_snapshot)
        return load_config(self.settings.config_path)

    @cached_property
    def engine(self):
        from bhrdigest.store.db import connect

        self.config  # a bad subscriptions.yaml stops the command before any database is created
        return connect(self.settings.checked_database_url())

    @cached_property
    def started(self) -> datetime:
        return datetime.now(UTC)

    def now(self) -> datetime:
        """One moment per command, so every period boundary it computes agrees."""
        return self.started


class Group(click.Group):
    """Turns our errors into a clear message and exit 1: no traceback for a user error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BhrDigestError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", metavar="PATH", help="subscriptions.yaml to use [env BHRDIGEST_CONFIG].")
@click.option("--db", metavar="URL", help="Database URL [env DATABASE_URL].")
@click.option("-v", "--verbose", count=True, help="More detail (-vv: libraries too).")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
@click.version_option(__version__, prog_name="bhrdigest")
@click.pass_context
def main(ctx: click.Context, config: str | None, db: str | None, verbose: int, quiet: bool) -> None:
    """Weekly email digests and instant Telegram alerts of Business & Human Rights
    Resource Centre news.

    Example: bhrdigest fetch && bhrdigest send --dry-run
    """
    configure_logging(verbose, quiet=quiet)
    ctx.obj = App(Settings.from_env().override(config=config, db=db))


pass_app = click.make_pass_decorator(App)


def run(coro):
    return asyncio.run(coro)


@main.command()
@pass_app
def check(app: App) -> None:
    """Validate subscriptions.yaml and the templates; name every problem.

    Example: bhrdigest --config subscriptions.yaml check
    """
    config = app.config
    from bhrdigest.digest.build import DigestRenderer

    templates = template_dir(config)
    DigestRenderer(templates).check()
    click.echo(f"{templates}: ok")
    click.echo(
        f"{config.path}: ok: {len(config.feeds)} feeds, {len(config.subscribers)} subscribers, "
        f"{len(config.catalogue.companies)} companies"
    )


def template_dir(config) -> Path:
    """templates/ beside subscriptions.yaml when staff keep their own, else the bundled ones."""
    local = config.path.parent / "templates"
    return local if (local / "digest.html.j2").exists() else bundled_path("templates")


def bundled_path(name: str) -> Path:
    """A folder shipped with the project (templates, samples)."""
    here = Path(__file__).resolve()
    for base in (here.parents[1] / "_bundled", here.parents[3]):
        if (base / name).exists():
            return base / name
    raise ConfigError(f"cannot find the bundled {name}/ folder; reinstall bhrdigest")


@main.command()
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
            click.echo(f"failed: {feed.url}: {feed.error}", err=True)
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


@main.command()
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


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable, for monitoring.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """Feeds' health, counts, the last digest run and its deliveries.

    Example: bhrdigest status --json
    """
    from bhrdigest.ops.status import collect_status, format_status

    report = collect_status(app.engine, app.config, now=app.now())
    click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str) if as_json else format_status(report))


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@pass_app
def upgrade(app: App) -> None:
    """Create or migrate the database schema.

    Example: DATABASE_URL=postgres://… bhrdigest db upgrade
    """
    from bhrdigest.store.db import open_engine
    from bhrdigest.store.db import upgrade as upgrade_schema

    before, after = upgrade_schema(open_engine(app.settings.checked_database_url()))
    if before == after:
        click.echo(f"database schema is current (version {after})")
    else:
        click.echo(f"database schema {'created' if before is None else f'upgraded from {before}'} at version {after}")


# --- digests -----------------------------------------------------------------


def make_composer(app: App, *, require_secret: bool):
    from bhrdigest.digest.run import DigestComposer

    secret = app.settings.secret
    if secret is None:
        if require_secret and app.config.sender.unsubscribe_url:
            raise ConfigError(
                "BHRDIGEST_SECRET is not set: it signs the one-click unsubscribe links that "
                "bulk mail must carry. Set it to a long random string and keep it stable."
            )
        secret = "unsigned-local-preview"  # outbox and previews only: links are not live
    from bhrdigest.digest.build import DigestRenderer
    from bhrdigest.mail.dkim import load_signer

    signer = load_signer(os.environ, from_addr=app.config.sender.from_addr)
    return DigestComposer(app.config, DigestRenderer(template_dir(app.config)), secret=secret, now=app.now(),
                          signer=signer)


@main.command()
@click.argument("email")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML.")
@pass_app
def preview(app: App, email: str, output: str | None, text: bool) -> None:
    """Render one subscriber's next digest without sending or recording anything.

    Example: bhrdigest preview alex@example.org -o alex.html
    """
    from bhrdigest.digest import run as sending
    from bhrdigest.store.subscribers import effective_config

    config, engine = app.config, app.engine
    if not any(s.email.lower() == email.lower() for s in config.subscribers):
        raise ConfigError(f"{email} is not a subscriber in {config.path}")
    config = effective_config(engine, config)  # web preferences and suppressions
    subscriber = next((s for s in config.subscribers if s.email.lower() == email.lower()), None)
    if subscriber is None:
        click.echo(f"{email} has unsubscribed or paused digests: no digest would be sent", err=True)
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
        click.echo(f"{rendered.item_count} items written to {output}", err=True)
    else:
        click.echo(content)


@main.command()
@click.option("--outbox", metavar="DIR", help="Where to write the digests [default: OUTBOX/demo].")
@pass_app
def demo(app: App, outbox: str | None) -> None:
    """The whole pipeline offline on the bundled sample feeds, digests written to a folder.

    Uses a throwaway database, so it can be run again and again.

    Example: bhrdigest demo && open outbox/demo/*.html
    """
    import tempfile

    from bhrdigest.digest import run as sending
    from bhrdigest.ingest.pipeline import fetch_once
    from bhrdigest.store import ledger
    from bhrdigest.store.components import load_components
    from bhrdigest.store.db import connect

    if not app.settings.config_path.exists():
        app.settings = app.settings.override(config=str(bundled_path("subscriptions.yaml")))
    config, now = app.config, app.now()
    folder = Path(outbox) if outbox else app.settings.outbox / "demo"
    with tempfile.TemporaryDirectory() as tmp:
        engine = connect(f"sqlite:///{tmp}/demo.db")
        summary = run(fetch_once(engine, config, now=now))
        click.echo(summary.line())
        components = load_components(engine)
        click.echo(f"\nunderstood {len(components)} components:")
        for component in components:
            click.echo(f"- [{component.kind.value}] {component.title}")
            for label, values in (("companies", component.companies), ("places", component.countries),
                                  ("regions", component.regions), ("topics", component.topics),
                                  ("translations", [t.language for t in component.translations])):
                if values:
                    click.echo(f"    {label}: {', '.join(values)}")
        run_ = ledger.open_run(engine, now=now + timedelta(seconds=1))  # just after the fetch
        plan = sending.plan_run(engine, config.subscribers, period_start=run_.period_start,
                                period_end=run_.period_end, max_items=config.digest.max_items)
        composer = make_composer(app, require_secret=False)
        outbox = sending.Outbox(folder, html_copies=True)
        result = run(sending.deliver_run(engine, run_, plan, composer, outbox))
        engine.dispose()
    click.echo(f"\n{result.line()}")
    for email, path, size in outbox.written:
        click.echo(f"  {email:<36} {size / 1024:6.1f} KB  {path.with_suffix('.html')}")
    if outbox.written:
        first = outbox.written[0][1].with_suffix(".html")
        click.echo(f"\nOpen {first} in a browser, or the .eml files beside it in a mail client.")


# --- operations ----------------------------------------------------------------

from bhrdigest.ops.doctor import doctor as doctor_command  # noqa: E402 - registered on main; imports no cli

main.add_command(doctor_command)


# --- Telegram ----------------------------------------------------------------


def telegram_sender(app: App):
    """The Bot API client, or None (with a clear warning) when no token is set."""
    if not app.settings.telegram_token:
        click.echo("warning: TELEGRAM_BOT_TOKEN is not set: Telegram alerts are skipped "
                   "(digests are not affected)", err=True)
        return None
    from bhrdigest.telegram.client import TelegramSender

    return TelegramSender(app.settings.telegram_token, app.settings.telegram_api_url)


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the queued messages instead of sending them.")
@pass_app
def alert(app: App, dry_run: bool) -> None:
    """Send pending instant Telegram alerts once, then exit.

    Example: bhrdigest fetch && bhrdigest alert
    """
    from bhrdigest.worker import run_alerts

    config, engine = app.config, app.engine
    sender = None if dry_run else telegram_sender(app)
    if sender is None and not dry_run:
        return

    async def go():
        if sender is None:
            return await run_alerts(engine, None, subscribers=config.subscribers, dry_run=True)
        async with sender:
            return await run_alerts(engine, sender, subscribers=config.subscribers)

    summary = run(go())
    for chat_id, text in summary.previews:
        click.echo(f"--- chat {chat_id}\n{text}")
    click.echo(summary.line())
    if summary.failed or summary.gone:
        sys.exit(EXIT_PARTIAL)


@main.command()
@click.option("--interval", type=float, metavar="MINUTES",
              help="Minutes between fetches [default: worker.interval_minutes in the YAML].")
@pass_app
def worker(app: App, interval: float | None) -> None:
    """Long-running: fetch every N minutes, send instant alerts, answer bot commands.

    Stops cleanly on SIGTERM or Ctrl-C, finishing the messages in flight.

    Example: bhrdigest worker --interval 10
    """
    from bhrdigest.ingest.pipeline import fetch_once
    from bhrdigest.worker import run_worker

    config, engine, settings = app.config, app.engine, app.settings
    minutes = interval or config.worker_interval_minutes

    async def fetch() -> tuple[str, ...]:
        summary = await fetch_once(engine, config, now=datetime.now(UTC), user_agent=settings.user_agent)
        return summary.new_keys

    async def go():
        sender = telegram_sender(app)
        options = dict(fetch_once=fetch, engine=engine, catalogue=config.catalogue,
                       subscribers=config.subscribers, interval=minutes * 60)
        if sender is None:
            return await run_worker(sender=None, **options)
        async with sender:
            return await run_worker(sender=sender, **options)

    click.echo(f"worker: fetching every {minutes:g} minutes; stop with Ctrl-C or SIGTERM", err=True)
    run(go())


# --- commands kept in modules of their own (they import this module's App and helpers)
from bhrdigest.cli.send import send  # noqa: E402

main.add_command(send)

# --- web commands (registered from bhrdigest.cli.web)
from bhrdigest.cli import web as web_commands  # noqa: E402 - after main exists

main.add_command(web_commands.web)
main.add_command(web_commands.subscribers)
main.add_command(web_commands.unsubscribe)
