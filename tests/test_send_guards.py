"""`send`'s guards, each the way staff would trip over it: a real SMTP server on loopback,
real SQLite files (and PostgreSQL for what the ledger keeps), the command line itself.

One test (or a few) per guard:
    1 --dry-run wins over every other option          6 no SMTP_URL: refuse, unless --outbox DIR
    2 --resend-unknown lists and asks; status names   7 checks before the question
    3 no empty run; status --runs                     8 test sends: --only X --to me, [TEST]
    4 what a sender waits for, and for how long       9 --only an unsubscribed address: when and how
    5 a second Ctrl-C: summary, exit 3, ledger right
"""

# ruff: noqa: F811 -- `cli` is test_cli's fixture, imported to drive the same command line

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mailurls import assert_no_address_in, urls_in
from smtpserver import SmtpServer, closed_port
from test_cli import SAMPLE, SECRET, cli, received_by, smtp_env, write_config  # noqa: F401

from bhrdigest.signing import read_token
from bhrdigest.store import ledger
from bhrdigest.store.addresses import email_of
from bhrdigest.store.db import connect
from bhrdigest.store.schema import deliveries, digest_runs, feeds
from bhrdigest.store.subscribers import set_paused, suppress

EVERYONE = {"alex@example.org", "sam@example.org", "kim@example.org"}


