"""Logging, configured once at the entry point: readable on a terminal, JSON lines elsewhere."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(verbosity: int = 0, *, quiet: bool = False, json_logs: bool | None = None) -> None:
    """verbosity 0: our INFO summaries; 1: our DEBUG; 2: libraries' DEBUG too. quiet: warnings only."""
    level = logging.WARNING if quiet else logging.DEBUG if verbosity else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    if json_logs if json_logs is not None else not sys.stderr.isatty():
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger("bhrdigest").setLevel(level)
