"""The command line: a thin click shell over the library.

options -> settings -> one call -> echo. Every BhrDigestError becomes a plain
message and exit 1 (nothing changed); partial failures exit 3 (CONTRACT.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path

import click

from bhrdigest import __version__
from bhrdigest.errors import BhrDigestError, ConfigError, TransientDeliveryError
from bhrdigest.logs import configure_logging
from bhrdigest.settings import Settings

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 3


class App:
    """What every command needs, loaded on first use so `--help` stays instant."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def config(self):
        from bhrdigest.config import load_config

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
    from bhrdigest.digests import DigestRenderer

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
    for base in (here.parent / "_bundled", here.parents[2]):
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
    from bhrdigest.pipeline import fetch_once

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
    from bhrdigest.status import collect_status, format_status

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
    from bhrdigest.sending import DigestComposer

    secret = app.settings.secret
    if secret is None:
        if require_secret and app.config.sender.unsubscribe_url:
            raise ConfigError(
                "BHRDIGEST_SECRET is not set: it signs the one-click unsubscribe links that "
                "bulk mail must carry. Set it to a long random string and keep it stable."
            )
        secret = "unsigned-local-preview"  # outbox and previews only: links are not live
    from bhrdigest.digests import DigestRenderer

    from bhrdigest.dkim import load_signer

    signer = load_signer(os.environ, from_addr=app.config.sender.from_addr)
    return DigestComposer(app.config, DigestRenderer(template_dir(app.config)), secret=secret, now=app.now(),
                          signer=signer)


def open_sender(app: App, outbox: str | None, *, connections: int, per_second: float | None, per_hour: int | None):
    from bhrdigest.sending import Outbox

    if not app.settings.smtp_url:
        return Outbox(Path(outbox) if outbox else app.settings.outbox), None
    from bhrdigest.delivery.smtp import SmtpSender, parse_smtp_url

    target = parse_smtp_url(app.settings.smtp_url)
    sender = SmtpSender(target, connections=connections, per_second=per_second, per_hour=per_hour)
    return sender, target


def describe_plan(plan) -> str:
    return (
        f"period {plan.period_start:%Y-%m-%d %H:%M} to {plan.period_end:%Y-%m-%d %H:%M} UTC: "
        f"{plan.component_count} new components; {len(plan.recipients)} digests to send "
        f"({plan.item_count} items); {plan.already_delivered} subscribers already have theirs; "
        f"{plan.nothing_new} with nothing new"
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="Render every digest to files with a size report; record nothing.")
@click.option("--only", "only", multiple=True, metavar="EMAIL",
              help="Send a real test of this subscriber's digest to them; mark nothing delivered.")
@click.option("--outbox", metavar="DIR", help="Folder for .eml files when no SMTP_URL is set [env BHRDIGEST_OUTBOX].")
@click.option("--yes", is_flag=True, help="Do not ask before sending.")
@click.option("--resend-unknown", is_flag=True,
              help="Also re-send digests whose fate is unknown after an interrupted run.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, envvar="SEND_WORKERS",
              help="Sender processes sharing the run, each rendering on its own core [env SEND_WORKERS].")
@click.option("--connections", default=4, show_default=True, envvar="SMTP_CONNECTIONS",
              help="SMTP connections kept open and reused, per sender process [env SMTP_CONNECTIONS].")
@click.option("--rate", type=float, envvar="SMTP_RATE", metavar="PER_SECOND",
              help="At most this many messages a second, all workers together [env SMTP_RATE].")
@click.option("--hourly-limit", type=int, envvar="SMTP_HOURLY_LIMIT", metavar="N",
              help="At most N messages an hour, all workers together [env SMTP_HOURLY_LIMIT].")
@click.option("--worker-only", is_flag=True, hidden=True,
              help="Join the unfinished run as one more sender, without planning; print a JSON summary.")
