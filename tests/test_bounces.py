"""Bounces and complaints: what each report says, and `bhrdigest bounces` over a real mailbox.

The bounce samples in fixtures/bounces/ come from flufl.bounce's own test corpus (Apache-2.0,
GNU Mailman's detector library); arf_complaint.eml and autoreply.eml are ours.
"""

from __future__ import annotations

import asyncio
import email
import json
import logging
import mailbox
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from imapserver import PASSWORD, append, dovecot_server, subjects

from bhrdigest.cli.main import main
from bhrdigest.mail.bounces import BounceKind, classify, recipient_from_verp, verp_address
from bhrdigest.model import Catalogue
from bhrdigest.ops.bounces import check_mailbox
from bhrdigest.store.bounces import bounce_counts, record_bounce
from bhrdigest.store.db import connect
from bhrdigest.store.subscribers import get_suppression
from bhrdigest.worker import run_worker

FIXTURES = Path(__file__).parent / "fixtures" / "bounces"
BOUNCES = "bounces@bounce.example.org"
NOW = datetime(2026, 12, 3, 8, tzinfo=UTC)


def load(name: str) -> email.message.Message:
    return email.message_from_bytes((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(("name", "kind", "recipients"), [
    ("dsn_01.eml", BounceKind.HARD, ("userx@example.com",)),
    ("postfix_01.eml", BounceKind.HARD, ("xxxxx@local.ie",)),
    ("qmail_01.eml", BounceKind.HARD, ("userx@example.de",)),
    ("exim_01.eml", BounceKind.HARD, ("userx@its.example.nl",)),
    ("microsoft_01.eml", BounceKind.HARD, ("userx@example.com",)),
    ("yahoo_01.eml", BounceKind.HARD, ("userx@example.com",)),
    ("groupwise_01.eml", BounceKind.HARD, ("userx@example.edu",)),
    ("sendmail_01.eml", BounceKind.HARD, ("zzzzz@nfg.nl", "zzzzz@shaft.coal.nl")),
    ("aol_01.eml", BounceKind.HARD, ("screenname@aol.com",)),
    ("dsn_05.eml", BounceKind.SOFT, ("userx@example.cz",)),
    ("dsn_17.eml", BounceKind.SOFT, ("userx@example.fi",)),
    ("simple_03.eml", BounceKind.SOFT, ("userx@example.za",)),
    ("arf_complaint.eml", BounceKind.COMPLAINT, ("alex@example.org",)),
    ("autoreply.eml", BounceKind.UNKNOWN, ()),
])
def test_reports_of_common_mail_servers_are_recognised(name, kind, recipients):
    report = classify(load(name), bounce_address=BOUNCES)
    assert (report.kind, report.recipients) == (kind, recipients)


def test_verp_address_names_its_recipient_and_nothing_else():
    verp = verp_address("Alex.Doe+news@example.org", BOUNCES)
    assert verp == "bounces+Alex.Doe+news=example.org@bounce.example.org"
    assert recipient_from_verp(verp, BOUNCES) == "alex.doe+news@example.org"
    assert recipient_from_verp("bounces@bounce.example.org", BOUNCES) is None
    assert recipient_from_verp("bounces+alex=example.org@elsewhere.example", BOUNCES) is None
    assert recipient_from_verp("other+alex=example.org@bounce.example.org", BOUNCES) is None


def test_verp_recipient_wins_over_the_address_a_report_quotes():
    raw = (FIXTURES / "dsn_01.eml").read_bytes()
    message = email.message_from_bytes(b"Delivered-To: bounces+sam=example.org@bounce.example.org\n" + raw)
    assert classify(message, bounce_address=BOUNCES).recipients == ("sam@example.org",)


def test_a_hard_bounce_or_a_complaint_suppresses_at_once_soft_ones_only_in_number(engine):
    assert record_bounce(engine, "A@x.org", "hard", report_id="<1@r>", detail="550", now=NOW).suppressed
    assert get_suppression(engine, "a@x.org").reason == "hard-bounce"
    assert record_bounce(engine, "c@x.org", "complaint", report_id="<2@r>", detail="abuse", now=NOW).suppressed
    for day in range(2):
        recorded = record_bounce(engine, "s@x.org", "soft", report_id=f"<s{day}@r>", detail="full",
                                 now=NOW + timedelta(days=day))
        assert not recorded.suppressed
    assert get_suppression(engine, "s@x.org") is None
    assert record_bounce(engine, "s@x.org", "soft", report_id="<s9@r>", detail="full",
                         now=NOW + timedelta(days=3)).suppressed
    assert get_suppression(engine, "s@x.org").reason == "soft-bounces"


def test_soft_bounces_outside_the_window_do_not_add_up(engine):
    for month in range(4):
        record_bounce(engine, "s@x.org", "soft", report_id=f"<{month}@r>", detail="full",
                      now=NOW + timedelta(days=31 * month))
    assert get_suppression(engine, "s@x.org") is None


def test_the_same_report_read_twice_is_recorded_once(engine):
    first = record_bounce(engine, "s@x.org", "soft", report_id="<1@r>", detail="full", now=NOW)
    again = record_bounce(engine, "s@x.org", "soft", report_id="<1@r>", detail="full", now=NOW)
    assert (first.new, again.new) == (True, False)
    assert bounce_counts(engine) == {"soft": 1}


SUBSCRIBERS = ["userx@example.com", "xxxxx@local.ie", "userx@example.cz", "alex@example.org"]
INBOX = ["dsn_01.eml", "postfix_01.eml", "dsn_05.eml", "arf_complaint.eml", "autoreply.eml"]


@pytest.fixture
def staff(tmp_path):
    """`bhrdigest` with a configuration whose subscribers the inbox's reports are about."""
    people = "".join(f"\n  - email: {address}\n    companies: [Cellebrite]" for address in SUBSCRIBERS)
    config = tmp_path / "subscriptions.yaml"
    config.write_text(f"""sender:
  from: "Resource Centre <updates@example.org>"
  bounce_address: {BOUNCES}
feeds: []
companies:
  Cellebrite: {{}}
subscribers:{people}
""")
    env = {"BHRDIGEST_CONFIG": str(config), "DATABASE_URL": f"sqlite:///{tmp_path / 'bhrdigest.db'}",
           "BOUNCE_MAILBOX_URL": ""}

    def run(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    return run


def test_bounces_over_a_maildir_suppresses_and_leaves_what_it_cannot_read(staff, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in INBOX:
        box.add((FIXTURES / name).read_bytes())
    result = staff("bounces", "--mailbox", f"maildir:{tmp_path / 'Maildir'}")
    assert result.exit_code == 0, result.output
    assert "read=5 hard=2 soft=1 complaints=1 unknown=1 suppressed=3 left=1" in result.output
    left = [m["Subject"] for m in mailbox.Maildir(tmp_path / "Maildir", create=False)]
    assert left == ["Out of office: Business & human rights: your weekly update"]
    listing = staff("subscribers").output
    assert "(hard-bounce)" in listing and "(complaint)" in listing


def test_bounces_dry_run_records_nothing_and_removes_nothing(staff, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in INBOX:
        box.add((FIXTURES / name).read_bytes())
    result = staff("bounces", "--dry-run", "--mailbox", str(tmp_path / "Maildir"))
    assert "hard=2 soft=1 complaints=1 unknown=1 suppressed=0 left=5" in result.output
    assert len(mailbox.Maildir(tmp_path / "Maildir", create=False)) == 5
    assert "(hard-bounce)" not in staff("subscribers").output


def test_bounces_over_a_real_imap_server(staff, tmp_path):
    with dovecot_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        append(port, [(FIXTURES / name).read_bytes() for name in INBOX])
        result = staff("bounces", "--json", "--mailbox", url)
        assert result.exit_code == 0, result.output
        assert '"hard": 2, "soft": 1, "complaints": 1, "unknown": 1, "suppressed": 3' in result.output
        assert PASSWORD not in result.output  # the mailbox's password is never shown
        assert subjects(port) == ["Subject: Out of office: Business & human rights: your weekly update"]
        again = staff("bounces", "--mailbox", url)
        assert "read=1 hard=0 soft=0 complaints=0 unknown=1 suppressed=0 left=1" in again.output


def test_a_wrong_password_or_a_dead_server_is_a_clear_error(staff, tmp_path):
    with dovecot_server() as url:
        refused = staff("bounces", "--mailbox", url.replace(f":{PASSWORD}@", ":wrong@"))
    assert refused.exit_code == 1
    assert "refused us" in refused.output and "wrong" not in refused.output
    dead = staff("bounces", "--mailbox", url)
    assert dead.exit_code == 1 and "did not answer" in dead.output


def test_bounces_without_a_mailbox_says_what_to_set(staff):
    result = staff("bounces")
    assert result.exit_code == 1
    assert "BOUNCE_MAILBOX_URL" in result.output


# --- the worker reads the mailbox on its interval ----------------------------------------


def test_the_worker_reads_the_bounce_mailbox_each_interval(staff, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in INBOX:
        box.add((FIXTURES / name).read_bytes())
    env = os.environ | {"BHRDIGEST_CONFIG": str(tmp_path / "subscriptions.yaml"),
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'bhrdigest.db'}",
                        "BOUNCE_MAILBOX_URL": f"maildir:{tmp_path / 'Maildir'}", "TELEGRAM_BOT_TOKEN": ""}
    env.pop("DYNO", None)
    command = [sys.executable, "-m", "bhrdigest", "worker", "--interval", "0.01"]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(mailbox.Maildir(tmp_path / "Maildir", create=False)) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stderr
    assert "reading bounces from maildir:" in stderr
    assert "bounces hard=2 soft=1 complaints=1" in stderr and "mailbox_failures=0" in stderr
    assert "(hard-bounce)" in staff("subscribers").output


async def test_a_failing_mailbox_never_stops_the_worker_and_is_read_again_next_interval(engine, tmp_path, caplog):
    folder = tmp_path / "Maildir"  # not there at first: the mailbox fails
    stop, fetches = asyncio.Event(), []

    async def fetch_once():
        fetches.append(1)
        if len(fetches) == 2:  # the mailbox comes back
            box = mailbox.Maildir(folder, create=True)
            box.add((FIXTURES / "dsn_01.eml").read_bytes())
        if len(fetches) == 3:
            stop.set()
        return []

    def check_bounces():
        return check_mailbox(engine, f"maildir:{folder}", now=NOW, bounce_address=BOUNCES)

    caplog.set_level(logging.INFO, logger="bhrdigest")
    await asyncio.wait_for(run_worker(fetch_once=fetch_once, engine=engine, sender=None, catalogue=Catalogue(),
                                      interval=0.05, stop_event=stop, check_bounces=check_bounces), timeout=20)
    assert "bounce mailbox failed, trying again next interval" in caplog.text
    assert "is not a Maildir folder" in caplog.text
    assert get_suppression(engine, "userx@example.com").reason == "hard-bounce"
    assert "bounces hard=1 soft=0 complaints=0 unknown=0 suppressed=1 mailbox_failures=1" in caplog.text


# --- status ----------------------------------------------------------------------------


def test_status_shows_bounces_this_week_and_ever_and_suppressions_by_reason(staff, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in INBOX:
        box.add((FIXTURES / name).read_bytes())
    assert staff("bounces", "--mailbox", f"maildir:{tmp_path / 'Maildir'}").exit_code == 0
    engine = connect(f"sqlite:///{tmp_path / 'bhrdigest.db'}")
    long_ago = datetime.now(UTC) - timedelta(days=30)
    record_bounce(engine, "old@example.org", "hard", report_id="<old@r>", detail="550", now=long_ago)
    engine.dispose()
    assert staff("unsubscribe", "kim@example.org").exit_code == 0
    report = json.loads(staff("status", "--json").output)
    assert report["bounces"] == {
        "last_7_days": {"hard": 2, "soft": 1, "complaint": 1},
        "all_time": {"hard": 3, "soft": 1, "complaint": 1},
        "suppressed": {"complaint": 1, "hard-bounce": 3, "staff": 1},
    }
    text = staff("status").output
    assert "bounces: last 7 days hard 2, soft 1, complaint 1; all time hard 3, soft 1, complaint 1" in text
    assert "suppressed addresses: complaint 1, hard-bounce 3, staff 1" in text
