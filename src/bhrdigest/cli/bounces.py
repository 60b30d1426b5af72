"""`bounces`: read the bounce mailbox once; hard bounces and complaints stop further mail."""

from __future__ import annotations

import json

import click

from bhrdigest.cli.app import App, pass_app
from bhrdigest.errors import ConfigError


@click.command()
@click.option("--mailbox", envvar="BOUNCE_MAILBOX_URL", metavar="URL",
              help="imaps://USER:PASSWORD@host/INBOX, imap://… (STARTTLS) or maildir:PATH [env BOUNCE_MAILBOX_URL].")
@click.option("--dry-run", is_flag=True, help="Classify and count; record nothing and leave every message.")
@click.option("--json", "as_json", is_flag=True, help="The counts as one JSON object.")
@pass_app
def bounces(app: App, mailbox: str | None, dry_run: bool, as_json: bool) -> None:
    """Read the bounce mailbox: record hard and soft bounces and complaints, suppress addresses.

    A hard bounce or a spam complaint stops digests to that address at once; soft bounces
    do after 3 within 30 days. Recognised reports are removed from the mailbox; anything
    else (auto-replies, people writing back) is left there and counted. `subscribers` shows
    why an address is suppressed; `unsubscribe EMAIL --undo` lifts it.

    Example: BOUNCE_MAILBOX_URL=imaps://bounces:…@imap.example.org/INBOX bhrdigest bounces
    """
    from bhrdigest.mail.mailbox import describe_mailbox
    from bhrdigest.ops.bounces import check_mailbox

    if not mailbox:
        raise ConfigError("no bounce mailbox: set BOUNCE_MAILBOX_URL or pass --mailbox URL")
    config, engine = app.config, app.engine
    if not config.sender.bounce_address:
        click.echo("warning: sender.bounce_address is not set: digests do not carry VERP return paths, so "
                   "only the reports' own text names who bounced", err=True)
    # A bad URL, refused login or a server that does not answer: exit 1.
    summary = check_mailbox(engine, mailbox, now=app.now(), bounce_address=config.sender.bounce_address,
                            dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"mailbox": describe_mailbox(mailbox), **summary.to_json()}))
    else:
        click.echo(summary.line() + (" (dry run: nothing recorded)" if dry_run else ""))