@click.option("--run-id", type=int, hidden=True, help="With --worker-only: the run to join.")
@click.option("--lease", type=click.FloatRange(min=0.5), default=60.0, hidden=True, envvar="SEND_LEASE",
              help="Seconds a dead sender's batch stays its own before another takes it over.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=200, hidden=True,
              help="Recipients a sender claims at once.")
@pass_app
@click.pass_context
def send(ctx: click.Context, app: App, dry_run: bool, only: tuple[str, ...], outbox: str | None, yes: bool,
         resend_unknown: bool, workers: int, connections: int, rate: float | None, hourly_limit: int | None,
         worker_only: bool, run_id: int | None, lease: float, batch_size: int) -> None:
    """Build and deliver this period's digest to every email subscriber, exactly once each.

    Without SMTP_URL, digests are written to the outbox folder as .eml files.
    Re-running after a failure or interruption continues the same run: nobody
    gets a second digest and nobody is skipped. Several `send`s at once, here
    (--workers) or on other machines, share the run: each claims batches of it.

    Example: bhrdigest send --dry-run && bhrdigest send --yes --workers 4
    """
    from bhrdigest import sending
    from bhrdigest.send_workers import SenderLimits
    from bhrdigest.store.subscribers import effective_config  # web preferences and suppressions

    app.config = effective_config(app.engine, app.config)  # web preferences and suppressions

    limits = SenderLimits(connections, rate, hourly_limit)
    if only:
        return send_tests(app, only, outbox, connections=connections, per_second=rate, per_hour=hourly_limit)
    batching = sending.Batching(size=batch_size, lease=lease)
    if worker_only:
        return send_as_worker(app, run_id, outbox, limits, batching)
    config, engine = app.config, app.engine
    start, end = sending.planned_period(engine, now=app.now(), first_period_days=config.digest.period_days)
    plan = sending.plan_run(engine, config.subscribers, period_start=start, period_end=end, keep_digests=dry_run,
                              max_items=config.digest.max_items)
    click.echo(describe_plan(plan))
    if dry_run:
        folder = Path(outbox) if outbox else app.settings.outbox / "dry-run"
        report = sending.render_previews(make_composer(app, require_secret=False), plan.digests, folder)
        for email, path, items, size in report:
            click.echo(f"  {email:<40} {items:>3} items  {size / 1024:6.1f} KB  {path}")
        if report:
            click.echo(f"dry run: {len(report)} digests written to {folder}; largest "
                       f"{max(r[3] for r in report) / 1024:.1f} KB; nothing recorded")
        return
    composer = make_composer(app, require_secret=bool(app.settings.smtp_url))
    sender, target = open_sender(app, outbox, connections=connections, per_second=rate, per_hour=hourly_limit)
    where = f"{target.host}:{target.port}" if target else f"the outbox {sender.folder}"
    if not plan.recipients and not resend_unknown:
        click.echo("nothing to send")
    if not yes and plan.recipients and not click.confirm(f"Send {len(plan.recipients)} digests via {where}?"):
        raise click.Abort()
    fleet = None
    if workers > 1:
        from bhrdigest.send_workers import worker_command

        verbosity = ctx.parent.params if ctx.parent else {}
        flags = ["-v"] * verbosity.get("verbose", 0) + (["-q"] if verbosity.get("quiet") else [])
        fleet = (workers, lambda run_id: worker_command(run_id, workers, limits, batching, outbox=outbox,
                                                        verbosity=flags))
    try:
        summary = run(deliver(app, engine, plan, composer, sender, target, resend_unknown, connections,
                              batching=batching, fleet=fleet))
    except RelayLost as exc:  # partly done: what went out is recorded, the rest stays queued
        click.echo(f"error: {exc.__cause__}\nthe run stays open: run `bhrdigest send` again to finish it; "
                   "`bhrdigest status` shows what was sent", err=True)
        sys.exit(EXIT_PARTIAL)
    report_summary(summary)


