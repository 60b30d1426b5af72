"""`check`, `status`, `doctor`, `db upgrade` and `db prune`: is the configuration right, how are things going."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date

import click

from bhrdigest.cli.app import App, pass_app, template_dir
from bhrdigest.ops import doctor as doctor_checks
from bhrdigest.store.retention import KEEP_DAYS, KEEP_RUNS
from bhrdigest.wording import counted


@click.command()
@pass_app
def check(app: App) -> None:
    """Validate subscriptions.yaml, its feed files and the templates; name every problem.

    Example: bhrdigest --config subscriptions.yaml check
    """
    from bhrdigest.config.load import load_config

    config = load_config(app.settings.config_path, check_files=True)
    from bhrdigest.digest.render import DigestRenderer

    templates = template_dir(config)
    DigestRenderer(templates).check()
    click.echo(f"{templates}: ok")
    click.echo(
        f"{config.path}: ok: {counted(len(config.feeds), 'feed')}, {counted(len(config.subscribers), 'subscriber')}, "
        f"{counted(len(config.catalogue.companies), 'company', 'companies')}"
    )
    for key in ("postal_address", "privacy_url"):
        if getattr(config.sender, key) is None:
            click.echo(f"warning: {config.path}: sender.{key} is not set: anti-spam laws in many countries "
                       "require the sender's postal address and a privacy notice in bulk mail", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable, for monitoring.")
@click.option("--runs", is_flag=True, help="Also every digest run: period, planned/sent/failed/gone/unknown, "
                                           "started/finished.")  # fmt: skip
@pass_app
def status(app: App, as_json: bool, runs: bool) -> None:
    """Feeds' health, counts, the last digest run and its deliveries.

    The last run's failed, refused and unknown-fate addresses are named. Sign-ups are counted:
    pending, expired (the worker deletes them), confirmed, and their emails by state.

    Example: bhrdigest status --runs --json
    """
    from bhrdigest.ops.status import collect_status, format_status

    report = collect_status(app.engine, app.config, now=app.now(), history=runs)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=_json_value) if as_json
               else format_status(report))


def _json_value(value: object) -> str:
    """Times as ISO 8601 with the T, as `components --json` and `subscribers --json` write them."""
    return value.isoformat() if isinstance(value, date) else str(value)


@click.group()
def db() -> None:
    """Database schema commands.

    Example: bhrdigest --config /srv/digest/subscriptions.yaml db upgrade
    """


@db.command()
@pass_app
def upgrade(app: App) -> None:
    """Create or migrate the database schema.

    Example: DATABASE_URL=postgres://… bhrdigest db upgrade
    """
    from bhrdigest.store.db import describe, open_engine
    from bhrdigest.store.db import upgrade as upgrade_schema

    engine = open_engine(app.settings.checked_database_url(), create=True)
    before, after = upgrade_schema(engine)
    # Name the database: run from another folder, staff must see which file every command will use.
    if before == after:
        click.echo(f"database {describe(engine)}: schema is current (version {after})")
    else:
        done = "created" if before is None else f"upgraded from {before}"
        click.echo(f"database {describe(engine)}: schema {done} at version {after}")


@db.command()
@click.option("--dry-run", is_flag=True, help="Count what would be removed; remove nothing.")
@click.option("--keep-runs", type=click.IntRange(1), default=KEEP_RUNS, show_default=True,
              help="Keep the deliveries of at least this many latest runs.")
@click.option("--keep-days", type=click.FloatRange(0), default=KEEP_DAYS, show_default=True,
              help="Keep the deliveries of runs started within this many days.")
@pass_app
def prune(app: App, dry_run: bool, keep_runs: int, keep_days: float) -> None:
    """Remove old digest runs' per-recipient rows; keep each run's totals.

    A run's deliveries (who was sent what, who failed) are kept for the last --keep-runs
    runs or --keep-days days, whichever keeps more, and always while the run is unfinished;
    `status --runs` still shows older runs, counted. The worker runs this once a day.

    Example: bhrdigest db prune --dry-run
    """
    from bhrdigest.store.retention import prune as prune_ledger

    pruned = prune_ledger(app.engine, now=app.now(), keep_runs=keep_runs, keep_days=keep_days, dry_run=dry_run)
    click.echo(pruned.line(dry_run=dry_run))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object a check, for scripts.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for each server.")
@pass_app
def doctor(app: App, as_json: bool, timeout: float) -> None:
    """Check SMTP, the Telegram token, the database and the feeds; say what is wrong.

    Changes nothing and sends nothing. Exits 1 when a check fails (warnings are fine).

    Example: heroku run bhrdigest doctor
    """
    checks = asyncio.run(doctor_checks.run_checks(app.settings, timeout=timeout))
    for check in checks:
        click.echo(json.dumps(check.to_json(), ensure_ascii=False) if as_json else check.line())
    failed = [check.name for check in checks if check.status == doctor_checks.FAIL]
    if not as_json:
        click.echo(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}" if failed
                   else f"all {len(checks)} checks passed" + (" (see the warnings)" if any(
                       c.status == doctor_checks.WARN for c in checks) else ""))  # fmt: skip
    if failed:
        sys.exit(1)
