"""`bhrdigest send`: plan a digest run, confirm, then deliver it exactly once each.

The orchestration around the library (digest/run.py): the confirmation, progress,
Ctrl-C/SIGTERM handling, sender processes for --workers, test sends and the summary.
Assembled into the command line by cli/main.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bhrdigest.cli.app import EXIT_PARTIAL, App, make_composer, pass_app, run
from bhrdigest.errors import ConfigError, TransientDeliveryError

if TYPE_CHECKING:  # imported on first use, so `--help` stays instant
    import sqlalchemy as sa

    from bhrdigest.digest.run import Batching, DigestComposer, Outbox, Plan, RunSummary
    from bhrdigest.digest.senders import SenderLimits
    from bhrdigest.mail.smtp import SendResult, SmtpSender, SmtpTarget

    Fleet = tuple[int, Callable[[int], list[str]]]  # sender processes, and the command of each


def open_sender(
    app: App, outbox: str | None, *, connections: int, per_second: float | None, per_hour: int | None
) -> tuple[Outbox | SmtpSender, SmtpTarget | None]:
    from bhrdigest.digest.run import Outbox

    if not app.settings.smtp_url:
        return Outbox(Path(outbox) if outbox else app.settings.outbox), None
    from bhrdigest.mail.smtp import SmtpSender
    from bhrdigest.mail.target import parse_smtp_url

    target = parse_smtp_url(app.settings.smtp_url)
    sender = SmtpSender(target, connections=connections, per_second=per_second, per_hour=per_hour)
    return sender, target


def describe_plan(plan: Plan) -> str:
    return (
        f"period {plan.period_start:%Y-%m-%d %H:%M} to {plan.period_end:%Y-%m-%d %H:%M} UTC: "
        f"{plan.component_count} new components; {len(plan.recipients)} digests to send "
        f"({plan.item_count} items); {plan.already_delivered} subscribers already have theirs; "
        f"{plan.nothing_new} with nothing new"
    )


@click.command()
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
    from bhrdigest.digest import run as sending
    from bhrdigest.digest.senders import SenderLimits
    from bhrdigest.store.subscribers import (
        effective_config,  # web preferences and suppressions
    )

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
    if isinstance(sender, sending.Outbox):
        where = f"the outbox {sender.folder}"
    else:
        where = f"{sender.target.host}:{sender.target.port}"
    if not plan.recipients and not resend_unknown:
        click.echo("nothing to send")
    if not yes and plan.recipients and not click.confirm(f"Send {len(plan.recipients)} digests via {where}?"):
        raise click.Abort()
    fleet = None
    if workers > 1:
        from bhrdigest.digest.senders import worker_command

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


def report_summary(summary: RunSummary) -> None:
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


async def deliver(app: App, engine: sa.Engine, plan: Plan, composer: DigestComposer, sender: Outbox | SmtpSender,
                  target: SmtpTarget | None, resend_unknown: bool, connections: int, *,
                  batching: Batching | None = None, fleet: Fleet | None = None) -> RunSummary:
    """Open (or resume) the run, queue its recipients, then send: here, or in `fleet` processes."""
    from bhrdigest.digest import run as sending
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
def stopping_on_signals(stop: asyncio.Event) -> Iterator[None]:
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


async def send_in_processes(
    app: App, engine: sa.Engine, run_id: int, fleet: Fleet, progress: Callable[[int], None], stop: asyncio.Event
) -> RunSummary:
    from bhrdigest.digest.senders import child_environment, config_snapshot, run_workers

    workers, command = fleet
    with config_snapshot(app.config) as snapshot:
        env = child_environment(app.settings.checked_database_url(), app.settings.config_path, snapshot)
        return await run_workers(engine, run_id, workers, command(run_id), env=env, now=app.now(),
                                 progress=progress, stop=stop)  # fmt: skip


def send_as_worker(app: App, run_id: int | None, outbox: str | None, limits: SenderLimits, batching: Batching) -> None:
    """`send --worker-only`: one more sender of an unfinished run; a JSON summary on stdout."""
    from bhrdigest.digest import run as sending
    from bhrdigest.store import ledger

    engine = app.engine
    run_ = ledger.get_run(engine, run_id) if run_id is not None else ledger.last_run(engine)
    if run_ is None or run_.finished_at is not None:
        click.echo(json.dumps(sending.RunSummary(run_id=run_id, finished=True).to_json()))
        return
    composer = make_composer(app, require_secret=bool(app.settings.smtp_url))
    sender, target = open_sender(app, outbox, connections=limits.connections, per_second=limits.per_second,
                                 per_hour=limits.per_hour)

    async def go() -> RunSummary:
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


def send_tests(app: App, emails: Iterable[str], outbox: str | None, *, connections: int, per_second: float | None,
               per_hour: int | None) -> None:
    from bhrdigest.digest import run as sending
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
    sender, target = open_sender(app, outbox, connections=connections, per_second=per_second, per_hour=per_hour)

    async def go() -> list[SendResult]:
        if target is not None:
            await sender.check()
        try:
            return [await sender.send(composer.compose(p, run_id=0)[1]) for p in plan.digests]
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


