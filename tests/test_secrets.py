"""Secrets are never printed: the bot token, feed passwords, database passwords.

Every command runs as staff run it (the CLI, real loopback servers); what it prints,
on stdout, stderr and in its log lines, is searched for the secret.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botapi import TOKEN, FakeBotAPI
from click.testing import CliRunner
from feedserver import FeedServer, Route

from bhrdigest.cli.main import main
from bhrdigest.logs import configure_logging
from bhrdigest.redact import display_url, redact_text

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
FEED_PASSWORD = "feed-pass-7f3a9"
DB_PASSWORD_TAIL = "cretpw"


def write_config(folder: Path, feeds: list[str]) -> Path:
    lines = "\n".join(f"  - url: {json.dumps(url)}" for url in feeds)
    path = folder / "subscriptions.yaml"
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
feeds:
{lines}
companies:
  Cellebrite: {{}}
subscribers:
  - email: alex@example.org
    companies: [Cellebrite]
    telegram: 4242
""",
        encoding="utf-8",
    )
    return path


def environment(tmp_path: Path, feeds: list[str], **changes: str) -> dict[str, str]:
    env = {
        "BHRDIGEST_CONFIG": str(write_config(tmp_path, feeds)),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "TELEGRAM_BOT_TOKEN": "",
        "TELEGRAM_API_URL": "",
        "SMTP_URL": "",
        "DYNO": "",
    } | changes
    if "DATABASE_URL" not in changes:  # no command but `db upgrade` creates the database
        created = invoke(env, "db", "upgrade")
        assert created.exit_code == 0, created.output
    return env


def invoke(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def error_page_api():
    """A Bot API behind a proxy that answers 502 with a page quoting the request URL."""
    with FakeBotAPI() as api:
        api.error_page = 502
        yield api


# --- the bot token ----------------------------------------------------------------------


def test_doctor_names_a_bot_api_error_page_without_the_token(tmp_path, error_page_api):
    env = environment(tmp_path, [], TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=error_page_api.url)

    result = invoke(env, "doctor", "--timeout", "5")

    telegram = next(line for line in result.output.splitlines() if " telegram: " in line)
    assert telegram.startswith("FAIL") and "Bad Gateway (502)" in telegram
    assert TOKEN not in result.output
    assert TOKEN.split(":")[1] not in result.output


def test_alert_names_a_bot_api_error_page_without_the_token(tmp_path, error_page_api):
    env = environment(tmp_path, [], TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=error_page_api.url)

    result = invoke(env, "-v", "alert")

    assert "Bad Gateway (502)" in result.output, result.output
    assert TOKEN not in result.output and TOKEN.split(":")[1] not in result.output


def test_worker_logs_bot_api_error_pages_without_the_token(tmp_path, error_page_api):
    env = os.environ | environment(tmp_path, [str(SAMPLE)], TELEGRAM_BOT_TOKEN=TOKEN,
                                   TELEGRAM_API_URL=error_page_api.url)
    worker = subprocess.Popen([sys.executable, "-m", "bhrdigest", "-vv", "worker", "--interval", "0.01"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)
    alive = worker.poll() is None
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=20)

    assert alive, err[-2000:]  # the worker outlives the Bot API (issue 12) …
    assert err.count("fetch feeds=1") >= 2  # … and goes on fetching
    assert "502" in err, err[-2000:]
    assert TOKEN not in out + err and TOKEN.split(":")[1] not in out + err


def test_every_log_record_is_redacted_not_only_the_librarys(capsys):
    configure_logging(0, json_logs=True, secrets=["a-signing-secret-0123"])
    try:
        logging.getLogger("bhrdigest.anything").warning("page said: POST /bot%s/getMe", TOKEN)
        logging.getLogger("httpx").warning("HTTP Request: POST http://127.0.0.1/bot%s/sendMessage", TOKEN)
        try:
            raise RuntimeError("secret a-signing-secret-0123 in a traceback")
        except RuntimeError:
            logging.getLogger("bhrdigest.anything").exception("failed")
    finally:
        logging.getLogger().handlers.clear()

    err = capsys.readouterr().err
    assert err.count("/bot***/") == 2
    assert TOKEN not in err and "a-signing-secret-0123" not in err
    assert "secret *** in a traceback" in err


# --- feed URLs with a password ------------------------------------------------------------


def test_fetch_status_and_doctor_show_a_feed_url_without_its_password(tmp_path):
    with FeedServer() as server:
        url = server.route("/private.xml", Route(status=404))
        with_password = url.replace("http://", f"http://alex:{FEED_PASSWORD}@")
        env = environment(tmp_path, [with_password])
        shown = with_password.replace(FEED_PASSWORD, "***")

        fetched = invoke(env, "fetch")
        status = invoke(env, "status")
        status_json = invoke(env, "status", "--json")
        doctor = invoke(env, "doctor", "--timeout", "5")

    assert f"failed: {shown}: answered 404" in fetched.output
    assert shown in status.output
    assert [feed["url"] for feed in json.loads(status_json.output)["feeds"]] == [shown]
    assert f"FAIL  feed {shown}: answered 404" in doctor.output
    for result in (fetched, status, status_json, doctor):
        assert FEED_PASSWORD not in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://alex:pw@example.org/feed", "https://alex:***@example.org/feed"),
        ("https://alex:p@ss@example.org/feed", "https://alex:***@example.org/feed"),
        ("https://ghp_tokenvalue@example.org/feed", "https://***@example.org/feed"),
        ("https://example.org/feed?a=b@c", "https://example.org/feed?a=b@c"),
        ("/srv/feeds/latest.xml", "/srv/feeds/latest.xml"),
    ],
)
def test_display_url_masks_the_password_and_nothing_else(url, shown):
    assert display_url(url) == shown


def test_a_url_password_inside_a_message_is_masked():
    message = "redirect loop: https://alex:pw1@a.example/f -> https://alex:p@ss@b.example/f"

    assert redact_text(message) == "redirect loop: https://alex:***@a.example/f -> https://alex:***@b.example/f"


# --- DATABASE_URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "database_url",
    [
        f"postgresql://bob:se@{DB_PASSWORD_TAIL}@127.0.0.1:5432/digest",  # an unencoded @
        f"postgresql://bob:se/{DB_PASSWORD_TAIL}@127.0.0.1:5432/digest",  # an unencoded /
        f"postgresql://bob:{DB_PASSWORD_TAIL}@127.0.0.1:port/digest",  # a port that is not a number
    ],
)
def test_a_database_url_with_an_unencoded_password_is_refused_without_showing_it(tmp_path, database_url):
    env = environment(tmp_path, [], DATABASE_URL=database_url)

    result = CliRunner().invoke(main, ["status"], env=env)

    assert result.exit_code == 1, result.output
    assert "percent-encode the password" in result.output
    assert isinstance(result.exception, SystemExit)  # a clear message, not a traceback
    assert DB_PASSWORD_TAIL not in result.output
