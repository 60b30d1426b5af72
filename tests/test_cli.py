"""The command line as staff use it: real SQLite files, real loopback servers.

Set BHRDIGEST_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from botapi import TOKEN, FakeBotAPI
from click.testing import CliRunner
from feedserver import FeedServer, Route
from smtpserver import SmtpServer, closed_port

from bhrdigest.cli.main import main
from bhrdigest.store.db import SCHEMA_VERSION, connect
from bhrdigest.store.schema import deliveries

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
GOLDEN = Path(__file__).parent / "golden"
SECRET = "test-secret-of-enough-length-0123456789"

SUBSCRIBERS = """
  - email: alex@example.org
    name: Alex
    companies: [Cellebrite]
  - email: sam@example.org
    name: Sam
    regions: [Americas]
  - email: kim@example.org
    topics: [Technology & human rights]
"""


def write_config(folder: Path, feeds: list[str], subscribers: str = SUBSCRIBERS) -> Path:
    feed_lines = "\n".join(f"  - url: {json.dumps(url)}" for url in feeds)
    path = folder / "subscriptions.yaml"
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  unsubscribe_mailto: "unsubscribe@example.org"
  list_id: weekly.bhrdigest.example.org
feeds:
{feed_lines}
companies:
  Cellebrite: {{}}
  Nasdaq: {{}}
  Sun Corporation: {{}}
subscribers:{subscribers}""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def cli(tmp_path):
    """Run bhrdigest with a config, database and outbox inside tmp_path."""
    env = {
        "BHRDIGEST_CONFIG": str(write_config(tmp_path, [str(SAMPLE)])),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bhrdigest.db'}",
        "BHRDIGEST_OUTBOX": str(tmp_path / "outbox"),
        "SMTP_URL": "",
        "BHRDIGEST_SECRET": "",
        "TELEGRAM_BOT_TOKEN": "",
        "DYNO": "",
    }

    def invoke(*args: str, extra_env: dict[str, str] | None = None, input: str | None = None):
        runner = CliRunner()
        return runner.invoke(main, list(args), env=env | (extra_env or {}), input=input, catch_exceptions=False)

    created = invoke("db", "upgrade")  # no command but `db upgrade` and `demo` creates a database
    assert created.exit_code == 0, created.output
    invoke.env = env
    invoke.tmp = tmp_path
    return invoke


def all_commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


@pytest.mark.parametrize("path", [p for p, _ in all_commands(main)], ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    command = dict(all_commands(main))[path]
    assert command.help and "Example:" in command.help, f"{' '.join(path)} needs help with an Example:"


def test_check_accepts_the_bundled_configuration():
    result = CliRunner().invoke(main, ["--config", str(ROOT / "subscriptions.yaml"), "check"])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output


def test_check_names_file_line_and_field_and_exits_1_without_traceback(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sender:\n  from: updates@example.org\nsubscribers:\n  - email: not-an-address\n    compnies: [X]\n")
    result = cli("--config", str(bad), "check")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"{bad}:4" in result.output and "subscribers[0].email" in result.output
    assert "companies" in result.output  # the suggestion for the misspelt key


def test_check_names_a_missing_feed_file_and_an_unknown_language(cli, tmp_path):
    config = write_config(tmp_path, [str(SAMPLE), "samples/latest-news-jp.xml"],
                          "\n  - email: sakura@example.org\n    companies: [Cellebrite]\n    languages: [jp, en]\n")
    result = cli("--config", str(config), "check")
    assert result.exit_code == 1, result.output
    assert f"{config}:8: feeds[1].url: no such file {tmp_path / 'samples' / 'latest-news-jp.xml'}" in result.output
    assert "subscribers[0].languages: 'jp' is not a known language code; did you mean 'ja'?" in result.output


def test_fetch_stores_the_sample_and_components_json_matches_the_golden_file(cli):
    result = cli("fetch")
    assert result.exit_code == 0, result.output
    assert "fetch feeds=1 new=5" in result.output
    listed = cli("components", "--json")
    assert listed.exit_code == 0, listed.output
    golden = GOLDEN / "components-sample.jsonl"
    if os.environ.get("BHRDIGEST_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(listed.output, encoding="utf-8")
    assert listed.output == golden.read_text(encoding="utf-8")


def test_components_json_carries_the_contract_fields(cli):
    cli("fetch")
    lines = [json.loads(line) for line in cli("components", "--json").output.splitlines()]
    required = {"key", "url", "title", "language", "published", "author", "kind", "companies", "countries",
                "regions", "topics", "translations"}
    assert lines and all(required <= set(line) for line in lines)
    kinds = {line["title"]: line["kind"] for line in lines}
    assert kinds["Cellebrite's response"] == "company_response"
    assert kinds["Sun Corporation did not respond"] == "company_non_response"


def test_a_second_fetch_finds_nothing_new(cli):
    cli("fetch")
    result = cli("fetch")
    assert result.exit_code == 0
    assert "new=0" in result.output


def test_components_since_filters_by_first_seen(cli):
    cli("fetch")
    assert cli("components", "--since", "2000-01-01").output.count("\n") >= 5
    assert cli("components", "--since", "2999-01-01").output == ""
    bad = cli("components", "--since", "last week")
    assert bad.exit_code == 2 and "2026-11-21" in bad.output


def test_one_failing_feed_exits_3_and_the_others_are_stored(cli, tmp_path):
    with FeedServer() as server:
        good = server.route(
            "/good.xml", Route(body=SAMPLE.read_bytes(), headers={"Content-Type": "application/rss+xml"})
        )
        broken = server.route("/broken.xml", Route(status=500))
        config = write_config(tmp_path, [good, broken])
        result = cli("--config", str(config), "fetch")
        status = cli("--config", str(config), "status", "--json")
    assert result.exit_code == 3, result.output
    assert f"failed: {broken}" in result.output
    assert "new=5" in result.output and "failed=1" in result.output
    report = json.loads(status.output)
    health = {feed["url"]: feed["health"] for feed in report["feeds"]}
    assert health == {good: "ok", broken: "broken"}
    assert report["components"] == 5


def test_fetch_sends_conditional_requests_the_second_time(cli, tmp_path):
    with FeedServer() as server:
        url = server.route("/feed.xml", Route(body=SAMPLE.read_bytes(), etag='"v1"'))
        config = write_config(tmp_path, [url])
        cli("--config", str(config), "fetch")
        second = cli("--config", str(config), "fetch")
        requests = server.requests("/feed.xml")
    assert second.exit_code == 0 and "not_modified=1" in second.output
    assert requests[1].headers.get("if-none-match") == '"v1"'


def test_send_writes_each_digest_to_the_outbox_once(cli):
    cli("fetch")
    first = cli("send", "--yes", "--outbox", str(cli.tmp / "outbox"))
    assert first.exit_code == 0, first.output
    files = sorted((cli.tmp / "outbox").glob("*.eml"))
    assert len(files) == 3, first.output
    again = cli("send", "--yes", "--outbox", str(cli.tmp / "outbox"))
    assert again.exit_code == 0, again.output
    assert "nothing to send" in again.output
    assert sorted((cli.tmp / "outbox").glob("*.eml")) == files


def test_send_asks_before_sending_and_stops_on_no(cli):
    cli("fetch")
    result = cli("send", "--outbox", str(cli.tmp / "outbox"), input="n\n")
    assert result.exit_code == 1
    assert "Send 3 digests" in result.output
    assert not list((cli.tmp / "outbox").glob("*.eml"))


def test_dry_run_renders_files_and_records_nothing(cli, tmp_path):
    cli("fetch")
    folder = tmp_path / "dry"
    result = cli("send", "--dry-run", "--outbox", str(folder))
    assert result.exit_code == 0, result.output
    assert len(list(folder.glob("*.html"))) == 3 and "nothing recorded" in result.output
    real = cli("send", "--yes", "--outbox", str(tmp_path / "outbox"))
    assert "sent=3" in real.output


def received_by(server: SmtpServer) -> dict[str, list[email.message.EmailMessage]]:
    by_address: dict[str, list] = {}
    for received in server.messages:
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        for address in received.rcpt_tos:
            by_address.setdefault(address, []).append(message)
    return by_address


def smtp_env(server: SmtpServer) -> dict[str, str]:
    return {"SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}", "BHRDIGEST_SECRET": SECRET}


def test_send_over_smtp_delivers_one_digest_per_subscriber_exactly_once(cli):
    cli("fetch")
    with SmtpServer() as server:
        first = cli("send", "--yes", extra_env=smtp_env(server))
        second = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0 and "nothing to send" in second.output
    assert {address: len(messages) for address, messages in got.items()} == {
        "alex@example.org": 1, "sam@example.org": 1, "kim@example.org": 1
    }
    alex = got["alex@example.org"][0]
    assert alex["To"] == "Alex <alex@example.org>"
    assert alex["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://digest.example.org/u/" in alex["List-Unsubscribe"]
    raw = next(r.content for r in server.messages if "alex@example.org" in r.rcpt_tos)
    assert b"\r\nList-Unsubscribe: <https://digest.example.org/u/" in raw  # one line, never encoded words
    assert [part.get_content_type() for part in alex.iter_parts()] == ["text/plain", "text/html"]
    assert "Cellebrite" in alex.get_body(("plain",)).get_content()


def test_send_over_smtp_needs_the_signing_secret(cli):
    cli("fetch")
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env={"SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}"})
        assert not server.messages
    assert result.exit_code == 1 and "BHRDIGEST_SECRET" in result.output


def test_a_dead_smtp_server_is_named_and_nothing_is_marked_sent(cli):
    cli("fetch")
    env = {"SMTP_URL": f"smtp+plain://127.0.0.1:{closed_port()}", "BHRDIGEST_SECRET": SECRET}
    result = cli("send", "--yes", extra_env=env)
    assert result.exit_code == 1
    assert "connection refused" in result.output and "Traceback" not in result.output
    engine = connect(cli.env["DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar() == 0


def test_a_refused_recipient_is_recorded_and_the_rest_are_delivered(cli):
    cli("fetch")
    with SmtpServer() as server:
        server.refuse = {"sam@example.org": "550 5.1.1 mailbox unavailable"}
        first = cli("send", "--yes", extra_env=smtp_env(server))
        again = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert first.exit_code == 3
    assert "sam@example.org" in first.output and "550" in first.output
    assert set(got) == {"alex@example.org", "kim@example.org"}
    assert again.exit_code == 0 and len(server.messages) == 2  # the refusal is not retried


def test_a_connection_dropped_mid_run_still_delivers_everyone_once(cli):
    cli("fetch")
    with SmtpServer() as server:
        server.drop_after = 1
        result = cli("send", "--yes", "--connections", "1", extra_env=smtp_env(server))
        got = received_by(server)
    assert result.exit_code == 0, result.output
    assert sorted(len(m) for m in got.values()) == [1, 1, 1]


def test_only_sends_a_test_and_marks_nothing_delivered(cli):
    cli("fetch")
    with SmtpServer() as server:
        test = cli("send", "--only", "alex@example.org", extra_env=smtp_env(server))
        real = cli("send", "--yes", extra_env=smtp_env(server))
        got = received_by(server)
    assert test.exit_code == 0, test.output
    assert real.exit_code == 0 and "sent=3" in real.output
    assert "not recorded" in test.output
    assert len(got["alex@example.org"]) == 2 and len(got["sam@example.org"]) == 1
    unknown = cli("send", "--only", "nobody@example.org")
    assert unknown.exit_code == 1 and "not a subscriber" in unknown.output


def test_preview_renders_html_and_text_without_recording(cli, tmp_path):
    cli("fetch")
    out = tmp_path / "alex.html"
    html = cli("preview", "alex@example.org", "-o", str(out))
    text = cli("preview", "alex@example.org", "--text")
    assert html.exit_code == 0 and "Cellebrite" in out.read_text(encoding="utf-8")
    assert "<html" in out.read_text(encoding="utf-8").lower()
    assert "Cellebrite" in text.output and "<td" not in text.output
    assert "sent=3" in cli("send", "--yes", "--outbox", str(tmp_path / "outbox")).output


def test_each_digest_subject_gives_the_date_and_the_lead_headline(cli, tmp_path):
    from datetime import UTC, datetime

    cli("fetch")
    folder = tmp_path / "dry"
    assert cli("send", "--dry-run", "--outbox", str(folder)).exit_code == 0
    subjects = {}
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects[str(message["To"].addresses[0].addr_spec)] = str(message["Subject"])
    today = datetime.now(UTC)
    head = f"Business & human rights: your weekly update · {today.day} {today:%B} {today.year}: "
    # Alex follows Cellebrite: its response leads, and the subject says so (and how many follow).
    assert subjects["alex@example.org"].startswith(head + "Cellebrite's response, and ")
    assert subjects["alex@example.org"].endswith(" more")
    assert all(subject.startswith(head) for subject in subjects.values())
    assert len(set(subjects.values())) == 3  # each reader's own lead


def test_db_upgrade_is_idempotent(cli):
    first = cli("db", "upgrade")
    second = cli("db", "upgrade")
    assert first.exit_code == 0 and f"version {SCHEMA_VERSION}" in first.output
    assert "is current" in second.output


def test_a_sqlite_file_is_refused_on_an_ephemeral_disk(cli):
    result = cli("fetch", extra_env={"DYNO": "worker.1"})
    assert result.exit_code == 1
    assert "ephemeral" in result.output and "PostgreSQL" in result.output


def test_demo_writes_digests_and_says_which_file_to_open(cli, tmp_path):
    result = cli("--config", str(ROOT / "subscriptions.yaml"), "demo", "--outbox", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    assert "understood" in result.output and "Open " in result.output
    assert list((tmp_path / "demo").glob("*.eml")) and list((tmp_path / "demo").glob("*.html"))


def test_demo_reads_old_sample_feeds_as_news_of_their_week(cli, tmp_path):
    result = cli("--config", str(ROOT / "subscriptions.yaml"), "demo", "--outbox", str(tmp_path / "demo"))
    assert "running as of 03 August 2021" in result.output
    alex = next((tmp_path / "demo").glob("*alex_example.org.html")).read_text()
    new, _, earlier = alex.partition("Earlier items newly added")
    assert new.count('class="title"') >= 3, "the 2021 items are this week's news, not a backfill"
    assert "Cellebrite&#39;s response" in new.split('class="lead-title"')[1][:300]


# --- Telegram alerts through the CLI ------------------------------------------------

TRACKER = """
  - email: alex@example.org
    name: Alex
    companies: [Cellebrite]
    telegram: 4242
