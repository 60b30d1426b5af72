"""`alert` and `worker`: instant Telegram alerts once, or the long-running worker."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from functools import partial

import click

from bhrdigest.cli.app import EXIT_PARTIAL, App, notice_delivery, pass_app, run, telegram_sender
from bhrdigest.errors import StoreError


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the queued messages instead of sending them.")
@pass_app
def alert(app: App, dry_run: bool) -> None:
    """Send pending instant Telegram alerts once, then exit.

    Example: bhrdigest fetch && bhrdigest alert
    """
    from bhrdigest.telegram.deliver import AlertRunSummary, run_alerts

    config, engine = app.config, app.engine
    sender = None if dry_run else telegram_sender(app)
    if sender is None and not dry_run:
        return

    async def go() -> AlertRunSummary:
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


@click.command()
@click.option("--interval", type=float, metavar="MINUTES",
              help="Minutes between fetches [default: worker.interval_minutes in the YAML].")
@pass_app
def worker(app: App, interval: float | None) -> None:
    """Long-running: fetch every N minutes, send instant alerts, answer bot commands.

    With BOUNCE_MAILBOX_URL set, it also reads the bounce mailbox every interval, as
    `bhrdigest bounces` does; a mailbox that fails is logged and read again next time.
    Each interval it also deletes unconfirmed sign-ups past their 7 days and sends the sign-up
    emails the web process left queued or failed (with BHRDIGEST_SECRET set).
    Stops cleanly on SIGTERM or Ctrl-C, finishing the messages in flight. With
    BHRDIGEST_SECRET set (as for `web`), the bot links a chat to an email subscription
    from the Telegram link on that subscriber's preferences page.

    Example: bhrdigest worker --interval 10
    """
    from bhrdigest.config.preferences import Choices
    from bhrdigest.ingest.pipeline import fetch_once
    from bhrdigest.mail.mailbox import describe_mailbox
    from bhrdigest.ops.bounces import BounceRunSummary, check_mailbox
    from bhrdigest.telegram.linking import ChatLinker
    from bhrdigest.worker import run_worker

    config, engine, settings = app.config, app.engine, app.settings
    minutes = interval or config.worker_interval_minutes
    mailbox = settings.bounce_mailbox_url
    # The secret checks the links subscribers follow from their preferences page to the bot.
    links = (ChatLinker.of(settings.secret, config.sender.list_id, config.subscribers, Choices(config.catalogue))
             if settings.secret else None)

    async def fetch() -> tuple[str, ...]:
        summary = await fetch_once(engine, config, now=datetime.now(UTC), user_agent=settings.user_agent)
        return summary.new_keys

    def check_bounces(url: str) -> BounceRunSummary:
        return check_mailbox(engine, url, now=datetime.now(UTC), bounce_address=config.sender.bounce_address)

    delivery = notice_delivery(app) if settings.secret else None

    async def signup_chores() -> None:
        """Expired sign-ups deleted; the sign-up emails the web process left queued or failed sent."""
        from bhrdigest.signup.notices import housekeep

        try:
            expired, settled = await asyncio.to_thread(housekeep, engine, now=datetime.now(UTC))
            if expired or settled:
                click.echo(f"worker: {expired} unconfirmed sign-ups expired, {settled} sign-up emails of "
                           "unknown fate", err=True)
            if delivery is not None:
                await delivery()
        except StoreError as exc:
            click.echo(f"worker: sign-up chores failed, trying again next interval: {exc}", err=True)

    async def go() -> None:
        # Not started here: the worker starts it once the Bot API answers, fetching meanwhile.
        sender = telegram_sender(app)
        try:
            return await run_worker(fetch_once=fetch, engine=engine, sender=sender, catalogue=config.catalogue,
                                    subscribers=config.subscribers, interval=minutes * 60,
                                    check_bounces=partial(check_bounces, mailbox) if mailbox else None,
                                    signup_chores=signup_chores, links=links)
        finally:
            if sender is not None:
                await sender.close()

    bounces = f", reading bounces from {describe_mailbox(mailbox)}" if mailbox else ""
    click.echo(f"worker: fetching every {minutes:g} minutes{bounces}; stop with Ctrl-C or SIGTERM", err=True)
    run(go())