class RelayLost(Exception):
    """The relay became unusable after the run had begun (exit 3, not 1)."""


def report_summary(summary) -> None:
    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    if summary.interrupted:
        click.echo("interrupted: the digests not yet sent stay queued; run `bhrdigest send` again to finish "
                   "the run", err=True)
    if summary.unknown:
        click.echo(f"{summary.unknown} digests of unknown fate (a send was interrupted): see `bhrdigest status`; "
                   "re-send them with `bhrdigest send --resend-unknown`", err=True)
    click.echo(summary.line())
    if not summary.ok:
        sys.exit(EXIT_PARTIAL)


async def deliver(app, engine, plan, composer, sender, target, resend_unknown: bool, connections: int, *,
                  batching=None, fleet=None):
    """Open (or resume) the run, queue its recipients, then send: here, or in `fleet` processes."""
    from bhrdigest import sending
    from bhrdigest.store import ledger

    if target is not None:
        await sender.check()  # a dead relay or bad credentials: say so before anything is claimed
    config = app.config
    if resend_unknown and (last := ledger.last_run(engine)) is not None:
        count = ledger.retry_unknown(engine, last.id)  # reopens that run if it had finished
        click.echo(f"re-sending {count} digests of unknown fate")
    run_ = ledger.open_run(engine, now=app.now(), first_period_days=config.digest.period_days)
    if (run_.period_start, run_.period_end) != (plan.period_start, plan.period_end) or resend_unknown:
        plan = sending.plan_run(engine, config.subscribers, period_start=run_.period_start,
                                period_end=run_.period_end, keep_digests=False,
                                max_items=config.digest.max_items)
    ledger.enqueue(engine, run_.id, plan.recipients, now=app.now())
    ledger.requeue_failed(engine, run_.id, now=app.now())
    queued = ledger.outstanding(engine, run_.id)
    stop = asyncio.Event()
    with click.progressbar(length=queued, label="sending", file=sys.stderr) as bar, stopping_on_signals(stop):
        try:
            if fleet is not None:
                return await send_in_processes(app, engine, run_.id, fleet, bar.update, stop)
            return await sending.work_run(engine, run_, composer, sender, subscribers=config.subscribers,
                                          concurrency=connections, batching=batching,
                                          on_result=lambda _result: bar.update(1), stop=stop)
        except TransientDeliveryError as exc:
            raise RelayLost() from exc
        finally:
            if target is not None:
                await sender.aclose()


