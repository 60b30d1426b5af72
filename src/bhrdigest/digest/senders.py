"""`send --workers N`: N sender processes share one digest run.

Each is `bhrdigest send --worker-only`, the same loop as a `send` started on another
machine: it claims batches of the run's queued rows from the database, so running
several adds processes (a digest's rendering costs CPU, and one process keeps one core
busy), not a second way of sending. The parent plans and queues the run, starts the
senders, shows progress from the ledger and adds up their summaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.digest.run import Batching, RunSummary
from bhrdigest.errors import ConfigError
from bhrdigest.store import ledger

log = logging.getLogger(__name__)

_SETTLED = (ledger.SENT, ledger.FAILED, ledger.GONE, ledger.UNKNOWN)


@dataclass(frozen=True, slots=True)
class SenderLimits:
    """The relay's limits for the whole command: rates are shared out among the senders."""

    connections: int = 4  # per sender process
    per_second: float | None = None
    per_hour: int | None = None

    def share(self, workers: int) -> list[str]:
        """Command-line options for one of `workers` senders."""
        options = ["--connections", str(self.connections)]
        if self.per_second:
            options += ["--rate", repr(self.per_second / workers)]
        if self.per_hour:
            options += ["--hourly-limit", str(max(1, self.per_hour // workers))]
        return options


def worker_command(
    run_id: int,
    workers: int,
    limits: SenderLimits,
    batching: Batching,
    *,
    outbox: str | None,
    verbosity: Sequence[str] = (),
) -> list[str]:
    """`python -m bhrdigest … send --worker-only …` for one sender of `workers` on the run."""
    command = [sys.executable, "-m", "bhrdigest", *verbosity, "send", "--worker-only", "--run-id", str(run_id)]
    command += limits.share(workers)
    command += ["--lease", repr(batching.lease), "--batch-size", str(batching.size)]
    if outbox:
        command += ["--outbox", outbox]
    return command


async def run_workers(
    engine: sa.Engine,
    run_id: int,
    workers: int,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    abort: asyncio.Event | None = None,
    every: float = 0.5,
) -> RunSummary:
    """Start `workers` sender processes on the run and wait for every one.

    `env` carries the settings (config path, database and SMTP URLs, secrets) so that
    none of them appears on a command line. `progress` is told how many more messages
    of the run were settled, every `every` seconds. When `stop` is set, each sender is
    asked to stop (SIGTERM: it finishes and records its messages in flight); when `abort`
    is set too, asked again (a second SIGTERM: it gives them up as of unknown fate).
    Either way each sender prints its summary, and these are added up.
    """
    started = time.monotonic()
    # A session of their own: a Ctrl-C in the terminal reaches this process only, which
    # passes it on once; the senders would take a second signal as "stop at once".
    children = [
        await asyncio.create_subprocess_exec(
            *command, env=dict(env), stdout=asyncio.subprocess.PIPE, start_new_session=True
        )
        for _ in range(workers)
    ]
    log.info("run %s: %d sender processes started", run_id, workers)
    outputs = [asyncio.ensure_future(child.communicate()) for child in children]
    helpers = [asyncio.ensure_future(_watch(engine, run_id, progress, every))] if progress else []
    for event in (stop, abort):
        if event is not None:
            helpers.append(asyncio.ensure_future(_pass_on(event, children)))
    try:
        results = await asyncio.gather(*outputs)
    finally:
        for helper in helpers:
            helper.cancel()
        for child in children:  # interrupted at once: the senders still finish what is in flight
            if child.returncode is None:
                child.terminate()
                await child.wait()
    summary = RunSummary(run_id=run_id)
    for number, (child, (stdout, _)) in enumerate(zip(children, results, strict=True), start=1):
        summary.add(_child_summary(number, child.returncode, stdout))
    summary.unknown = ledger.run_summary(engine, run_id)[ledger.UNKNOWN]
    summary.finished = ledger.finish_run(engine, run_id, datetime.now(UTC))  # closed already, unless a sender stopped
    summary.seconds = time.monotonic() - started
    log.info(summary.line())  # the run's one line; each sender logged its own part
    return summary


def _child_summary(number: int, returncode: int | None, stdout: bytes) -> RunSummary:
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return RunSummary(
            run_id=None,
            stopped=1,
            failures=[f"sender process {number} stopped with exit code {returncode}: see its error above"],
        )
    known = set(RunSummary.__dataclass_fields__)
    return RunSummary(**{key: value for key, value in data.items() if key in known})


async def _watch(engine: sa.Engine, run_id: int, progress: Callable[[int], None], every: float) -> None:
    """Report newly settled messages of the run (all senders') as they come."""
    settled = _settled(engine, run_id)
    while True:
        await asyncio.sleep(every)
        try:
            now = _settled(engine, run_id)
        except Exception:  # a progress bar is not worth stopping a run for
            log.debug("progress not available", exc_info=True)
            continue
        if now > settled:
            progress(now - settled)
            settled = now


async def _pass_on(event: asyncio.Event, children: Sequence[asyncio.subprocess.Process]) -> None:
    """SIGTERM to each sender once `event` is set: the first asks it to stop, the second to abort."""
    await event.wait()
    for child in children:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)


def _settled(engine: sa.Engine, run_id: int) -> int:
    counts = ledger.run_summary(engine, run_id)
    return sum(counts[status] for status in _SETTLED)


def child_environment(database_url: str, config_path: os.PathLike | str, snapshot: Path) -> dict[str, str]:
    """This process's environment, with the settings given as global options made explicit."""
    return os.environ | {
        "DATABASE_URL": database_url,
        "BHRDIGEST_CONFIG": str(config_path),
        "BHRDIGEST_CONFIG_SNAPSHOT": str(snapshot),
    }


@contextlib.contextmanager
def config_snapshot(config: Config) -> Iterator[Path]:
    """The parsed configuration in a file the senders read instead of the YAML.

    Parsing subscriptions.yaml takes ~30 s for 100,000 subscribers; each sender would
    parse it again. The snapshot is a pickle in a directory only this user can open
    (mkdtemp: mode 0700), removed when the senders are done; the senders also plan
    with exactly the configuration the run was planned with.
    """
    with tempfile.TemporaryDirectory(prefix="bhrdigest-send-") as private:
        path = Path(private) / "config.pickle"
        path.write_bytes(pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL))
        yield path


def read_config_snapshot(path: Path) -> Config:
    try:
        return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ConfigError(f"cannot read the configuration snapshot {path} from `send --workers`: {exc}") from exc
