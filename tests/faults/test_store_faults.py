"""The store under stress, through the CLI: a locked, a read-only and a full database,
two `send`s at once, and a database an older release created, upgraded in place.

Each fault must end in a clear message (never a traceback), change nothing it cannot
finish, and leave a database the next run carries on with.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from faultkit import (
    SAMPLE,
    SECRET,
    SOAK,
    Bhr,
    assert_no_traceback,
    finish,
    news_item,
    rss,
    scaled,
    subscribers_yaml,
    write_config,
)
from fixtures import schema_v1
from sink import Sink

from bhrdigest.ingest.parse import parse_feed
from bhrdigest.ingest.tagging import Tagger
from bhrdigest.model import Catalogue, Company
from bhrdigest.store.components import content_hash
from bhrdigest.store.db import normalise_url


def prepare(tmp_path, count: int = 20, database_url: str | None = None, feed: Path = SAMPLE) -> Bhr:
    config = write_config(tmp_path, feeds=[feed], subscribers=subscribers_yaml(count))
    bhr = Bhr(tmp_path, config=config, database_url=database_url)
    fetched = bhr.run("-q", "fetch")
    assert fetched.returncode == 0, fetched.describe()
    return bhr


def db_file(bhr: Bhr) -> Path:
    return Path(bhr.database_url.removeprefix("sqlite:///"))


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def bigger_feed(folder: Path, count: int = 300) -> Path:
    path = folder / "big.xml"
    path.write_bytes(rss([news_item(f"n{i}", f"Cellebrite news {i}", "words " * 200) for i in range(count)]))
    return path


# --- locked -------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextmanager
def locked(path: Path, seconds: float):
    """Another process holds SQLite's write lock on `path` for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_database_locked_for_a_moment_is_waited_for_and_the_fetch_goes_through(tmp_path):
    bhr = prepare(tmp_path)
    bigger = bigger_feed(tmp_path, 20)
    bhr.config.write_text(bhr.config.read_text().replace(str(SAMPLE), str(bigger)))
    with locked(db_file(bhr), 2.0):
        ran = bhr.run("-q", "fetch")
    assert ran.returncode == 0 and "new=20" in ran.stdout, ran.describe()


@pytest.mark.skipif(not SOAK, reason="waits out SQLite's 30 s busy timeout; BHRDIGEST_SOAK=1 runs it")
def test_a_database_locked_beyond_the_busy_timeout_is_a_clear_error(tmp_path):
    bhr = prepare(tmp_path)
    bhr.config.write_text(bhr.config.read_text().replace(str(SAMPLE), str(bigger_feed(tmp_path, 20))))
    with locked(db_file(bhr), 60):
        ran = bhr.run("-q", "fetch")
    assert_no_traceback(ran)
    assert ran.returncode == 1 and "locked" in ran.stderr, ran.describe()


# --- read-only ----------------------------------------------------------------------------


