"""What every fault test needs: the real `bhrdigest` as a separate process, a config
generator, and readers for the CLI's outward signals (summary lines, `status --json`).

The suite drives the product from the outside only — exit codes, output, the status
report and what arrives at the loopback servers — so it keeps holding when the
inside is reworked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from bhrdigest.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
SECRET = "fault-suite-signing-secret-0123456789abcdef"

# BHRDIGEST_SOAK=1: many more trials and subscribers (see tests/faults/README.md).
SOAK = os.environ.get("BHRDIGEST_SOAK", "") not in ("", "0")
SEED = int(os.environ.get("BHRDIGEST_FAULT_SEED", "20261128"))

_OUR_ENV = ("BHRDIGEST_", "DATABASE_URL", "SMTP_", "TELEGRAM_", "DYNO")


def scaled(default: int, soak: int) -> int:
    return soak if SOAK else default


# --- configuration ------------------------------------------------------------------------


def subscribers_yaml(count: int, *, companies: Iterable[str] = ("Cellebrite",), telegram_from: int | None = None,
                     prefix: str = "sub") -> str:
    """`count` subscribers sub00000@example.org…, each following `companies`."""
    follows = ", ".join(companies)
    lines = []
    for i in range(count):
        lines.append(f"  - email: {prefix}{i:05d}@example.org\n    name: Subscriber {i}\n    companies: [{follows}]")
        if telegram_from is not None:
            lines.append(f"    telegram: {telegram_from + i}")
    return "\n".join(lines)


def write_config(folder: Path, *, feeds: Iterable[str], subscribers: str, companies: str | None = None,
                 name: str = "subscriptions.yaml") -> Path:
    feed_lines = "\n".join(f"  - url: {json.dumps(str(url))}" for url in feeds) or "  []"
    catalogue = companies if companies is not None else "  Cellebrite: {}\n  Nasdaq: {}\n  Sun Corporation: {}"
    path = folder / name
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  unsubscribe_mailto: "unsubscribe@example.org"
  list_id: weekly.bhrdigest.example.org
feeds:
{feed_lines}
companies:
{catalogue}
subscribers:
{subscribers}
""",
        encoding="utf-8",
    )
    return path


# --- the CLI as a real process ----------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"bhrdigest {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr[-4000:]}"
        )


class Bhr:
    """`bhrdigest` with a config, database and outbox of its own, run as a child process."""

    def __init__(self, folder: Path, *, config: Path, database_url: str | None = None,
                 env: Mapping[str, str] | None = None, create_database: bool = True):
        self.folder = folder
        self.config = config
        self.database_url = database_url or f"sqlite:///{folder / 'bhrdigest.db'}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OUR_ENV)}
        self.env = base | {
            "BHRDIGEST_CONFIG": str(config),
            "DATABASE_URL": self.database_url,
            "BHRDIGEST_OUTBOX": str(folder / "outbox"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        } | dict(env or {})
        if create_database:  # no command but `db upgrade` creates a database
            created = self.invoke("-q", "db", "upgrade")
            assert created.exit_code == 0, created.output

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bhrdigest", *args]

    def run(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180,
            preexec_fn=None) -> Ran:
        done = subprocess.run(self.command(*args), env=self.env | dict(env or {}), cwd=self.folder,
                              capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn, check=False)
        return Ran(args, done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env | dict(env or {}), cwd=self.folder,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def invoke(self, *args: str, env: Mapping[str, str] | None = None, catch_exceptions: bool = False):
        """The same CLI in this process (click's runner): for quick reads such as `status`."""
        merged = {k: None for k in os.environ if k.startswith(_OUR_ENV)} | {
            "BHRDIGEST_CONFIG": str(self.config), "DATABASE_URL": self.database_url,
            "BHRDIGEST_OUTBOX": str(self.folder / "outbox"),
        } | dict(env or {})
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            return CliRunner().invoke(main, list(args), env=merged, catch_exceptions=catch_exceptions)
        finally:  # the CLI configures logging for its run; give pytest its handlers back
            root.handlers[:], root.level = handlers, level

    def status(self) -> dict:
        result = self.invoke("-q", "status", "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def deliveries(self) -> dict[str, int]:
        run = self.status()["last_digest_run"]
        return dict(run["deliveries"]) if run else {}


def finish(child: subprocess.Popen, timeout: float = 60) -> Ran:
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        stdout, stderr = child.communicate()
        raise AssertionError(f"bhrdigest did not stop within {timeout}s; its stderr:\n{stderr[-4000:]}") from None
    return Ran(tuple(child.args[3:]), child.returncode, stdout, stderr)


def kill9(child: subprocess.Popen) -> None:
    """SIGKILL, and wait until the process is really gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)


def wait_for(condition, seconds: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {seconds}s")
        time.sleep(0.01)


# --- reading what the CLI says ----------------------------------------------------------------

_SEND_LINE = re.compile(r"^send (?:run=(?P<run>\d+) )?(?P<counts>(?:\w+=\d+ ?)+)\((?P<state>\w+)\)", re.MULTILINE)
_UNKNOWN_LINE = re.compile(r"^(\d+) digests? of unknown fate", re.MULTILINE)
_RESENDING = re.compile(r"^re-sending (\d+) digests? of unknown fate", re.MULTILINE)


def send_summary(text: str) -> dict[str, int | str]:
    """The numbers of the `send run=… planned=… sent=… (finished)` line."""
    found = _SEND_LINE.findall(text)
    assert found, f"no send summary line in:\n{text[-3000:]}"
    run, counts, state = found[-1]
    numbers = {k: int(v) for k, v in (pair.split("=") for pair in counts.split())}
    return numbers | {"run": int(run) if run else 0, "state": state}


def unknown_reported(text: str) -> int:
    match = _UNKNOWN_LINE.search(text)
    return int(match.group(1)) if match else 0


def resending_reported(text: str) -> int | None:
    match = _RESENDING.search(text)
    return int(match.group(1)) if match else None


def assert_no_traceback(ran: Ran) -> None:
    assert "Traceback (most recent call last)" not in ran.output, ran.describe()


# --- feeds ---------------------------------------------------------------------------------


def rss(items: Iterable[Mapping[str, str]], *, title: str = "Fault suite feed", encoding: str = "utf-8",
        declare: bool = True) -> bytes:
    """An RSS 2.0 document; each item's `title`, `link`, `description` are inserted as given
    (escape them yourself, or pass raw markup on purpose)."""
    parts = []
    for item in items:
        fields = "".join(f"<{name}>{value}</{name}>" for name, value in item.items())
        parts.append(f"<item>{fields}</item>")
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>' if declare else ""
    text = (
        f'{prolog}<rss version="2.0"><channel><title>{title}</title><link>https://www.business-humanrights.org/en/</link>'
        f"<description>d</description>{''.join(parts)}</channel></rss>"
    )
    return text.encode(encoding)


def news_item(slug: str, title: str, description: str = "Read the full post here") -> dict[str, str]:
    return {"title": title, "link": f"https://www.business-humanrights.org/en/latest-news/{slug}/",
            "description": description}