@contextlib.contextmanager
def stopping_on_signals(stop: asyncio.Event):
    """Ctrl-C or SIGTERM: finish the messages in flight, record them, then stop; twice: at once."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def handle(sig: signal.Signals) -> None:
        if stop.is_set():
            for each in signals:
                loop.remove_signal_handler(each)
            signal.raise_signal(sig)  # the default action now: KeyboardInterrupt, or termination
            return
        click.echo(f"\n{sig.name}: finishing the digests in flight, then stopping (again to stop at once)",
                   err=True)
        stop.set()

    for each in signals:
        loop.add_signal_handler(each, handle, each)
    try:
        yield
    finally:
        for each in signals:
            loop.remove_signal_handler(each)


async def send_in_processes(app, engine, run_id: int, fleet, progress, stop: asyncio.Event):
    from bhrdigest.send_workers import child_environment, run_workers

    workers, command = fleet
    env = child_environment(app.settings.checked_database_url(), app.settings.config_path)
    return await run_workers(engine, run_id, workers, command(run_id), env=env, now=app.now(), progress=progress,
                             stop=stop)


def send_as_worker(app: App, run_id: int | None, outbox: str | None, limits, batching) -> None:
    """`send --worker-only`: one more sender of an unfinished run; a JSON summary on stdout."""
    from bhrdigest import sending
    from bhrdigest.store import ledger

    engine = app.engine
    run_ = ledger.get_run(engine, run_id) if run_id is not None else ledger.last_run(engine)
    if run_ is None or run_.finished_at is not None:
        click.echo(json.dumps(sending.RunSummary(run_id=run_id, finished=True).to_json()))
        return
    composer = make_composer(app, require_secret=bool(app.settings.smtp_url))
    sender, target = open_sender(app, outbox, connections=limits.connections, per_second=limits.per_second,
                                 per_hour=limits.per_hour)

    async def go():
        if target is not None:
            await sender.check()
        stop = asyncio.Event()
        try:
            with stopping_on_signals(stop):
                return await sending.work_run(engine, run_, composer, sender, subscribers=app.config.subscribers,
                                              concurrency=limits.connections, batching=batching, stop=stop)
        finally:
            if target is not None:
                await sender.aclose()

    summary = run(go())
    click.echo(json.dumps(summary.to_json()))
    if not summary.ok:
        sys.exit(EXIT_PARTIAL)


def send_tests(app: App, emails, outbox, **limits) -> None:
    from bhrdigest import sending

    config, engine = app.config, app.engine
    wanted = {email.lower() for email in emails}
    known = {s.email.lower() for s in config.subscribers}
    if unknown := sorted(wanted - known):
        raise ConfigError(f"not a subscriber in {config.path}: {', '.join(unknown)}")
    start, end = sending.planned_period(engine, now=app.now(), first_period_days=config.digest.period_days)
    subscribers = [s for s in config.subscribers if s.email.lower() in wanted]
    plan = sending.plan_run(engine, subscribers, period_start=start, period_end=end,
                            max_items=config.digest.max_items)
    composer = make_composer(app, require_secret=bool(app.settings.smtp_url))
    sender, target = open_sender(app, outbox, **limits)

    async def go():
        if target is not None:
            await sender.check()
        try:
            return [await sender.send(composer.message(p, composer.render(p), run_id=0)) for p in plan.digests]
        finally:
            if target is not None:
                await sender.aclose()

    results = run(go())
    for planned, result in zip(plan.digests, results, strict=True):
        click.echo(f"test {result.status}: {planned.subscriber.email}" + (f": {result.error}" if result.error else ""))
    for email in sorted(wanted - {p.subscriber.email.lower() for p in plan.digests}):
        click.echo(f"nothing new for {email} in this period: no test sent")
    click.echo("test sends are not recorded: the real `send` still delivers to these subscribers")
    if any(r.status != "sent" for r in results):
        sys.exit(EXIT_PARTIAL)


@main.command()
@click.argument("email")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML.")
@pass_app
def preview(app: App, email: str, output: str | None, text: bool) -> None:
    """Render one subscriber's next digest without sending or recording anything.

    Example: bhrdigest preview alex@example.org -o alex.html
    """
    from bhrdigest import sending

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

    from bhrdigest import sending
    from bhrdigest.pipeline import fetch_once
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

from bhrdigest.doctor import doctor as doctor_command  # noqa: E402 - registered on main; imports no cli

main.add_command(doctor_command)


# --- Telegram ----------------------------------------------------------------


def telegram_sender(app: App):
    """The Bot API client, or None (with a clear warning) when no token is set."""
    if not app.settings.telegram_token:
        click.echo("warning: TELEGRAM_BOT_TOKEN is not set: Telegram alerts are skipped "
                   "(digests are not affected)", err=True)
        return None
    from bhrdigest.delivery.telegram import TelegramSender

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

    Stops cleanly on SIGTERM or Ctrl-C, finishing the message in flight.

    Example: bhrdigest worker --interval 10
    """
    from bhrdigest.pipeline import fetch_once
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


# --- web commands (registered from bhrdigest.web.commands)
from bhrdigest.web import commands as web_commands  # noqa: E402 - after main exists; web imports no cli

main.add_command(web_commands.web)
main.add_command(web_commands.subscribers)
main.add_command(web_commands.unsubscribe)
