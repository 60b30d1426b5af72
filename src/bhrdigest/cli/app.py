"""What every command shares: the App (settings, configuration, database), exit codes and helpers.

Commands live in one module per group beside this one and import only this module;
cli/main.py assembles them. Nothing outside cli/ imports cli.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bhrdigest.bundled import bundled_path
from bhrdigest.errors import ConfigError
from bhrdigest.settings import Settings

if TYPE_CHECKING:  # imported on first use, so `--help` stays instant
    from sqlalchemy.engine import Engine

    from bhrdigest.config.load import Config
    from bhrdigest.digest.compose import DigestComposer
    from bhrdigest.signup.notices import NoticeDelivery
    from bhrdigest.telegram.client import TelegramSender

_T = TypeVar("_T")

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 3


class App:
    """What every command needs, loaded on first use so `--help` stays instant."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def config(self) -> Config:
        from bhrdigest.config.load import load_config

        if self.settings.config_snapshot is not None:  # a sender started by `send --workers N`
            from bhrdigest.digest.senders import read_config_snapshot

            return read_config_snapshot(self.settings.config_snapshot)
        return load_config(self.settings.config_path)

    @cached_property
    def engine(self) -> Engine:
        from bhrdigest.store.db import connect

        _ = self.config  # a bad subscriptions.yaml stops the command before the database is opened
        return connect(self.settings.checked_database_url())  # never creates one: `db upgrade` does

    @cached_property
    def started(self) -> datetime:
        return datetime.now(UTC)

    def now(self) -> datetime:
        """One moment per command, so every period boundary it computes agrees."""
        return self.started


pass_app = click.make_pass_decorator(App)


def ask(question: str, *, command: str) -> bool:
    """y/N on standard input; no answer at all (closed or empty input) is refused, not taken as yes or no."""
    click.echo(f"{question} [y/N]: ", nl=False)
    answer = sys.stdin.readline()
    if not answer:
        click.echo()
        raise ConfigError(f"no answer: standard input is closed or empty, so nobody said yes. Run `bhrdigest "
                          f"{command}` in a terminal, or pass --yes to go ahead without asking.")  # fmt: skip
    return answer.strip().lower() in ("y", "yes")


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coro)


def template_dir(config: Config) -> Path:
    """templates/ beside subscriptions.yaml when staff keep their own, else the bundled ones."""
    local = config.path.parent / "templates"
    return local if (local / "digest.html.j2").exists() else bundled_path("templates")


def make_composer(app: App, *, require_secret: bool, engine: Engine | None = None) -> DigestComposer:
    """The composer of this command's digests; `engine`: the database whose address ids the links carry."""
    from bhrdigest.digest.compose import DigestComposer

    secret = app.settings.secret
    if secret is None:
        if require_secret and app.config.sender.unsubscribe_url:
            raise ConfigError(
                "BHRDIGEST_SECRET is not set: it signs the one-click unsubscribe links that "
                "bulk mail must carry. Set it to a long random string and keep it stable."
            )
        secret = "unsigned-local-preview"  # outbox and previews only: links are not live
    from bhrdigest.digest.render import DigestRenderer
    from bhrdigest.mail.dkim import load_signer

    signer = load_signer(os.environ, from_addr=app.config.sender.from_addr)
    return DigestComposer(app.config, DigestRenderer(template_dir(app.config)), secret=secret, now=app.now(),
                          engine=engine or app.engine, signer=signer)


def notice_delivery(app: App) -> NoticeDelivery:
    """What sends the sign-up emails: SMTP_URL, else the outbox folder; DKIM-signed as digests are."""
    from bhrdigest.mail.dkim import load_signer
    from bhrdigest.signup.notices import NoticeComposer, NoticeDelivery, open_sender

    folder = template_dir(app.config) / "notices"
    if not (folder / "notice.html.j2").exists():
        folder = bundled_path("templates/notices")
    signer = load_signer(os.environ, from_addr=app.config.sender.from_addr)
    composer = NoticeComposer(app.config, app.settings.secret or "", folder, signer=signer)
    settings = app.settings
    return NoticeDelivery(app.engine, composer, lambda: open_sender(settings.smtp_url, settings.outbox))


def telegram_sender(app: App) -> TelegramSender | None:
    """The Bot API client, or None (with a clear warning) when no token is set."""
    if not app.settings.telegram_token:
        click.echo("warning: TELEGRAM_BOT_TOKEN is not set: Telegram alerts are skipped "
                   "(digests are not affected)", err=True)
        return None
    from bhrdigest.telegram.client import TelegramSender

    return TelegramSender(app.settings.telegram_token, app.settings.telegram_api_url)
