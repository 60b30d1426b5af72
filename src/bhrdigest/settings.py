"""Settings from the environment (12-factor), overridden by global CLI options.

Nothing is read at import time: `Settings.from_env()` is called by the CLI.
Secrets are kept out of `repr` so they never reach logs or tracebacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from bhrdigest.errors import ConfigError

DEFAULT_DATABASE_FILE = "bhrdigest.db"  # beside the config file, whatever folder a command runs from
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"


@dataclass(frozen=True, slots=True)
class Settings:
    config_path: Path = Path("subscriptions.yaml")
    database_url: str | None = field(default=None, repr=False)  # None: DEFAULT_DATABASE_FILE
    smtp_url: str | None = field(default=None, repr=False)
    outbox: Path = Path("outbox")
    telegram_token: str | None = field(default=None, repr=False)
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    secret: str | None = field(default=None, repr=False)
    user_agent: str | None = None
    ephemeral_disk: bool = False  # DYNO is set: a SQLite file would be wiped at restart
    bounce_mailbox_url: str | None = field(default=None, repr=False)  # the worker reads it each interval
    # Bounce webhooks (web/webhooks.py): what authenticates each relay's posts.
    ses_topic_arns: tuple[str, ...] = ()
    postmark_webhook_secret: str | None = field(default=None, repr=False)
    mailgun_webhook_signing_key: str | None = field(default=None, repr=False)
    # Set by `send --workers N` for its senders: its own parsed configuration (digest/senders.py).
    config_snapshot: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            config_path=Path(env.get("BHRDIGEST_CONFIG") or "subscriptions.yaml"),
            database_url=env.get("DATABASE_URL") or None,
            smtp_url=env.get("SMTP_URL") or None,
            outbox=Path(env.get("BHRDIGEST_OUTBOX") or "outbox"),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_api_url=(env.get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL).rstrip("/"),
            secret=env.get("BHRDIGEST_SECRET") or None,
            user_agent=env.get("BHRDIGEST_USER_AGENT") or None,
            ephemeral_disk=bool(env.get("DYNO")),
            bounce_mailbox_url=env.get("BOUNCE_MAILBOX_URL") or None,
            ses_topic_arns=tuple(arn.strip() for arn in env.get("SES_SNS_TOPIC_ARN", "").split(",") if arn.strip()),
            postmark_webhook_secret=env.get("POSTMARK_WEBHOOK_SECRET") or None,
            mailgun_webhook_signing_key=env.get("MAILGUN_WEBHOOK_SIGNING_KEY") or None,
            config_snapshot=Path(env["BHRDIGEST_CONFIG_SNAPSHOT"]) if env.get("BHRDIGEST_CONFIG_SNAPSHOT") else None,
        )

    def override(self, *, config: str | None = None, db: str | None = None) -> Settings:
        changes: dict = {}
        if config:
            changes["config_path"] = Path(config)
        if db:
            changes["database_url"] = db
        return replace(self, **changes) if changes else self

    def secrets(self) -> tuple[str | None, ...]:
        """Values never to show (redact.py): the token, the signing keys, URL passwords."""
        passwords = (urlsplit(url).password if url else None for url in (self.smtp_url, self.database_url,
                                                                        self.bounce_mailbox_url))
        return (self.telegram_token, self.secret, self.postmark_webhook_secret, self.mailgun_webhook_signing_key,
                *passwords)

    def checked_database_url(self) -> str:
        """The database URL, refusing a SQLite file on an ephemeral disk.

        Unset, it is bhrdigest.db beside the config file: staff running a command from another
        folder with --config must reach the same database, not a new empty one where they stand.
        """
        url = self.database_url or f"sqlite:///{self.config_path.absolute().parent / DEFAULT_DATABASE_FILE}"
        if self.ephemeral_disk and url.startswith("sqlite"):
            raise ConfigError(
                "DATABASE_URL is a SQLite file but this platform's disk is ephemeral (DYNO is set): "
                "the record of sent digests would be wiped at every restart. "
                "Attach PostgreSQL and set DATABASE_URL to it."
            )
        return url
