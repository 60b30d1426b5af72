"""`bhrdigest send`: plan a digest run, check, ask, then deliver it exactly once each.

The command line around the library: the options checked against each other, the plan
and what could go wrong shown before the question, progress, Ctrl-C/SIGTERM, sender
processes for --workers and the summary. What is to be sent: digest/sendplan.py; the
checks: ops/preflight.py; dry runs and test sends: digest/rehearsal.py; the sending
itself: digest/run.py. Assembled into the command line by cli/main.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa

from bhrdigest.cli.app import EXIT_PARTIAL, EXIT_USAGE, App, ask, make_composer, pass_app, run
from bhrdigest.errors import ConfigError, TransientDeliveryError
from bhrdigest.redact import redact_text
from bhrdigest.wording import counted

if TYPE_CHECKING:
    from bhrdigest.config.load import Config
    from bhrdigest.digest.build import PlannedDigest
    from bhrdigest.digest.compose import DigestComposer
    from bhrdigest.digest.run import Batching, RunSummary
    from bhrdigest.digest.senders import SenderLimits
    from bhrdigest.digest.sendplan import SendPlan
    from bhrdigest.mail.outbox import Outbox
    from bhrdigest.mail.smtp import SmtpSender
    from bhrdigest.mail.target import SmtpTarget

    Fleet = tuple[int, Callable[[int], list[str]]]  # sender processes, and the command of each

SHOWN = 20  # addresses listed on the terminal; `status --json` has them all


def open_sender(app: App, outbox: str | None, limits: SenderLimits) -> tuple[SmtpSender | Outbox, SmtpTarget | None]:
    """(sender, SMTP target) for a real send: SMTP_URL, or the folder staff named with --outbox.

    Never the silent fallback of a missing SMTP_URL: a run written to files counts as
    delivered, and the real run would then have nobody left to mail.
    """
    if app.settings.smtp_url:
        if outbox:
            raise ConfigError("--outbox DIR writes the digests as files, but SMTP_URL is set too: drop --outbox "
                              "to mail them, or unset SMTP_URL to write this run to files")  # fmt: skip
        from bhrdigest.mail.smtp import SmtpSender
        from bhrdigest.mail.target import parse_smtp_url

        target = parse_smtp_url(app.settings.smtp_url)
        sender = SmtpSender(target, connections=limits.connections, per_second=limits.per_second,
                            per_hour=limits.per_hour)  # fmt: skip
        return sender, target
    if not outbox:
        raise ConfigError("SMTP_URL is not set, so there is no relay to mail the digests through: set it "
                          "(e.g. smtp://user:pass@smtp.example.org:587), or pass --outbox DIR to write this run "
                          "as .eml files and record it as delivered. `send --dry-run` writes files and records "
                          "nothing.")  # fmt: skip
    from bhrdigest.mail.outbox import Outbox

    return Outbox(Path(outbox)), None


def check_options(*, dry_run: bool, only: Sequence[str], to: str | None, resend_unknown: bool,
                  worker_only: bool) -> None:  # fmt: skip
    """Refuse what cannot be meant together, before anything is read or sent."""
    from bhrdigest.config.load import address_problem

    if worker_only and (dry_run or only or to or resend_unknown):
        raise ConfigError("--worker-only joins a run as one more sender (`send --workers` starts them): "
                          "it takes no --dry-run, --only, --to or --resend-unknown")  # fmt: skip
    if to is not None and not only:
        raise ConfigError("--to ADDRESS mails a test of a subscriber's digest: say whose with --only, e.g. "
                          "`bhrdigest send --only alex@example.org --to me@example.org`")  # fmt: skip
    if to is not None and (reason := address_problem(to.strip())):
        raise ConfigError(f"--to {to!r} {reason}")
    if only and resend_unknown:
        raise ConfigError("--only sends tests, which record nothing; --resend-unknown belongs to a real run: "
                          "use one or the other")  # fmt: skip


def list_addresses(heading: str, emails: Sequence[str]) -> None:
    more = f" and {len(emails) - SHOWN} more" if len(emails) > SHOWN else ""
    click.echo(f"{heading}: {', '.join(emails[:SHOWN])}{more}")


@click.command()
@click.option("--dry-run", is_flag=True,
              help="Render the digests to files with a size report; send nothing, record nothing. Wins over "
                   "every other option.")  # fmt: skip
@click.option("--only", "only", multiple=True, metavar="EMAIL",
              help="Test: mail this subscriber's digest with \"[TEST]\" in the subject (to them, or to --to); "
                   "record nothing.")  # fmt: skip
@click.option("--to", metavar="ADDRESS", help="With --only: mail the test to ADDRESS (yours) instead.")
@click.option("--outbox", metavar="DIR",
              help="Write the digests as .eml files in DIR instead of mailing them (no SMTP_URL); a real run "
                   "written there is recorded as delivered.")  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask before sending (the checks still run).")
@click.option("--resend-unknown", is_flag=True,
              help="Also re-send the last run's digests of unknown fate (listed before the question).")
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
def send(ctx: click.Context, app: App, dry_run: bool, only: tuple[str, ...], to: str | None, outbox: str | None,
         yes: bool, resend_unknown: bool, workers: int, connections: int, rate: float | None,
         hourly_limit: int | None, worker_only: bool, run_id: int | None, lease: float, batch_size: int) -> None:
    """Build and deliver this period's digest to every email subscriber, exactly once each.

    Shows the plan and what could go wrong (the relay, the signing secret, broken feeds,
    the last fetch), stops on a failure, asks, then mails over SMTP_URL. Without SMTP_URL
    a real run refuses unless --outbox DIR asks for files. Re-running after a failure or
    an interruption continues the same run: nobody gets a second digest, nobody is
    skipped. Several `send`s at once (--workers, or other machines) share the run.

    Example: bhrdigest send --dry-run && bhrdigest send --only alex@example.org --to me@example.org && bhrdigest send
    """
    from bhrdigest.digest.run import Batching
    from bhrdigest.digest.senders import SenderLimits

    check_options(dry_run=dry_run, only=only, to=to, resend_unknown=resend_unknown, worker_only=worker_only)
    limits = SenderLimits(connections, rate, hourly_limit)
    batching = Batching(size=batch_size, lease=lease)
    if worker_only:
        return send_as_worker(app, run_id, outbox, limits, batching)
    if only:
        return send_tests(app, only, to, outbox, dry_run=dry_run, limits=limits)
    verbosity = ctx.parent.params if ctx.parent else {}
    flags = ["-v"] * verbosity.get("verbose", 0) + (["-q"] if verbosity.get("quiet") else [])
    send_run(app, dry_run=dry_run, outbox=outbox, yes=yes, resend_unknown=resend_unknown, limits=limits,
             batching=batching, workers=workers, flags=flags)  # fmt: skip


def send_run(app: App, *, dry_run: bool, outbox: str | None, yes: bool, resend_unknown: bool,
             limits: SenderLimits, batching: Batching, workers: int, flags: list[str]) -> None:  # fmt: skip
    """The real run (or its dry run): plan, checks, question, delivery, summary."""
    from bhrdigest.digest import sendplan
    from bhrdigest.ops import preflight
    from bhrdigest.store.subscribers import effective_config

    config, engine = effective_config(app.engine, app.config), app.engine  # web preferences and unsubscribes
    sender, target = (None, None) if dry_run else open_sender(app, outbox, limits)
    prepared = sendplan.prepare_send(engine, config, now=app.now(), resend_unknown=resend_unknown,
                                     keep_digests=dry_run)  # fmt: skip
    show_plan(prepared, dry_run=dry_run)
    relay = target is not None and not prepared.nothing_to_do  # no connection when there is nothing to send
    checks = run(preflight.send_checks(app.settings, config, engine, now=app.now(), smtp=relay))
    for check in checks:
        click.echo(f"  {check.line()}")
    if sender is None:
        return write_previews(app, prepared.plan.digests, outbox)
    if prepared.nothing_to_do:
        click.echo("nothing to send: no run opened")
        return
    if failed := [check for check in checks if check.status == preflight.FAIL]:
        reasons = redact_text("; ".join(f"{check.name}: {check.detail}" for check in failed))
        raise ConfigError(f"not sending, nothing was changed: {reasons}")
    composer = make_composer(app, require_secret=target is not None)
    where = f"SMTP {target.address}" if target else f"files in {outbox} (--outbox: not mailed)"
    again = len(set(prepared.resend) & set(prepared.plan.recipients))
    count = f"{counted(len(prepared.plan.recipients), 'digest')}" + (f" ({again} of them again)" if again else "")
    # Nothing to send but an unfinished run: it is completed (and closed) without a question.
    if not yes and prepared.plan.recipients and not ask(f"Send {count} via {where}?", command="send"):
        click.echo("not sent; nothing was changed", err=True)
        sys.exit(EXIT_USAGE)
    send_planned(app, config, prepared, composer, sender, outbox=outbox, limits=limits, batching=batching,
                 workers=workers, flags=flags)


def send_planned(app: App, config: Config, prepared: SendPlan, composer: DigestComposer,
                 sender: SmtpSender | Outbox, *, outbox: str | None, limits: SenderLimits, batching: Batching,
                 workers: int, flags: list[str]) -> None:  # fmt: skip
    """Deliver the run staff said yes to (here, or in `workers` processes), then the summary."""
    fleet = None
    if workers > 1:
        from bhrdigest.digest.senders import worker_command

        fleet = (workers, lambda run_id: worker_command(run_id, workers, limits, batching, outbox=outbox,
                                                        verbosity=flags))
    try:
        summary = run(deliver(app, config, prepared, composer, sender, limits.connections, batching=batching,
                              fleet=fleet))  # fmt: skip
    except RelayLost as exc:  # partly done: what went out is recorded, the rest stays queued
        click.echo(f"error: {exc.__cause__}\nthe run stays open: run `bhrdigest send` again to finish it; "
                   "`bhrdigest status` shows what was sent", err=True)
        sys.exit(EXIT_PARTIAL)
    report_summary(app, summary)


def write_previews(app: App, digests: Sequence[PlannedDigest], outbox: str | None, *, test: bool = False,
                   to: str | None = None) -> None:  # fmt: skip
    """The dry run: each digest to files (as its test send to `to` would be), with a size report."""
    from bhrdigest.digest import rehearsal

    folder = Path(outbox) if outbox else app.settings.outbox / "dry-run"
    composer = make_composer(app, require_secret=False)
    report = rehearsal.render_previews(composer, digests, folder, test=test, to=to)
    for email, path, items, size in report:
        click.echo(f"  {email:<40} {items:>3} items  {size / 1024:6.1f} KB  {path}")
    largest = f"; largest {max(r[3] for r in report) / 1024:.1f} KB" if report else ""
    kind = "test digests" if test else "digests"
    click.echo(f"dry run: {len(report)} {kind} written to {folder}{largest}; nothing sent, nothing recorded")


def show_plan(prepared: SendPlan, *, dry_run: bool) -> None:
    from bhrdigest.digest import sendplan

    click.echo(sendplan.describe(prepared))
    if prepared.resend:
        list_addresses(f"{'would re-send' if dry_run else 're-sending'} {counted(len(prepared.resend), 'digest')} "
                       "of unknown fate (the relay may have accepted them: these may get theirs twice)",
                       prepared.resend)
    elif prepared.unknown_left:
        list_addresses(f"{counted(len(prepared.unknown_left), 'digest')} of the last run are of unknown fate, "
                       "not re-sent (add --resend-unknown to send them again)", prepared.unknown_left)


class RelayLost(Exception):
    """The relay became unusable after the run had begun (exit 3, not 1)."""


def report_summary(app: App, summary: RunSummary) -> None:
    from bhrdigest.store import ledger, runs

    for failure in summary.failures:
        click.echo(f"failed: {failure}", err=True)
    if summary.interrupted and summary.finished:  # stopped as the last digests went: nothing is left to finish
        click.echo("interrupted: every digest of the run already has an outcome (below)", err=True)
    elif summary.interrupted:
        click.echo("interrupted: the digests not yet sent stay queued; run `bhrdigest send` again to finish "
                   "the run", err=True)
    if summary.unknown and summary.run_id is not None:
        unknown = [d.email for d in runs.deliveries_in(app.engine, summary.run_id, [ledger.UNKNOWN])]
        list_addresses(f"{counted(summary.unknown, 'digest')} of unknown fate (the relay may or may not have them; "
                       "re-send with `bhrdigest send --resend-unknown`)", unknown)
    click.echo(summary.line())
    if not summary.ok:
        sys.exit(EXIT_PARTIAL)


async def deliver(app: App, config: Config, prepared: SendPlan, composer: DigestComposer,
                  sender: SmtpSender | Outbox, connections: int, *, batching: Batching,
                  fleet: Fleet | None) -> RunSummary:  # fmt: skip
    """Open (or resume) the run and queue it, then send: here, or in `fleet` processes."""
    from bhrdigest.digest import run as sending
    from bhrdigest.digest import sendplan
    from bhrdigest.store import ledger

    engine = app.engine
    run_ = sendplan.start_send(engine, config, prepared, now=app.now())
    stop, abort = asyncio.Event(), asyncio.Event()
    bar = click.progressbar(length=ledger.outstanding(engine, run_.id), label="sending", file=sys.stderr)
    with bar, stopping_on_signals(stop, abort):
        try:
            if fleet is not None:
                return await send_in_processes(app, engine, run_.id, fleet, bar.update, stop, abort)
            return await sending.work_run(engine, run_, composer, sender, subscribers=config.subscribers,
                                          concurrency=connections, batching=batching,
                                          on_result=lambda _result: bar.update(1), stop=stop, abort=abort,
                                          on_wait=say_waiting)  # fmt: skip
        except TransientDeliveryError as exc:
            raise RelayLost() from exc
        finally:
            await sender.aclose()


def say_waiting(text: str) -> None:
    click.echo(f"\n{text}", err=True)


@contextlib.contextmanager
def stopping_on_signals(stop: asyncio.Event, abort: asyncio.Event, *, announce: bool = True) -> Iterator[None]:
    """Ctrl-C or SIGTERM: finish and record the messages in flight, then stop. Twice: stop at
    once, the messages in flight recorded as of unknown fate. Either way the summary follows.

    `announce=False` for the senders of `send --workers`: their parent has said it already.
    """
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def say(text: str) -> None:
        if announce:
            click.echo(f"\n{text}", err=True)

    def handle(sig: signal.Signals) -> None:
        if not stop.is_set():
            say(f"{sig.name}: finishing the digests in flight, then stopping (again to stop at once)")
            stop.set()
        elif not abort.is_set():
            say(f"{sig.name} again: stopping now; the digests in flight are recorded as of unknown fate")
            abort.set()
        else:
            say(f"{sig.name}: already stopping; the summary follows")

    for each in signals:
        loop.add_signal_handler(each, handle, each)
    try:
        yield
    finally:
        for each in signals:
            loop.remove_signal_handler(each)


async def send_in_processes(app: App, engine: sa.Engine, run_id: int, fleet: Fleet, progress: Callable[[int], None],
                            stop: asyncio.Event, abort: asyncio.Event) -> RunSummary:  # fmt: skip
    from bhrdigest.digest.senders import child_environment, config_snapshot, run_workers

    workers, command = fleet
    with config_snapshot(app.config) as snapshot:
        env = child_environment(app.settings.checked_database_url(), app.settings.config_path, snapshot)
        return await run_workers(engine, run_id, workers, command(run_id), env=env, progress=progress, stop=stop,
                                 abort=abort)  # fmt: skip


def send_as_worker(app: App, run_id: int | None, outbox: str | None, limits: SenderLimits,
                   batching: Batching) -> None:  # fmt: skip
    """`send --worker-only`: one more sender of an unfinished run; a JSON summary on stdout."""
    from bhrdigest.digest import run as sending
    from bhrdigest.store import ledger
    from bhrdigest.store.subscribers import effective_config

    engine = app.engine
    config = effective_config(engine, app.config)
    run_ = ledger.get_run(engine, run_id) if run_id is not None else ledger.last_run(engine)
    if run_ is None or run_.finished_at is not None:
        click.echo(json.dumps(sending.RunSummary(run_id=run_id, finished=True).to_json()))
        return
    sender, target = open_sender(app, outbox, limits)
    composer = make_composer(app, require_secret=target is not None)

    async def go() -> RunSummary:
        await sender.check()
        stop, abort = asyncio.Event(), asyncio.Event()
        try:
            with stopping_on_signals(stop, abort, announce=False):
                return await sending.work_run(engine, run_, composer, sender, subscribers=config.subscribers,
                                              concurrency=limits.connections, batching=batching, stop=stop,
                                              abort=abort, on_wait=say_waiting)  # fmt: skip
        finally:
            await sender.aclose()

    summary = run(go())
    click.echo(json.dumps(summary.to_json()))
    if not summary.ok:
        sys.exit(EXIT_PARTIAL)


def send_tests(app: App, only: Sequence[str], to: str | None, outbox: str | None, *, dry_run: bool,
               limits: SenderLimits) -> None:  # fmt: skip
    """`--only EMAIL… [--to ADDRESS]`: test sends of these digests (or, with --dry-run, files); nothing recorded."""
    from bhrdigest.digest import rehearsal
    from bhrdigest.digest import run as sending

    config, engine = app.config, app.engine
    chosen = rehearsal.chosen_subscribers(engine, config, only)  # says who is unsubscribed, since when, how
    start, end = sending.planned_period(engine, now=app.now(), first_period_days=config.digest.period_days)
    plan = sending.plan_run(engine, chosen, period_start=start, period_end=end, max_items=config.digest.max_items)
    for email in sorted({s.email.lower() for s in chosen} - {p.subscriber.email.lower() for p in plan.digests}):
        click.echo(f"nothing new for {email} since {start:%Y-%m-%d %H:%M} UTC: no test of theirs")
    if dry_run:
        return write_previews(app, plan.digests, outbox, test=True, to=to)
    sender, target = open_sender(app, outbox, limits)
    composer = make_composer(app, require_secret=target is not None)

    async def go() -> list[rehearsal.Trial]:
        await sender.check()  # a dead relay or a refused login: said before anything is sent
        try:
            return await rehearsal.send_tests(composer, sender, plan.digests, to=to)
        finally:
            await sender.aclose()

    trials = run(go())
    for trial in trials:
        result = trial.result
        click.echo(f"test {result.status}: {trial.subscriber}'s digest to {trial.to}"
                   + (f": {result.error}" if result.error else ""))  # fmt: skip
    click.echo("test sends are not recorded: the real `send` still delivers these subscribers' digests")
    if any(trial.result.status != "sent" for trial in trials):
        sys.exit(EXIT_PARTIAL)