@contextmanager
def read_only(path: Path):
    """The database file (and any WAL files) made read-only — for root too (chattr +i)."""
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in files}
        for p in files:
            p.chmod(0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, files)],
                                                        capture_output=True, check=False).returncode:
        pytest.skip("running as root, and `chattr +i` is unavailable here: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


def test_a_read_only_database_refuses_writes_clearly_still_answers_status_and_recovers(tmp_path):
    bhr = prepare(tmp_path)
    bhr.config.write_text(bhr.config.read_text().replace(str(SAMPLE), str(bigger_feed(tmp_path, 20))))
    with read_only(db_file(bhr)):
        fetched = bhr.run("-q", "fetch")
        status = bhr.run("-q", "status", "--json")
        sent = bhr.run("-q", "send", "--yes", "--outbox", str(tmp_path / "outbox"))
    for ran in (fetched, sent):
        assert_no_traceback(ran)
        assert ran.returncode == 1 and "readonly" in ran.stderr.replace("read-only", "readonly"), ran.describe()
    assert status.returncode == 0 and json.loads(status.stdout)["components"] == 5, status.describe()
    assert not list((tmp_path / "outbox").rglob("*.eml"))
    again = bhr.run("-q", "fetch")
    assert again.returncode == 0 and "new=20" in again.stdout, again.describe()
    assert integrity(db_file(bhr)) == "ok"


# --- full disk ----------------------------------------------------------------------------


def disk_full_at(limit: int):
    """For a child process: files cannot grow past `limit` bytes (EFBIG, as a full disk's ENOSPC)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_during_fetch_is_a_clear_error_and_the_database_survives_intact(tmp_path):
    bhr = prepare(tmp_path)
    bhr.config.write_text(bhr.config.read_text().replace(str(SAMPLE), str(bigger_feed(tmp_path))))
    full = bhr.run("-q", "fetch", preexec_fn=disk_full_at(60_000))
    assert_no_traceback(full)
    assert full.returncode == 1 and "store" in full.stderr and "disk" in full.stderr, full.describe()
    assert integrity(db_file(bhr)) == "ok"
    assert bhr.status()["components"] == 5  # the failed fetch stored nothing half-way
    room = bhr.run("-q", "fetch")
    assert room.returncode == 0 and "new=300" in room.stdout, room.describe()


def test_a_full_disk_during_send_loses_no_digest_once_there_is_room_again(tmp_path):
    bhr = prepare(tmp_path, count=50, feed=bigger_feed(tmp_path))
    with Sink() as sink:
        env = {"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET, "SEND_LEASE": "1"}
        full = bhr.run("-q", "send", "--yes", env=env, preexec_fn=disk_full_at(60_000))
        rerun = bhr.run("-q", "send", "--yes", env=env)
        resend = bhr.run("-q", "send", "--yes", "--resend-unknown", env=env)
        received = sink.by_address()
    assert full.returncode != 0, full.describe()
    assert rerun.returncode in (0, 3) and resend.returncode == 0, rerun.describe() + resend.describe()
    assert len(received) == 50 and all(len(copies) <= 2 for copies in received.values())
    assert integrity(db_file(bhr)) == "ok"


def test_a_full_disk_during_send_is_a_clear_error_not_a_traceback(tmp_path):
    bhr = prepare(tmp_path, count=50, feed=bigger_feed(tmp_path))
    with Sink() as sink:
        full = bhr.run("-q", "send", "--yes", env={"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET},
                       preexec_fn=disk_full_at(60_000))
    assert full.returncode in (1, 3), full.describe()
    assert_no_traceback(full)


# --- two senders at once --------------------------------------------------------------------


def test_two_sends_started_at_once_deliver_every_digest_exactly_once(store_url, tmp_path):
    count = scaled(300, 3000)
    bhr = prepare(tmp_path, count=count, database_url=store_url)
    with Sink() as sink:
        env = {"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET}
        first, second = (bhr.start("-q", "send", "--yes", env=env) for _ in range(2))
        ran = [finish(first, 180), finish(second, 180)]
        received = sink.by_address()
    for each in ran:
        assert each.returncode == 0, each.describe()
        assert_no_traceback(each)
    assert len(received) == count
    assert max(len(copies) for copies in received.values()) == 1, "a subscriber got two digests"
    deliveries = bhr.deliveries()
    assert deliveries["sent"] == count and not deliveries.get("unknown") and not deliveries.get("pending")


# --- a database from an older release -----------------------------------------------------------

V1_PERIOD_END = datetime.now(UTC) - timedelta(days=2)


def fill_version_1(url: str) -> list:
    """A database as bhrdigest 0.1 left it: schema version 1, the sample's components first
    seen a day ago, and a finished digest run in which sub00000 already got the first one."""
    engine = sa.create_engine(normalise_url(url))
    tagger = Tagger(Catalogue(companies=(Company("Cellebrite"), Company("Nasdaq"), Company("Sun Corporation"))))
    parsed = [tagger.tag(e) for e in parse_feed(SAMPLE.read_bytes(), feed_url=str(SAMPLE)).entries]
    seen = datetime.now(UTC) - timedelta(days=1)
    v1 = schema_v1
    with engine.begin() as conn:
        v1.metadata.create_all(conn)
        conn.execute(sa.insert(v1.schema_version).values(version=1))
        conn.execute(sa.insert(v1.feeds).values(url=str(SAMPLE), error_count=0, component_count=len(parsed),
                                               first_ok_at=seen, last_ok_at=seen, last_fetched_at=seen))
        for c in parsed:
            conn.execute(sa.insert(v1.components).values(
                key=c.key, url=c.url, guid=c.guid, title=c.title, language=c.language, published=c.published,
                author=c.author, source_title=c.source_title, source_date=c.source_date,
                excerpt_html=c.excerpt_html, excerpt_text=c.excerpt_text, kind=c.kind.value,
                content_hash=content_hash(c), first_seen_at=seen, updated_at=seen, alertable=False))
            conn.execute(sa.insert(v1.component_feeds).values(key=c.key, feed_url=str(SAMPLE)))
            for position, name in enumerate(c.companies):
                conn.execute(sa.insert(v1.component_tags).values(key=c.key, facet="company", name=name,
                                                                 position=position))
        run_id = conn.execute(sa.insert(v1.digest_runs).values(
            started_at=V1_PERIOD_END, finished_at=V1_PERIOD_END, period_start=V1_PERIOD_END - timedelta(days=7),
            period_end=V1_PERIOD_END)).inserted_primary_key[0]
        cellebrite = [c for c in parsed if "Cellebrite" in c.companies]
        conn.execute(sa.insert(v1.deliveries).values(run_id=run_id, email="sub00000@example.org", status="sent",
                                                    message_id="<digest-1-old@example.org>", item_count=1,
                                                    size=1000, attempts=1, updated_at=V1_PERIOD_END))
        conn.execute(sa.insert(v1.delivered_components).values(email="sub00000@example.org",
                                                              key=cellebrite[0].key, run_id=run_id))
    engine.dispose()
    return cellebrite


def test_a_database_from_schema_version_1_is_upgraded_in_place_and_its_history_kept(store_url, tmp_path):
    cellebrite = fill_version_1(store_url)
    config = write_config(tmp_path, feeds=[SAMPLE], subscribers=subscribers_yaml(3))
    bhr = Bhr(tmp_path, config=config, database_url=store_url, create_database=False)  # the upgrade is the test
    upgraded = bhr.run("db", "upgrade")
    again = bhr.run("db", "upgrade")
    assert upgraded.returncode == 0 and "upgraded from 1" in upgraded.stdout, upgraded.describe()
    assert again.returncode == 0 and "is current" in again.stdout, again.describe()
    report = bhr.status()
    assert report["components"] == 5 and report["last_digest_run"]["id"] == 1
    assert report["last_digest_run"]["deliveries"]["sent"] == 1
    with Sink(keep_content=True) as sink:
        sent = bhr.run("-q", "send", "--yes", env={"SMTP_URL": sink.url, "BHRDIGEST_SECRET": SECRET})
        received = sink.by_address()
    assert sent.returncode == 0 and "run=2" in sent.stdout, sent.describe()
    assert sorted(received) == [f"sub{i:05d}@example.org" for i in range(3)]
    first, other = (html_of(received[f"sub0000{i}@example.org"][0].content) for i in (0, 1))
    assert len(cellebrite) == 2
    # Version 1 kept only the identity URL; the upgrade gives links back the www. the site publishes with.
    links = [c.url.replace("https://", "https://www.", 1) for c in cellebrite]
    assert all(link in other for link in links)
    assert links[1] in first
    assert links[0] not in first, "a component delivered before the upgrade came again"


def html_of(content: bytes) -> str:
    message = email.message_from_bytes(content, policy=email.policy.default)
    return message.get_body(("html",)).get_content()