"""
FIRST_ITEM = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><title>Earlier news</title><link>https://www.business-humanrights.org/en/latest-news/earlier/</link>
<description>nothing to alert</description></item></channel></rss>"""


def test_alert_without_a_token_warns_and_leaves_digests_alone(cli):
    result = cli("alert")
    assert result.exit_code == 0
    assert "TELEGRAM_BOT_TOKEN is not set" in result.output


def test_a_tracked_company_in_a_new_component_reaches_the_chat_once(cli, tmp_path):
    with FeedServer() as server, FakeBotAPI() as api:
        url = server.route("/feed.xml", Route(body=FIRST_ITEM), Route(body=SAMPLE.read_bytes()))
        config = str(write_config(tmp_path, [url], TRACKER))
        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api.url}
        cli("--config", config, "fetch")  # the feed's first fetch: a backfill, no alerts
        fetched = cli("--config", config, "fetch")
        preview = cli("--config", config, "alert", "--dry-run", extra_env=env)
        sent = cli("--config", config, "alert", extra_env=env)
        again = cli("--config", config, "alert", extra_env=env)
        texts = api.texts(4242)
    assert "alerts_queued=2" in fetched.output, fetched.output  # the USA item and the response
    assert "--- chat 4242" in preview.output and "Cellebrite" in preview.output
    assert sent.exit_code == 0, sent.output
    assert "sent=2" in sent.output and "sent=0" in again.output
    assert len(texts) == 1, texts  # one burst for one chat: one message
    assert "Cellebrite's response" in texts[0] and "Civil society urges SEC" in texts[0]


