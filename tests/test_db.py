"""Opening databases and upgrading their schema in place."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fixtures import schema_v1

from bhrdigest.errors import StoreError
from bhrdigest.store import db, schema

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def columns(engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def test_a_version_1_database_is_upgraded_in_place_keeping_its_data(database_url):
    old = db.open_engine(database_url, create=True)
    with old.begin() as conn:
        schema_v1.metadata.create_all(conn)
        conn.execute(sa.insert(schema_v1.schema_version).values(version=1))
        conn.execute(sa.insert(schema_v1.digest_runs).values(id=1, started_at=NOW, period_start=NOW, period_end=NOW))
        conn.execute(sa.insert(schema_v1.deliveries).values(
            run_id=1, email="alex@example.org", status="sent", message_id="<m@x>", updated_at=NOW))

    before, after = db.upgrade(old)

    assert (before, after) == (1, db.SCHEMA_VERSION)
    assert {"claimed_by", "lease_until"} <= columns(old, "deliveries")
    assert {"subscriber_preferences", "suppressions"} <= set(sa.inspect(old).get_table_names())
    with old.connect() as conn:
        row = conn.execute(sa.select(schema.deliveries)).one()
    assert (row.email, row.status, row.lease_until) == ("alex@example.org", "sent", None)
    assert db.upgrade(old) == (after, after)  # idempotent
    old.dispose()


def test_a_fresh_database_gets_the_current_schema(database_url):
    engine = db.connect(database_url, create=True)
    assert db.current_version(engine) == db.SCHEMA_VERSION
    assert set(schema.metadata.tables) <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_a_database_newer_than_this_bhrdigest_is_refused(database_url):
    engine = db.connect(database_url, create=True)
    with engine.begin() as conn:
        conn.execute(sa.update(schema.schema_version).values(version=db.SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match="newer than this bhrdigest"):
        db.upgrade(engine)
    engine.dispose()


def test_postgres_urls_from_heroku_are_normalised():
    assert db.normalise_url("postgres://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert db.normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_an_unreachable_database_is_a_clear_store_error(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "x.db"
    with pytest.raises(StoreError, match="cannot open database"):
        db.connect(f"sqlite:///{missing}", create=True)


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path):
    path = tmp_path / "bhrdigest.db"
    refused = r"there is no database at .*bhrdigest\.db: create it with `bhrdigest db upgrade`"
    with pytest.raises(StoreError, match=refused):
        db.connect(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="bhrdigest db upgrade"):
        db.open_engine(f"sqlite:///{path}")
    assert not path.exists()


def test_an_empty_database_is_refused_until_db_upgrade_creates_it(database_url):
    empty = db.open_engine(database_url, create=True)  # an empty SQLite file, or an empty PostgreSQL schema
    with empty.connect():
        pass
    empty.dispose()
    with pytest.raises(StoreError, match="has no bhrdigest tables: create it with `bhrdigest db upgrade`"):
        db.connect(database_url)
    engine = db.open_engine(database_url)
    assert db.current_version(engine) is None  # refusing changed nothing
    db.upgrade(engine)
    engine.dispose()
    db.connect(database_url).dispose()


def test_postgresql_without_psycopg_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what `import psycopg` does when it is not installed
    with pytest.raises(StoreError, match=r"pip install 'bhrdigest\[postgres\]'") as error:
        db.open_engine("postgres://digest:hunter2@db.example.org:5432/bhr")
    assert "hunter2" not in str(error.value) and "db.example.org" in str(error.value)