def count_rows(cli, table: sa.Table) -> int:
    engine = connect(cli.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def delivered_rows(cli) -> int:
    """Deliveries recording items the subscriber now has (sent digests)."""
    engine = connect(cli.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.delivered.is_not(None))
            return conn.execute(query).scalar_one()
    finally:
        engine.dispose()


def with_engine(cli, action):
    engine = connect(cli.env["DATABASE_URL"])
    try:
        return action(engine)
    finally:
        engine.dispose()


def unknown_fate(cli, *emails: str) -> int:
    """The first run, interrupted: `emails` of unknown fate (their sender died mid-send), the rest queued."""

    def interrupt(engine) -> int:
        run = ledger.open_run(engine, now=datetime.now(UTC))
        ledger.enqueue(engine, run.id, sorted(EVERYONE))
        for email in emails:
            assert ledger.claim(engine, run.id, email, f"<{email}>", ["k"], 1)  # in flight, no lease
        ledger.claim_batch(engine, run.id, "the-next-sender", size=0, lease=1)  # finds them orphaned
        ledger.release(engine, run.id, "the-next-sender")
        return run.id

    return with_engine(cli, interrupt)


# --- 1. --dry-run wins ---------------------------------------------------------------


@pytest.mark.parametrize("options", [
    ["--only", "alex@example.org"],
    ["--only", "alex@example.org", "--to", "me@example.org"],
    ["--only", "alex@example.org", "--only", "sam@example.org", "--yes"],
    ["--resend-unknown"],
    ["--resend-unknown", "--yes"],
    ["--yes"],
    ["--workers", "2", "--yes"],
    ["--outbox", "{tmp}/chosen"],
    ["--yes", "--connections", "1", "--rate", "5", "--hourly-limit", "100"],
], ids=" ".join)  # fmt: skip
def test_dry_run_wins_over_every_other_option_and_sends_nothing(cli, options):
    cli("fetch")
    unknown_fate(cli, "sam@example.org")
    options = [option.replace("{tmp}", str(cli.tmp)) for option in options]
    with SmtpServer() as server:
        result = cli("send", "--dry-run", *options, extra_env=smtp_env(server))
        connections = server.sessions
    assert result.exit_code == 0, result.output
    assert "nothing sent, nothing recorded" in result.output
    assert connections == 0 and not server.messages  # not even a connection to the relay
    assert count_rows(cli, digest_runs) == 1 and delivered_rows(cli) == 0
    states = with_engine(cli, lambda engine: ledger.run_summary(engine, 1))
    assert states["unknown"] == 1 and states["queued"] == 2  # --resend-unknown changed nothing either


@pytest.mark.parametrize(("to", "header"), [(["--to", "me@example.org"], "To: me@example.org"),
                                            ([], "To: Alex <alex@example.org>")])
def test_dry_run_of_a_test_send_renders_it_as_it_would_go_out(cli, to, header):
    cli("fetch")
    result = cli("send", "--dry-run", "--only", "alex@example.org", *to)
    assert result.exit_code == 0, result.output
    eml = (cli.tmp / "outbox" / "dry-run" / "alex_example.org.eml").read_text()
    assert "Subject: [TEST] " in eml and header in eml


def test_dry_run_with_worker_only_is_refused(cli):
    result = cli("send", "--dry-run", "--worker-only")
    assert result.exit_code == 1 and "--worker-only" in result.output


# --- 2. --resend-unknown lists and asks; status names the addresses ----------------------


def test_resend_unknown_lists_the_addresses_and_no_means_nothing_is_sent(cli):
    cli("fetch")
    unknown_fate(cli, "alex@example.org")
    with SmtpServer() as server:
        result = cli("send", "--resend-unknown", input="n\n", extra_env=smtp_env(server))
    assert result.exit_code == 1
    assert "re-sending 1 digest of unknown fate" in result.output and "alex@example.org" in result.output
    assert "Send 3 digests (1 of them again) via SMTP" in result.output and not server.messages
    assert with_engine(cli, lambda engine: ledger.run_summary(engine, 1))["unknown"] == 1


def test_resend_unknown_without_an_answer_or_yes_refuses(cli):
    cli("fetch")
    unknown_fate(cli, "alex@example.org")
    with SmtpServer() as server:
        result = cli("send", "--resend-unknown", input="", extra_env=smtp_env(server))
    assert result.exit_code == 1 and "--yes" in result.output and "Traceback" not in result.output
    assert not server.messages


def test_resend_unknown_with_yes_sends_each_digest_once(cli):
    cli("fetch")
    unknown_fate(cli, "alex@example.org")
    with SmtpServer() as server:
        kept = cli("send", "--yes", extra_env=smtp_env(server))  # without the flag: left alone, named
        again = cli("send", "--yes", "--resend-unknown", extra_env=smtp_env(server))
        got = received_by(server)
    assert kept.exit_code == 3 and "alex@example.org" in kept.output and "--resend-unknown" in kept.output
    assert again.exit_code == 0, again.output
    assert {address: len(messages) for address, messages in got.items()} == dict.fromkeys(EVERYONE, 1)


def test_status_names_the_unknown_and_failed_addresses_of_the_last_run(cli):
    cli("fetch")
    run_id = unknown_fate(cli, "alex@example.org")

    def fail_sam(engine) -> None:
        from bhrdigest.mail.sending import SendResult

        assert ledger.claim(engine, run_id, "sam@example.org", "<sam>", ["k"], 1)
        ledger.mark(engine, run_id, "sam@example.org", SendResult("<sam>", "failed", "451 mailbox busy", 3), ["k"])

    with_engine(cli, fail_sam)
    text = cli("status").output
    report = json.loads(cli("status", "--json").output)["last_digest_run"]
    assert "1 of unknown fate" in text and "alex@example.org" in text
    assert "1 failed" in text and "sam@example.org: 451 mailbox busy" in text
    assert [entry["email"] for entry in report["unknown"]] == ["alex@example.org"]
    assert report["failed"] == [{"email": "sam@example.org", "error": "451 mailbox busy"}]


# --- 3. no empty run; the run history ----------------------------------------------------


def test_a_send_with_nothing_to_send_opens_no_run_and_status_keeps_the_real_one(cli):
    cli("fetch")
    outbox = ["--outbox", str(cli.tmp / "outbox")]
    assert cli("send", "--yes", *outbox).exit_code == 0
    again = cli("send", "--yes", *outbox)
    assert again.exit_code == 0 and "nothing to send: no run opened" in again.output
    assert count_rows(cli, digest_runs) == 1
    last = json.loads(cli("status", "--json").output)["last_digest_run"]
    assert last["id"] == 1 and last["deliveries"]["sent"] == 3


def test_status_runs_shows_each_runs_period_counts_and_times(cli, tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_bytes(SAMPLE.read_bytes())
    config = write_config(tmp_path, [str(feed)])
    outbox = ["--outbox", str(tmp_path / "outbox")]
    cli("--config", str(config), "fetch")
    cli("--config", str(config), "send", "--yes", *outbox)
    feed.write_text(SAMPLE.read_text(encoding="utf-8").replace("/latest-news/", "/latest-news/week-2-"))
    cli("--config", str(config), "fetch")
    second = cli("--config", str(config), "send", "--yes", *outbox)
    assert second.exit_code == 0, second.output

    text = cli("--config", str(config), "status", "--runs").output
    runs = json.loads(cli("--config", str(config), "status", "--runs", "--json").output)["runs"]
    assert [run["id"] for run in runs] == [2, 1]
    assert runs[0]["period_start"] == runs[1]["period_end"]  # one period after the other
    assert all(run["planned"] == run["deliveries"]["sent"] == 3 for run in runs)
    assert all(run["started_at"] <= run["finished_at"] for run in runs)
    assert "#2" in text and "#1" in text and "planned 3, sent 3, failed 0, gone 0, unknown 0" in text
    assert "runs" not in json.loads(cli("--config", str(config), "status", "--json").output)


# --- 4. what a sender waits for ----------------------------------------------------------


def held_by(cli, worker: str, *, lease: float) -> None:
    """An unfinished run whose first recipient is held by `worker` for `lease` seconds."""

    def hold(engine) -> None:
        run = ledger.open_run(engine, now=datetime.now(UTC))
        ledger.enqueue(engine, run.id, ["alex@example.org"])
        assert ledger.claim_batch(engine, run.id, worker, size=1, lease=lease).emails == ("alex@example.org",)

    with_engine(cli, hold)


def test_a_sender_waiting_for_another_ones_batch_says_for_whom_and_how_long(cli):
    cli("fetch")
    held_by(cli, "elsewhere:4242:ab12cd", lease=10)  # another machine's sender, silent since
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert result.exit_code == 0, result.output
    said = result.output.split("waiting for 1 digest held by sender elsewhere:4242:ab12cd until ")[1]
    assert re.match(r"\d\d:\d\d:\d\d UTC \(\d s\)", said)  # said after 5 s of waiting: a few s left
    assert {address: len(messages) for address, messages in got.items()} == dict.fromkeys(EVERYONE, 1)


def test_a_batch_of_a_killed_sender_on_this_machine_is_taken_over_at_once(cli):
    cli("fetch")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid now names no process
    held_by(cli, f"{socket.gethostname()}:{gone.pid}:ab12cd", lease=600)
    started = time.monotonic()
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 30  # not the 600 s lease
    assert f":{gone.pid}:ab12cd is no longer running: taking over its 1 digest now" in result.output
    assert {address: len(messages) for address, messages in got.items()} == dict.fromkeys(EVERYONE, 1)


# --- 5. Ctrl-C twice -------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_ctrl_c_still_prints_the_summary_exits_3_and_leaves_the_ledger_right(cli, workers):
    cli("fetch")
    with SmtpServer() as server:
        server.stall = True  # no message gets its answer: each one sent is in flight
        env = os.environ | cli.env | smtp_env(server) | {"SMTP_CONNECTIONS": "1"}
        command = [sys.executable, "-m", "bhrdigest", "send", "--yes", "--workers", workers, "--batch-size", "1"]
        child = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while server.data_attempts < int(workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        in_flight = server.data_attempts
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=30)
        server.stall = False
        states = with_engine(cli, lambda engine: ledger.run_summary(engine, 1))
        rest = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert child.returncode == 3, output
    assert "Aborted!" not in output and "send run=1 planned=" in output and f"unknown={in_flight}" in output
    assert states["pending"] == 0 and states["unknown"] == in_flight and states["queued"] == 3 - in_flight
    assert rest.exit_code == 3 and f"unknown={in_flight}" in rest.output  # the others go; the unknown wait
    assert sorted(len(messages) for messages in got.values()) == [1] * (3 - in_flight)


def test_stopped_on_the_last_digest_the_summary_does_not_promise_a_queue_that_is_empty(cli):
    cli("fetch")
    for email in ("sam@example.org", "kim@example.org"):
        cli("unsubscribe", email)  # one digest in the run: in flight when stopped, nothing left queued
    with SmtpServer() as server:
        server.stall = True
        env = os.environ | cli.env | smtp_env(server)
        child = subprocess.Popen([sys.executable, "-m", "bhrdigest", "send", "--yes"], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while server.data_attempts < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=30)
        server.stall = False
    assert child.returncode == 3, output
    assert "planned=1" in output and "unknown=1" in output and "(finished)" in output
    assert "every digest of the run already has an outcome" in output and "stay queued" not in output


# --- 6. no SMTP_URL -----------------------------------------------------------------------------


def test_a_real_send_without_smtp_url_refuses_and_marks_nobody_delivered(cli):
    cli("fetch")
    result = cli("send", "--yes")
    assert result.exit_code == 1
    assert "SMTP_URL is not set" in result.output and "--outbox DIR" in result.output
    assert count_rows(cli, digest_runs) == 0 and not (cli.tmp / "outbox").exists()
    test = cli("send", "--only", "alex@example.org")
    assert test.exit_code == 1 and "SMTP_URL is not set" in test.output


def test_outbox_dir_is_the_explicit_way_to_write_a_run_to_files(cli):
    cli("fetch")
    folder = cli.tmp / "files"
    result = cli("send", "--outbox", str(folder), input="y\n")
    assert result.exit_code == 0, result.output
    assert f"via files in {folder} (--outbox: not mailed)?" in result.output
    assert len(list(folder.glob("*.eml"))) == 3 and "sent=3" in result.output


def test_outbox_dir_and_smtp_url_together_are_refused(cli):
    cli("fetch")
    with SmtpServer() as server:
        result = cli("send", "--yes", "--outbox", str(cli.tmp / "files"), extra_env=smtp_env(server))
    assert result.exit_code == 1 and "SMTP_URL is set too" in result.output and not server.messages


# --- 7. checks before the question -----------------------------------------------------


def test_a_missing_secret_stops_before_the_question(cli):
    cli("fetch")
    with SmtpServer() as server:
        env = smtp_env(server) | {"BHRDIGEST_SECRET": ""}
        result = cli("send", input="y\n", extra_env=env)
    assert result.exit_code == 1 and "FAIL  secret: BHRDIGEST_SECRET is not set" in result.output
    assert "Send 3 digests" not in result.output and not server.messages


def test_an_unreachable_relay_stops_before_the_question(cli):
    cli("fetch")
    env = {"SMTP_URL": f"smtp+plain://127.0.0.1:{closed_port()}", "BHRDIGEST_SECRET": SECRET}
    result = cli("send", input="y\n", extra_env=env)
    assert result.exit_code == 1 and "FAIL  smtp:" in result.output and "refused" in result.output
    assert "Send 3 digests" not in result.output and count_rows(cli, digest_runs) == 0


def test_refused_credentials_stop_before_the_question(cli):
    cli("fetch")
    with SmtpServer(credentials=("digest", "right")) as server:
        env = {"SMTP_URL": f"smtp+plain://digest:wrong@127.0.0.1:{server.port}", "BHRDIGEST_SECRET": SECRET}
        result = cli("send", input="y\n", extra_env=env)
    assert result.exit_code == 1 and "FAIL  smtp:" in result.output and "wrong" not in result.output
    assert "Send 3 digests" not in result.output and not server.messages


def test_the_plan_shows_a_broken_feed_since_when_and_a_stale_fetch(cli, tmp_path):
    missing = tmp_path / "gone.xml"
    config = write_config(tmp_path, [str(SAMPLE), str(missing)])
    cli("--config", str(config), "fetch")

    def three_days_back(engine) -> None:
        with engine.begin() as conn:
            conn.execute(sa.update(feeds).where(feeds.c.url == str(SAMPLE))
                         .values(last_ok_at=datetime.now(UTC) - timedelta(days=3)))  # fmt: skip

    with_engine(cli, three_days_back)
    with SmtpServer() as server:
        result = cli("--config", str(config), "send", input="n\n", extra_env=smtp_env(server))
    before_question = result.output.split("Send 3 digests")[0]
    assert result.exit_code == 1 and "Send 3 digests" in result.output
    assert f"WARN  feed {missing}: broken since " in before_question
    assert "WARN  fetch: last successful fetch" in before_question
    assert "(3 days ago): is the worker running?" in before_question
    assert "OK    smtp: 127.0.0.1" in before_question


# --- 8. test sends --------------------------------------------------------------------------


def test_a_test_send_mails_the_subscribers_digest_to_me_and_records_nothing(cli):
    cli("fetch")
    with SmtpServer() as server:
        test = cli("send", "--only", "alex@example.org", "--to", "me@example.org", extra_env=smtp_env(server))
        assert test.exit_code == 0, test.output
        assert count_rows(cli, digest_runs) == count_rows(cli, deliveries) == 0
        real = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert "test sent: alex@example.org's digest to me@example.org" in test.output
    [mine] = got["me@example.org"]
    assert mine["Subject"].startswith("[TEST] ") and mine["To"] == "me@example.org"
    assert "Cellebrite" in mine.get_body(("plain",)).get_content()  # Alex's interests
    [alex] = got["alex@example.org"]  # the real send still sends Alex's digest
    assert real.exit_code == 0 and not alex["Subject"].startswith("[TEST]")
    # The test's links are mine, not Alex's: clicking them in my mailbox cannot unsubscribe Alex.
    signed_for = with_engine(cli, lambda engine: {
        name: email_of(engine, read_token(SECRET, url.rsplit("/", 1)[1], "weekly.bhrdigest.example.org"))
        for name, url in (("mine", unsubscribe_url(mine)), ("alex", unsubscribe_url(alex)))})
    assert signed_for == {"mine": "me@example.org", "alex": "alex@example.org"}
    assert_no_address_in(urls_in(mine), "me@example.org")
    assert_no_address_in(urls_in(mine), "alex@example.org")


def unsubscribe_url(message) -> str:
    return re.search(r"<(https?://[^>]+)>", message["List-Unsubscribe"]).group(1)


def test_to_needs_only_and_a_real_address(cli):
    assert "--only" in cli("send", "--to", "me@example.org").output
    bad = cli("send", "--only", "alex@example.org", "--to", "me at example")
    assert bad.exit_code == 1 and "--to 'me at example'" in bad.output


# --- 9. --only on someone who gets no digest ------------------------------------------------


def test_only_an_unsubscribed_address_says_when_and_how(cli):
    cli("fetch")
    november = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with_engine(cli, lambda engine: suppress(engine, "alex@example.org", "one-click", now=november))
    with_engine(cli, lambda engine: set_paused(engine, "sam@example.org", True, now=november))
    with_engine(cli, lambda engine: suppress(engine, "kim@example.org", "hard-bounce", now=november))
    with SmtpServer() as server:
        result = cli("send", "--only", "alex@example.org", "--only", "sam@example.org", "--only", "kim@example.org",
                     "--only", "nobody@example.org", extra_env=smtp_env(server))  # fmt: skip
    assert result.exit_code == 1 and not server.messages
    assert "alex@example.org unsubscribed on 2026-11-30 (one-click)" in result.output
    assert "kim@example.org was suppressed on 2026-11-30 (its mailbox bounced for good)" in result.output
    assert "sam@example.org paused their digest on 2026-11-30" in result.output
    assert "nobody@example.org is not a subscriber" in result.output