def test_worker_fetches_alerts_and_stops_on_sigterm(tmp_path):
    with FeedServer() as server, FakeBotAPI() as api:
        url = server.route("/feed.xml", Route(body=FIRST_ITEM), Route(body=SAMPLE.read_bytes()))
        config = write_config(tmp_path, [url], TRACKER)
        env = os.environ | {
            "BHRDIGEST_CONFIG": str(config),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": api.url,
        }
        env.pop("DYNO", None)
        assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
        command = [sys.executable, "-m", "bhrdigest", "worker", "--interval", "0.01"]
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while len(api.texts(4242)) < 1 and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.1)
            child.send_signal(signal.SIGTERM)
            _, stderr = child.communicate(timeout=20)
        finally:
            if child.poll() is None:
                child.kill()
        texts = api.texts(4242)
    assert child.returncode == 0, stderr
    assert texts and "Cellebrite" in "\n".join(texts)
    assert "worker stopped" in stderr


def test_check_names_a_broken_template_with_its_line(cli, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("digest.html.j2", "digest.txt.j2", "digest.css"):
        (templates / name).write_text((ROOT / "templates" / name).read_text(encoding="utf-8"), encoding="utf-8")
    text = templates / "digest.txt.j2"
    lines = text.read_text(encoding="utf-8").splitlines()
    text.write_text("\n".join(lines + ["{{ digest.subscriber_nmae }}"]) + "\n", encoding="utf-8")
    result = cli("check")
    assert result.exit_code == 1, result.output
    assert f"digest.txt.j2:{len(lines) + 1}" in result.output and "subscriber_nmae" in result.output
    assert "Traceback" not in result.output


# --- mailbox conventions: what a Spanish reader's mail client receives -------------------------

SPANISH_READER = """
  - email: ana@example.org
    name: Ana
    languages: [es, en]
    companies: [Cellebrite]
"""
FOOTER = """  reply_to: equipo@example.org
  postal_address: "Business & Human Rights Resource Centre, 7 Example Street, London, UK"
  privacy_url: https://www.example.org/privacy
  view_url: https://www.example.org/weekly-update
"""


def with_footer(path: Path, footer: str = FOOTER) -> Path:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  list_id:", footer + "  list_id:", 1), encoding="utf-8")
    return path


def test_a_spanish_reader_gets_a_spanish_auto_submitted_digest_with_reply_to_and_footer(cli, tmp_path):
    config = with_footer(write_config(tmp_path, [str(SAMPLE)], SPANISH_READER))
    assert cli("fetch").exit_code == 0
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env=smtp_env(server) | {"BHRDIGEST_CONFIG": str(config)})
        (message,) = received_by(server)["ana@example.org"]
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Empresas y derechos humanos: su boletín semanal · \d{1,2} de \w+ de \d{4}: .+ y \d+ más",
                        message["Subject"]), message["Subject"]  # date and count in Spanish too
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Reply-To"] == "equipo@example.org"
    assert message["Content-Language"] == "es"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Estimado/a Ana:" in text and "7 Example Street, London, UK" in text
    assert "Aviso de privacidad: https://www.example.org/privacy" in text
    assert 'href="https://www.example.org/weekly-update"' in html and '<html lang="es" dir="ltr">' in html


def test_check_refuses_a_bad_reply_to_or_privacy_link_naming_the_field(cli, tmp_path):
    bad = "  reply_to: not an address\n  privacy_url: http://www.example.org/privacy\n"
    config = with_footer(write_config(tmp_path, [str(SAMPLE)]), bad)
    result = cli("--config", str(config), "check")
    assert result.exit_code == 1
    assert "sender.reply_to" in result.output and "sender.privacy_url" in result.output
    assert "https://" in result.output and "Traceback" not in result.output


def test_check_warns_when_the_postal_address_or_privacy_notice_is_missing(cli, tmp_path):
    plain = write_config(tmp_path, [str(SAMPLE)])
    warned = cli("--config", str(plain), "check")
    assert warned.exit_code == 0, warned.output
    assert "sender.postal_address is not set" in warned.output and "sender.privacy_url is not set" in warned.output
    complete = cli("--config", str(with_footer(plain)), "check")
    assert complete.exit_code == 0 and "warning" not in complete.output
