"""A weekly run through the real command line: `bhrdigest fetch`, then `bhrdigest send --yes
--workers N` (N = this machine's cores) to a sink in another process, for one subscriber
count at a time.

Peak memory is the most the processes (`send` and the senders it starts) held at once,
their resident sizes summed every 0.1 s; the sum of each one's own peak (VmHWM) is kept too.
The store's growth is the SQLite file's size (with its WAL) before and after.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.data import World, write_config
from benchmarks.servers import ServerProcess

SECRET = "benchmark-signing-key-not-a-secret-0123456789"
WORKERS = os.cpu_count() or 1  # one sender per core: rendering keeps a core busy


def run_week(world: World, feeds: list[bytes], subscribers: int, *, sink_kind: str, timeout: float | None = None,
             keep: Path | None = None, workers: int = WORKERS) -> dict:  # fmt: skip
    """One weekly run for `subscribers` subscribers; returns its figures.

    A `send` still running after `timeout` seconds is stopped: its figures are then
    what it had done by then (digests the sink received, peak memory so far).
    """
    with tempfile.TemporaryDirectory(dir=keep) as tmp:
        folder = Path(tmp)
        paths = []
        for number, data in enumerate(feeds):
            path = folder / "feeds" / f"latest-news-{number:02d}.xml"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            paths.append(path)
        config = folder / "subscriptions.yaml"
        write_config(config, world, world.subscribers(subscribers), paths)
        database = folder / "store.db"
        env = os.environ | {
            "BHRDIGEST_CONFIG": str(config),
            "DATABASE_URL": f"sqlite:///{database}",
            "BHRDIGEST_SECRET": SECRET,
            "BHRDIGEST_OUTBOX": str(folder / "outbox"),
        }
        env.pop("SMTP_URL", None)
        _command(["db", "upgrade"], env)
        fetch = _command(["fetch"], env)
        after_fetch = _store_size(database)
        with ServerProcess(sink_kind) as sink:
            env["SMTP_URL"] = f"smtp+plain://127.0.0.1:{sink.port}"
            send = _command(["send", "--yes", "--workers", str(workers)], env, timeout=timeout)
            received = sink.stats()["messages"]
        after_send = _store_size(database)
        config_mb = config.stat().st_size / 1e6
    summary = _summary(send["output"])
    sent = received if send["timed_out"] else summary.get("sent", 0)
    planned = _planned(send["output"])
    return {
        "subscribers": subscribers,
        "workers": workers,
        "config_mb": config_mb,
        "fetch_seconds": fetch["seconds"],
        "fetch_line": _last_line(fetch["output"], "fetch "),
        "seconds": send["seconds"],
        "sent": sent,
        "planned": summary.get("planned", planned),
        "timed_out": send["timed_out"],
        "received": received,
        "per_digest_ms": send["seconds"] / max(1, sent) * 1e3,
        "rate": sent / send["seconds"] if send["seconds"] else 0.0,
        "peak_rss_mb": send["peak_rss_mb"],
        "peaks_sum_mb": send["peaks_sum_mb"],
        "fetch_peak_rss_mb": fetch["peak_rss_mb"],
        "store_after_fetch_mb": after_fetch / 1e6,
        "db_growth_mb": (after_send - after_fetch) / 1e6,
        "exit": send["exit"],
        "send_line": _last_line(send["output"], "send "),
    }


def _command(args: list[str], env: dict, *, timeout: float | None = None) -> dict:
    """Run `python -m bhrdigest ARGS`; wall time, peak RSS (this process alone), output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bhrdigest", *args], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stdout.read(65536), b"")))
    reader.start()
    # Peak memory is VmHWM, read while the command runs: ru_maxrss would also count the
    # pages the child shared with this (large) process between fork and exec.
    timed_out, peaks, together_kb = False, {}, 0
    while True:
        resident = 0
        for pid in _tree(process.pid):
            now_kb, peak_kb = _memory_kb(pid)
            peaks[pid] = max(peaks.get(pid, 0), peak_kb)
            resident += now_kb
        together_kb = max(together_kb, resident)
        pid, status, _ = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if timeout is not None and time.perf_counter() - started > timeout:
            timed_out = True
            for child in _tree(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            _, status, _ = os.wait4(process.pid, 0)
            break
        time.sleep(0.1)
    peaks_kb = sum(peaks.values())
    seconds = time.perf_counter() - started
    reader.join()
    output = b"".join(chunks).decode("utf-8", "replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    if not timed_out and process.returncode not in (0, 3):
        raise RuntimeError(f"`bhrdigest {' '.join(args)}` exited {process.returncode}:\n{output[-3000:]}")
    return {
        "seconds": seconds,
        "peak_rss_mb": together_kb / 1024,
        "peaks_sum_mb": peaks_kb / 1024,
        "output": output,
        "exit": process.returncode,
        "timed_out": timed_out,
    }


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the senders `send --workers` starts)."""
    found, queue = [], [pid]
    while queue:
        each = queue.pop()
        found.append(each)
        for task in Path(f"/proc/{each}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                queue.extend(int(child) for child in task.read_text().split())
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a live process, in kB: resident now, and its peak so far."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line[:5]] = int(line.split()[1])
    except OSError:
        pass
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def _store_size(database: Path) -> int:
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())


_FIELD = re.compile(r"(\w+)=(\d+)")


def _summary(output: str) -> dict[str, int]:
    line = _last_line(output, "send ")
    return {name: int(value) for name, value in _FIELD.findall(line)}


def _planned(output: str) -> int:
    """Digests `send` said it would send (its plan line), for a run stopped before its summary."""
    found = re.search(r"(\d+) digests to send", output)
    return int(found.group(1)) if found else 0


def _last_line(output: str, prefix: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(prefix)]
    return lines[-1] if lines else ""
