"""SMTP relays that fail in every way a relay fails, through `bhrdigest send`.

Already proven elsewhere, not repeated here: a relay down at start (tests/test_cli.py
test_a_dead_smtp_server_is_named_and_nothing_is_marked_sent), one refused recipient and a
dropped connection with three subscribers (tests/test_cli.py), a stalling relay timing out
and STARTTLS with bad certificates (tests/test_smtp.py, short timeouts).
"""

from __future__ import annotations

import socket

import pytest
from faultkit import (
    SAMPLE,
    SECRET,
    Bhr,
    assert_no_traceback,
    send_summary,
    subscribers_yaml,
    write_config,
)
from sink import Sink
from smtpserver import SmtpServer


def prepare(tmp_path, count: int) -> Bhr:
    config = write_config(tmp_path, feeds=[SAMPLE], subscribers=subscribers_yaml(count))
    bhr = Bhr(tmp_path, config=config)
    assert bhr.run("-q", "fetch").returncode == 0
    return bhr


def relay_env(url: str) -> dict[str, str]:
    return {"SMTP_URL": url, "BHRDIGEST_SECRET": SECRET}


def counts(server: SmtpServer) -> dict[str, int]:
    found: dict[str, int] = {}
    for address in server.recipients:
        found[address] = found.get(address, 0) + 1
    return found


def test_a_4xx_storm_stops_the_run_early_and_a_later_run_delivers_everyone_once(tmp_path):
    bhr = prepare(tmp_path, 60)
    with SmtpServer() as server:
        server.transient_failures = 10**9  # "451 try again later", to everything
        storm = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        during = bhr.deliveries()
        attempts_in_storm = server.data_attempts
        server.transient_failures = 0
        later = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        got = counts(server)
    assert_no_traceback(storm)
    assert storm.returncode == 3 and "deferred 12 attempts in a row" in storm.stderr, storm.describe()
    assert "451" in storm.stderr and "again later" in storm.stderr
    assert attempts_in_storm < 30, "the relay was hammered: every subscriber got the full retry back-off"
    assert during.get("sent", 0) == 0 and during.get("gone", 0) == 0, during
    assert later.returncode == 0, later.describe()
    assert got == {f"sub{i:05d}@example.org": 1 for i in range(60)}


def test_a_relay_refusing_every_recipient_stops_before_marking_everyone_gone(tmp_path):
    bhr = prepare(tmp_path, 60)
    addresses = [f"sub{i:05d}@example.org" for i in range(60)]
    with SmtpServer() as server:
        server.refuse = dict.fromkeys(addresses, "550 5.7.1 Relaying denied")
        refused = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        during = bhr.deliveries()
        server.refuse = {}
        fixed = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        got = counts(server)
    assert_no_traceback(refused)
    assert refused.returncode == 3 and "refused 12 recipients in a row" in refused.stderr, refused.describe()
    assert during["gone"] <= 12 + 4, during  # the storm limit and what was in flight: not all 60
    assert fixed.returncode == 0, fixed.describe()
    assert len(got) == 60 - during["gone"] and set(got.values()) == {1}


def test_5xx_for_some_recipients_marks_exactly_them_gone_and_never_retries_them(tmp_path):
    count = 200
    bhr = prepare(tmp_path, count)
    refused = {f"sub{i:05d}@example.org" for i in range(0, count, 10)}
    with SmtpServer() as server:
        server.refuse = dict.fromkeys(refused, "550 5.1.1 mailbox unavailable")
        first = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        again = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        tried = len(server.rcpt_attempts)
        got = counts(server)
    assert first.returncode == 3, first.describe()
    assert all(f"{address}: recipient refused: " in first.stderr for address in refused)
    assert set(got) == {f"sub{i:05d}@example.org" for i in range(count)} - refused and set(got.values()) == {1}
    assert again.returncode == 0 and tried == count, "a refused recipient was tried again"
    assert send_summary(first.stdout)["gone"] == len(refused)


def test_a_relay_that_cuts_the_connection_every_few_messages_still_delivers_everyone_once(tmp_path):
    count = 200
    bhr = prepare(tmp_path, count)
    with SmtpServer() as server:
        server.drop_after = 5
        ran = bhr.run("-q", "send", "--yes", env=relay_env(f"smtp+plain://127.0.0.1:{server.port}"))
        got = counts(server)
        sessions = server.sessions
    assert ran.returncode == 0, ran.describe()
    assert got == {f"sub{i:05d}@example.org": 1 for i in range(count)}
    assert sessions >= count // 5


def test_bad_credentials_are_a_clear_error_that_never_prints_the_password(tmp_path):
    bhr = prepare(tmp_path, 5)
    password = "Pa55-w0rd-never-printed"
    with SmtpServer(credentials=("digest", "the-right-one")) as server:
        ran = bhr.run("send", "--yes", env=relay_env(f"smtp+plain://digest:{password}@127.0.0.1:{server.port}"))
        verbose = bhr.run("-vv", "send", "--yes",
                          env=relay_env(f"smtp+plain://digest:{password}@127.0.0.1:{server.port}"))
        arrived = len(server.messages)
    assert_no_traceback(ran)
    assert ran.returncode == 1 and "authentication failed for user digest" in ran.stderr, ran.describe()
    assert password not in ran.output and password not in verbose.output
    assert arrived == 0 and not bhr.deliveries().get("sent")


def outward_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_starttls_demanded_but_not_offered_never_sends_the_password(tmp_path):
    address = outward_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine: STARTTLS is only demanded beyond loopback")
    bhr = prepare(tmp_path, 5)
    password = "Pa55-w0rd-kept-secret"
    with Sink(host=address) as relay:  # no STARTTLS offered
        ran = bhr.run("send", "--yes", env=relay_env(f"smtp://digest:{password}@{address}:{relay.port}"))
        arrived = relay.count()
    assert_no_traceback(ran)
    assert ran.returncode == 1 and "does not offer STARTTLS" in ran.stderr, ran.describe()
    assert password not in ran.output and arrived == 0
    assert not bhr.deliveries().get("sent")
