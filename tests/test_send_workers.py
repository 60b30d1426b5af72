"""Several senders, one digest run: real `bhrdigest send` processes against one SMTP sink.

The proofs of issue 7: 4 concurrent `send --yes` processes and 10,000 subscribers on
PostgreSQL — each subscriber receives exactly one digest; then the same with one of the
4 killed mid-run (its batch is taken over when its lease runs out). Smaller variants run
on SQLite, and through `send --workers N`. PostgreSQL tests need
BHRDIGEST_TEST_DATABASE_URL; BHRDIGEST_BENCH=1 also measures throughput with 1, 2 and 4
workers (printed; nothing is asserted about time).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from databases import PG_SKIP, PG_URL, postgresql_schema

from bhrdigest.cli.main import main
from bhrdigest.store import ledger, runs
from bhrdigest.store.db import connect

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
SECRET = "test-secret-of-enough-length-0123456789"
CONNECTIONS = 4


class _Counting:
    """Counts what each recipient was sent; keeps no bodies (10,000 digests are 90 MB)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_rcpt: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.by_rcpt.update(envelope.rcpt_tos)
        return "250 2.0.0 Message accepted"


class _Controller(Controller):
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]  # port 0: the one the OS chose
        super()._trigger_server()


class Sink:
    """A light SMTP sink on loopback: `with Sink() as sink: … sink.received()`."""

    def __init__(self) -> None:
        self.handler = _Counting()
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=0)

    def __enter__(self) -> Sink:
        self._controller.start()
        self.url = f"smtp+plain://127.0.0.1:{self._controller.port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    def received(self) -> dict[str, int]:
        with self.handler.lock:
            return dict(self.handler.by_rcpt)

    @property
    def total(self) -> int:
        with self.handler.lock:
            return sum(self.handler.by_rcpt.values())


def subscribers(count: int) -> list[str]:
    return [f"sub{i:05d}@example.org" for i in range(count)]


def write_config(folder: Path, count: int) -> Path:
    """Every subscriber follows Cellebrite: each gets a digest of the sample's items about it."""
    lines = [
        "sender:",
        '  from: "Resource Centre <updates@example.org>"',
        '  unsubscribe_url: "https://digest.example.org/u/{token}"',
        "  list_id: weekly.bhrdigest.example.org",
        "feeds:",
        f"  - url: {SAMPLE}",
        "companies:",
        "  Cellebrite: {}",
        "subscribers:",
    ]
    lines += [f"  - {{email: {email}, companies: [Cellebrite]}}" for email in subscribers(count)]
    path = folder / "subscriptions.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Senders:
    """The environment of one deployment, and `bhrdigest` processes started in it."""

    def __init__(self, tmp_path: Path, database_url: str, count: int, sink: Sink):
        self.tmp = tmp_path
        self.database_url = database_url
        self.env = os.environ | {
            "BHRDIGEST_CONFIG": str(write_config(tmp_path, count)),
            "DATABASE_URL": database_url,
            "SMTP_URL": sink.url,
            "BHRDIGEST_SECRET": SECRET,
            "SMTP_CONNECTIONS": str(CONNECTIONS),
        }
        self.env.pop("DYNO", None)
        created = CliRunner().invoke(main, ["-q", "db", "upgrade"], env=self.env, catch_exceptions=False)
        assert created.exit_code == 0, created.output
        fetched = CliRunner().invoke(main, ["-q", "fetch"], env=self.env, catch_exceptions=False)
        assert fetched.exit_code == 0, fetched.output

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        number = len(list(self.tmp.glob("sender-*.out")))
        out = open(self.tmp / f"sender-{number}.out", "w+")  # noqa: SIM115 - read back in finish()
        command = [sys.executable, "-m", "bhrdigest", "-q", "send", "--yes", *args]
        child = subprocess.Popen(command, env=self.env | (env or {}), stdout=out, stderr=subprocess.STDOUT, text=True)
        child.output_file = out
        return child

    def run_summary(self) -> dict[str, int]:
        engine = connect(self.database_url)
        try:
            run = ledger.last_run(engine)
            counts = ledger.run_summary(engine, run.id)
            unknown = [d.email for d in runs.deliveries_in(engine, run.id, ["unknown"])]
            return counts | {"finished": run.finished_at is not None, "unknown_emails": set(unknown)}
        finally:
            engine.dispose()


