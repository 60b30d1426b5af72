"""`bhrdigest doctor` against real servers on loopback: what is wrong, in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botapi import TOKEN, FakeBotAPI
from click.testing import CliRunner
from feedserver import FeedServer, Route
from smtpserver import SmtpServer

from bhrdigest.cli.main import main
from bhrdigest.store.db import current_version, open_engine

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
SECRET = "test-secret-of-enough-length-0123456789"
PASSWORD = "s3cret-relay-password"


def write_config(folder: Path, feeds: list[str]) -> Path:
    feed_lines = "\n".join(f"  - url: {json.dumps(url)}" for url in feeds)
    path = folder / "subscriptions.yaml"
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
feeds:
{feed_lines}
companies:
  Cellebrite: {{}}
subscribers:
  - email: alex@example.org
    companies: [Cellebrite]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def servers():
    with SmtpServer(credentials=("digest", PASSWORD)) as smtp, FakeBotAPI() as bot, FeedServer() as feeds:
        good = feeds.route(
            "/feed.xml", Route(body=SAMPLE.read_bytes(), headers={"Content-Type": "application/rss+xml"})
        )
        yield smtp, bot, feeds, good


def environment(tmp_path, database_url, smtp, bot, feeds: list[str], **changes) -> dict[str, str]:
    env = {
        "BHRDIGEST_CONFIG": str(write_config(tmp_path, feeds)),
        "DATABASE_URL": database_url,
        "SMTP_URL": f"smtp://digest:{PASSWORD}@127.0.0.1:{smtp.port}",
        "BHRDIGEST_SECRET": SECRET,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": bot.url,
        "BHRDIGEST_OUTBOX": str(tmp_path / "outbox"),
        "DYNO": "",
    }
    return env | changes


def doctor(env: dict[str, str], *args: str):
    return CliRunner().invoke(main, ["doctor", "--timeout", "5", *args], env=env, catch_exceptions=False)


def upgraded(env: dict[str, str]) -> dict[str, str]:
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return env


def lines_by_check(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        name, _, detail = rest.strip().partition(": ")
        if status in ("OK", "WARN", "FAIL"):
            found[name] = f"{status} {detail}"
    return found


def test_a_healthy_deployment_passes_every_check(tmp_path, database_url, servers):
    smtp, bot, _feeds, good = servers
    env = upgraded(environment(tmp_path, database_url, smtp, bot, [good]))

    result = doctor(env)

    assert result.exit_code == 0, result.output
    checks = lines_by_check(result.output)
    assert set(checks) == {"configuration", "database", "smtp", "secret", "telegram", f"feed {good}"}
    assert checks["smtp"].startswith("OK") and "logged in as digest" in checks["smtp"]
    assert checks["telegram"] == "OK the Bot API accepts the token: this is @bhr_test_bot"
    assert checks[f"feed {good}"].startswith("OK 5 items")
    database = checks["database"]
    assert database.startswith("WARN" if database_url.startswith("sqlite") else "OK"), database
    assert PASSWORD not in result.output and TOKEN not in result.output
    assert not smtp.messages and not bot.messages  # a check sends nothing


def test_a_wrong_smtp_password_is_named_without_showing_it(tmp_path, database_url, servers):
    smtp, bot, _feeds, good = servers
    env = upgraded(environment(tmp_path, database_url, smtp, bot, [good],
                               SMTP_URL=f"smtp://digest:wrong-{PASSWORD}@127.0.0.1:{smtp.port}"))

    result = doctor(env)

    assert result.exit_code == 1
    check = lines_by_check(result.output)["smtp"]
    assert check.startswith("FAIL") and "authentication failed for user digest" in check
    assert PASSWORD not in result.output
    assert "checks failed: smtp" in result.output


def test_a_rejected_bot_token_and_a_broken_feed_are_named(tmp_path, database_url, servers):
    smtp, bot, feeds, good = servers
    broken = feeds.route("/gone.xml", Route(status=404))
    env = upgraded(environment(tmp_path, database_url, smtp, bot, [good, broken],
                               TELEGRAM_BOT_TOKEN="999999:not-the-right-token"))

    result = doctor(env)

    assert result.exit_code == 1
    checks = lines_by_check(result.output)
    assert checks["telegram"].startswith("FAIL") and "rejected TELEGRAM_BOT_TOKEN" in checks["telegram"]
    assert checks[f"feed {broken}"].startswith("FAIL") and "404" in checks[f"feed {broken}"]
    assert checks[f"feed {good}"].startswith("OK")  # one broken feed does not hide the others
    assert "not-the-right-token" not in result.output


def test_a_database_without_the_schema_is_found_and_left_unchanged(tmp_path, database_url, servers):
    smtp, bot, _feeds, good = servers
    env = environment(tmp_path, database_url, smtp, bot, [good])

    result = doctor(env)

    assert result.exit_code == 1
    line = lines_by_check(result.output)["database"]
    assert line.startswith("FAIL") and "`bhrdigest db upgrade`" in line
    if database_url.startswith("sqlite:///"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()  # the doctor looked; it created nothing
        return
    engine = open_engine(database_url)
    try:
        assert current_version(engine) is None  # the doctor looked; it did not upgrade
    finally:
        engine.dispose()


def test_a_sqlite_file_on_an_ephemeral_disk_fails_with_what_to_do(tmp_path, servers):
    smtp, bot, _feeds, good = servers
    env = environment(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", smtp, bot, [good], DYNO="worker.1")

    result = doctor(env)

    assert result.exit_code == 1
    database = lines_by_check(result.output)["database"]
    assert database.startswith("FAIL") and "ephemeral" in database and "PostgreSQL" in database


def test_no_smtp_and_no_token_are_warnings_saying_what_happens_instead(tmp_path, servers):
    smtp, bot, _feeds, good = servers
    env = upgraded(environment(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", smtp, bot, [good],
                               SMTP_URL="", TELEGRAM_BOT_TOKEN="", BHRDIGEST_SECRET=""))

    result = doctor(env, "--json")

    assert result.exit_code == 0, result.output
    checks = {entry["name"]: entry for entry in map(json.loads, result.output.splitlines())}
    assert checks["smtp"]["status"] == "warn" and "outbox" in checks["smtp"]["detail"]
    assert checks["telegram"]["status"] == "warn" and "alerts are skipped" in checks["telegram"]["detail"]
    assert "secret" not in checks  # only needed to mail over SMTP
