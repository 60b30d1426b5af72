"""The command line: a thin click shell over the library.

options -> settings -> one call -> echo. Every BhrDigestError becomes a plain
message and exit 1 (nothing changed); partial failures exit 3 (CONTRACT.md).
Each command group lives in a module of its own (ingest, digest, send, telegram,
web, ops); this module only assembles them.
"""

from __future__ import annotations

from typing import Any

import click

from bhrdigest import __version__
from bhrdigest.cli import bounces, digest, ingest, ops, send, subscribers, telegram, web
from bhrdigest.cli.app import EXIT_USAGE, App
from bhrdigest.errors import BhrDigestError
from bhrdigest.logs import configure_logging
from bhrdigest.redact import redact_text
from bhrdigest.settings import Settings


class Group(click.Group):
    """Turns our errors into a clear message and exit 1: no traceback for a user error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BhrDigestError as exc:
            click.echo(f"error: {redact_text(str(exc))}", err=True)
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
    settings = Settings.from_env().override(config=config, db=db)
    configure_logging(verbose, quiet=quiet, secrets=settings.secrets())
    ctx.obj = App(settings)


for command in (ingest.fetch, ingest.components, digest.preview, digest.demo, send.send, telegram.alert,
                telegram.worker, web.web, subscribers.subscribers, web.unsubscribe, ops.check, ops.status, ops.doctor,
                ops.db, bounces.bounces):
    main.add_command(command)