def finish(child: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    try:
        child.wait(timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    child.output_file.seek(0)
    output = child.output_file.read()
    child.output_file.close()
    return child.returncode, output


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def four_senders_deliver_each_digest_once(tmp_path, database_url, count: int) -> None:
    with Sink() as sink:
        deployment = Senders(tmp_path, database_url, count, sink)
        started = time.monotonic()
        children = [deployment.start() for _ in range(4)]
        results = [finish(child) for child in children]
        seconds = time.monotonic() - started
        received = sink.received()
    for code, output in results:
        assert code == 0, output
        assert "(finished)" in output
    assert received == dict.fromkeys(subscribers(count), 1)  # everyone, exactly once
    state = deployment.run_summary()
    assert state["sent"] == count and state["finished"]
    sent_by = [int(output.split(" sent=")[1].split()[0]) for _, output in results]
    assert sum(sent_by) == count
    print(f"4 senders, {count} subscribers: {count} digests, each exactly once, in {seconds:.1f}s; "
          f"sent per process {sent_by}")


@postgresql_only
def test_four_send_processes_on_postgresql_deliver_10000_digests_exactly_once(tmp_path, database_url):
    four_senders_deliver_each_digest_once(tmp_path, database_url, 10_000)


@sqlite_only
def test_four_send_processes_on_one_sqlite_file_deliver_each_digest_exactly_once(tmp_path, database_url):
    four_senders_deliver_each_digest_once(tmp_path, database_url, 800)


@postgresql_only
def test_a_sender_killed_mid_run_has_its_batch_taken_over_and_nobody_gets_two(tmp_path, database_url):
    count = 10_000
    with Sink() as sink:
        deployment = Senders(tmp_path, database_url, count, sink)
        started = time.monotonic()
        children = [deployment.start(env={"SEND_LEASE": "2"}) for _ in range(4)]
        victim, survivors = children[0], children[1:]
        wait_until(lambda: sink.total >= count // 4, 120, "a quarter of the digests")
        victim.kill()  # SIGKILL: no clean-up, messages in flight, a batch half done
        at_kill = sink.total
        results = [finish(child) for child in survivors]
        seconds = time.monotonic() - started
        received = sink.received()
    finish(victim)
    assert at_kill < count, "the kill came after the run was over"
    state = deployment.run_summary()
    unknown = state["unknown_emails"]
    for code, output in results:
        assert code == (3 if unknown else 0), output  # unknown fate is reported, not hidden
        assert "(finished)" in output
    assert state["finished"] and state["queued"] == state["pending"] == state["failed"] == 0
    assert state["sent"] + len(unknown) == count
    assert max(received.values()) == 1, "a subscriber got two digests"
    everyone = set(subscribers(count))
    assert {email for email, copies in received.items() if copies == 1} | unknown == everyone
    assert set(received) - unknown == everyone - unknown  # all but the dead sender's in flight
    assert len(unknown) <= 2 * CONNECTIONS  # in flight or just sent and not yet recorded
    print(f"killed 1 of 4 senders after {at_kill} digests; {state['sent']} sent and recorded, "
          f"{len(unknown)} of unknown fate ({sum(1 for e in unknown if e in received)} of them arrived), "
          f"{len(received)} subscribers received one digest, none two; {seconds:.1f}s")


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_send_with_workers_shares_one_run_among_its_processes(tmp_path, database_url):
    count = 1_500 if "postgresql" in database_url else 600
    with Sink() as sink:
        deployment = Senders(tmp_path, database_url, count, sink)
        private = tmp_path / "tmp"
        private.mkdir()
        code, output = finish(deployment.start("--workers", "3", env={"TMPDIR": str(private)}))
        again, second = finish(deployment.start("--workers", "3"))
        received = sink.received()
    assert code == 0, output
    assert f"sent={count} " in output and "(finished)" in output
    assert again == 0 and "nothing to send" in second
    assert received == dict.fromkeys(subscribers(count), 1)
    # The senders read the parsed configuration from a private snapshot, gone afterwards.
    assert list(private.iterdir()) == []


def test_a_sender_given_an_unreadable_configuration_snapshot_says_so(tmp_path):
    broken = tmp_path / "config.pickle"
    broken.write_bytes(b"not a pickle")
    result = CliRunner().invoke(main, ["send", "--worker-only"], env={"BHRDIGEST_CONFIG_SNAPSHOT": str(broken),
                                "DATABASE_URL": f"sqlite:///{tmp_path}/store.db"})  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "configuration snapshot" in result.output and "Traceback" not in result.output


@sqlite_only
def test_sigterm_to_send_with_workers_stops_its_senders_cleanly_and_a_rerun_finishes(tmp_path, database_url):
    count = 1_000
    with Sink() as sink:
        deployment = Senders(tmp_path, database_url, count, sink)
        coordinator = deployment.start("--workers", "2")
        wait_until(lambda: sink.total >= 100, 60, "the first digests")
        coordinator.send_signal(signal.SIGTERM)
        code, output = finish(coordinator)
        stopped = deployment.run_summary()
        again, rerun = finish(deployment.start("--workers", "2"))
        received = sink.received()
    assert code == 3, output  # partly done
    assert "(unfinished)" in output and "interrupted" in output
    assert stopped["pending"] == 0 and stopped["unknown"] == 0  # what was in flight was finished and recorded
    assert 0 < stopped["sent"] < count
    assert again == 0 and "(finished)" in rerun, rerun
    assert received == dict.fromkeys(subscribers(count), 1)


@pytest.mark.skipif(not os.environ.get("BHRDIGEST_BENCH"), reason="a measurement, not a test: BHRDIGEST_BENCH=1")
@pytest.mark.skipif(not PG_URL, reason=PG_SKIP)
def test_throughput_with_1_2_and_4_workers(tmp_path):
    count = int(os.environ.get("BHRDIGEST_BENCH_SUBSCRIBERS", "10000"))
    rows = []
    for workers in (1, 2, 4):
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        with postgresql_schema("bench") as url, Sink() as sink:
            deployment = Senders(folder, url, count, sink)
            before, started = cpu_of_children(), time.monotonic()
            code, output = finish(deployment.start("--workers", str(workers)), timeout=1800)
            seconds, cpu = time.monotonic() - started, cpu_of_children() - before
            received = sink.received()
        assert code == 0, output
        assert received == dict.fromkeys(subscribers(count), 1)
        rows.append((workers, seconds, cpu))
    print(f"\n{count} subscribers, PostgreSQL, loopback SMTP sink in the test process, {os.cpu_count()} CPUs")
    for workers, seconds, cpu in rows:
        print(f"  --workers {workers}: {seconds:6.1f} s  {count / seconds:6.0f} digests/s   "
              f"send processes' CPU {cpu:5.1f} s = {cpu / count * 1000:.2f} ms a digest")


def cpu_of_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished descendant, waited for
    return usage.ru_utime + usage.ru_stime
