"""One database: bhrdigest.db beside the config file by default, and never a new empty one by surprise.

A silently created empty database would offer every digest again (duplicates for the whole
list) and forget every unsubscribe, so only `db upgrade` (and `demo`, on a throwaway file) creates one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from test_cli import SAMPLE, SECRET, write_config

from bhrdigest.cli.main import main

# Every command that opens the database, as staff would type it.
OPENING_THE_DATABASE = [
    ("fetch",), ("status",), ("status", "--json"), ("doctor", "--timeout", "1"), ("components",),
    ("send", "--dry-run"), ("send", "--yes"), ("preview", "alex@example.org"), ("subscribers",),
    ("unsubscribe", "alex@example.org"), ("alert", "--dry-run"), ("worker", "--interval", "0.01"), ("web",),
]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Staff keep the configuration in site/ and run commands from another folder."""
    (tmp_path / "site").mkdir()
    write_config(tmp_path / "site", [str(SAMPLE)])
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def bhrdigest(*args: str, env: dict[str, str | None] | None = None):
    base: dict[str, str | None] = {"DATABASE_URL": None, "BHRDIGEST_CONFIG": None, "SMTP_URL": None,
                                   "TELEGRAM_BOT_TOKEN": None, "DYNO": None, "BHRDIGEST_SECRET": SECRET}
    return CliRunner().invoke(main, list(args), env=base | (env or {}), catch_exceptions=False)


def test_the_default_database_is_beside_the_config_file_not_where_the_command_runs(elsewhere: Path):
    config = elsewhere.parent / "site" / "subscriptions.yaml"

    created = bhrdigest("--config", str(config), "db", "upgrade")
    fetched = bhrdigest("--config", str(config), "fetch")
    listed = bhrdigest("--config", "../site/subscriptions.yaml", "components", "--json")  # a relative --config too

    assert created.exit_code == 0, created.output
    assert fetched.exit_code == 0, fetched.output
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) >= 3, listed.output  # what fetch stored
    assert (config.parent / "bhrdigest.db").is_file()
    assert not (elsewhere / "bhrdigest.db").exists()


def test_db_upgrade_names_the_database_it_created_and_later_finds_current(elsewhere: Path):
    database = elsewhere.parent / "site" / "bhrdigest.db"
    created = bhrdigest("--config", "../site/subscriptions.yaml", "db", "upgrade")
    again = bhrdigest("--config", "../site/subscriptions.yaml", "db", "upgrade")
    assert created.exit_code == 0 and f"database {database}: schema created at version" in created.output
    assert again.exit_code == 0 and f"database {database}: schema is current" in again.output


def test_db_upgrade_names_a_database_url_without_its_password(elsewhere: Path, database_url: str):
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("a SQLite file has no password; the test above names it")
    with_password = url.set(password="hunter2").render_as_string(hide_password=False)
    result = bhrdigest("--config", "../site/subscriptions.yaml", "db", "upgrade", env={"DATABASE_URL": with_password})
    assert result.exit_code == 0, result.output
    assert f"@{url.host}:{url.port}/{url.database}" in result.output and "schema created" in result.output
    assert "hunter2" not in result.output


def test_bhrdigest_config_env_puts_the_default_database_beside_it_too(elsewhere: Path):
    config = elsewhere.parent / "site" / "subscriptions.yaml"
    created = bhrdigest("db", "upgrade", env={"BHRDIGEST_CONFIG": str(config)})
    assert created.exit_code == 0, created.output
    assert (config.parent / "bhrdigest.db").is_file() and not (elsewhere / "bhrdigest.db").exists()


@pytest.mark.parametrize("command", OPENING_THE_DATABASE, ids=" ".join)
def test_no_command_creates_a_missing_database_it_names_it_and_how_to_create_it(elsewhere: Path, command):
    config = elsewhere.parent / "site" / "subscriptions.yaml"

    result = bhrdigest("--config", str(config), *command)

    assert result.exit_code == 1, result.output
    assert f"there is no database at {config.parent / 'bhrdigest.db'}" in result.output
    assert "bhrdigest db upgrade" in result.output and "Traceback" not in result.output
    assert not (config.parent / "bhrdigest.db").exists() and not (elsewhere / "bhrdigest.db").exists()


def test_an_explicit_missing_database_url_is_refused_as_well(elsewhere: Path):
    missing = elsewhere / "typo.db"
    result = bhrdigest("--config", "../site/subscriptions.yaml", "--db", f"sqlite:///{missing}", "send", "--dry-run")
    assert result.exit_code == 1 and f"there is no database at {missing}" in result.output
    assert not missing.exists()


@pytest.mark.parametrize(("url", "says"), [
    ("bhrdigest.db", "is not a URL: write a SQLite file, sqlite:///PATH"),
    ("digest:hunter2@db.example.org/bhr", "is not a URL"),
    ("mysql://digest:hunter2@db.example.org/bhr", "is for 'mysql', which bhrdigest does not support"),
])
def test_a_database_url_of_the_wrong_shape_says_what_to_write(elsewhere: Path, url: str, says: str):
    result = bhrdigest("--config", "../site/subscriptions.yaml", "status", env={"DATABASE_URL": url})
    assert result.exit_code == 1, result.output
    assert says in result.output and "postgresql://USER@HOST:PORT/DATABASE" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_a_bare_file_name_as_database_url_gets_the_sqlite_url_to_write(elsewhere: Path):
    result = bhrdigest("--config", "../site/subscriptions.yaml", "status", env={"DATABASE_URL": "bhrdigest.db"})
    assert f"(here: sqlite:///{elsewhere / 'bhrdigest.db'})" in result.output
    assert not (elsewhere / "bhrdigest.db").exists()


def test_postgresql_without_psycopg_says_pip_install_the_extra(elsewhere: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    result = bhrdigest("--config", "../site/subscriptions.yaml", "status",
                       env={"DATABASE_URL": "postgres://digest:hunter2@db.example.org:5432/bhr"})
    assert result.exit_code == 1, result.output
    assert "pip install 'bhrdigest[postgres]'" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output
