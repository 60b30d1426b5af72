"""Every error bhrdigest raises on purpose, split by what the caller does next.

    BhrDigestError                  base: the CLI prints str(exc), never a traceback
    ├── ConfigError                 bad subscriptions.yaml, environment or option: exit 1, nothing changed
    ├── StoreError                  the database cannot be opened, locked, wrong schema: exit 1
    ├── FeedError                   one feed failed: recorded per feed, the others go on (exit 3)
    └── DeliveryError               one message could not be delivered
        ├── TransientDeliveryError  try again later (4xx, dropped connection, timeout, 429)
        └── PermanentDeliveryError  do not retry (5xx, refused recipient, blocked bot)

Third-party exceptions are translated once, at the I/O edge, with `raise … from exc`.
"""

from __future__ import annotations

from dataclasses import dataclass


class BhrDigestError(Exception):
    """Base of every error we raise on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a configuration file, located for a human."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


class ConfigError(BhrDigestError):
    """Configuration cannot be used; `problems` lists every one found."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem(file="", line=None, field="", message=problems)]
        self.problems = problems
        super().__init__("\n".join(str(p).lstrip(": ") for p in problems))


class StoreError(BhrDigestError):
    """The database cannot be used as it is."""


class FeedError(BhrDigestError):
    """One feed could not be fetched or parsed."""


class DeliveryError(BhrDigestError):
    """One message could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later; `retry_after` seconds when the server said so."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (refused recipient, blocked bot)."""
