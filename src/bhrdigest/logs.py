"""Logging, configured once at the entry point: readable on a terminal, JSON lines elsewhere.

Every record leaves through one handler whose filter masks secrets (redact.py): our
own records, and those of httpx and python-telegram-bot, whose URLs carry the bot token.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from bhrdigest.redact import redact_text, register_secret


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class RedactSecrets(logging.Filter):
    """Mask secrets in a record's message and traceback before any formatter sees them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def configure_logging(
    verbosity: int = 0, *, quiet: bool = False, json_logs: bool | None = None, secrets: Iterable[str | None] = ()
) -> None:
    """verbosity 0: our INFO summaries; 1: our DEBUG; 2: libraries' DEBUG too. quiet: warnings only.

    `secrets` (the bot token, the signing secret…) are masked in every record from now on.
    """
    for secret in secrets:
        register_secret(secret)
    level = logging.WARNING if quiet else logging.DEBUG if verbosity else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets())
    if json_logs if json_logs is not None else not sys.stderr.isatty():
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("bhrdigest").setLevel(level)
