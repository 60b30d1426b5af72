"""Opening databases and upgrading their schema in place."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from databases import PG_SKIP, PG_URL, postgresql_schema
from fixtures import schema_v1

from bhrdigest.errors import StoreError
from bhrdigest.mail.sending import SendResult
from bhrdigest.model import Subscriber
from bhrdigest.store import db, ledger, runs, schema
from bhrdigest.store.components import load_components
from bhrdigest.store.delivered import delivered_keys
from bhrdigest.store.roster import write_roster

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
    [delivery] = runs.deliveries_in(old, 1, ["sent"])
    assert (delivery.email, row.status, row.lease_until) == ("alex@example.org", "sent", None)
    assert db.upgrade(old) == (after, after)  # idempotent
    # the subscribers table of step 4 keeps one row an address (its unique index came with it)
    ana = Subscriber("ana@example.org", companies=("Nasdaq",))
    assert [write_roster(old, new=[ana], changed=[], source="import", now=NOW) for _ in range(2)] == [1, 0]
    old.dispose()


def test_upgraded_components_link_where_the_site_published_them(database_url):
    old = db.open_engine(database_url, create=True)
    url = "https://business-humanrights.org/en/latest-news/cellebrites-response/"
    with old.begin() as conn:
        schema_v1.metadata.create_all(conn)
        conn.execute(sa.insert(schema_v1.schema_version).values(version=1))
        conn.execute(sa.insert(schema_v1.components).values(
            key="k", url=url, title="Cellebrite's response", language="en", kind="company_response",
            content_hash="h", first_seen_at=NOW, updated_at=NOW, excerpt_html="", excerpt_text=""))
        conn.execute(sa.insert(schema_v1.translations).values(
            key="k", language="ja", title="セルブライトの回答", url=url.replace("/en/", "/ja/")))
    db.upgrade(old)
    (component,) = load_components(old)
    # The identity form dropped `www.`; the site publishes with it, and readers click that.
    assert component.url == url
    assert component.web_url == url.replace("https://", "https://www.")
    assert component.translations[0].url == url.replace("https://", "https://www.").replace("/en/", "/ja/")
    assert (component.mentions, component.place_origins, component.first_seen) == ((), (), NOW)
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



@pytest.fixture(params=["sqlite", "postgresql"])
def two_database_urls(request, tmp_path):
    """Two fresh, empty databases on the same engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    with postgresql_schema("migrated") as migrated, postgresql_schema("fresh") as fresh:
        yield migrated, fresh


def shape(engine: sa.Engine) -> dict[str, dict]:
    """What a database's schema is, as reflected: the parts a migration can get wrong."""
    inspector = sa.inspect(engine)
    tables = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = {
            "columns": {
                column["name"]: (
                    column["type"].compile(dialect=engine.dialect),
                    column["nullable"],
                    column.get("default"),
                )
                for column in inspector.get_columns(table)
            },
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "foreign keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]),
                 (fk.get("options") or {}).get("ondelete"))
                for fk in inspector.get_foreign_keys(table)
            ),
        }
    return tables


def test_a_database_built_by_the_migrations_equals_one_built_fresh(two_database_urls):
    migrated_url, fresh_url = two_database_urls
    migrated = db.open_engine(migrated_url, create=True)
    with migrated.begin() as conn:
        schema_v1.metadata.create_all(conn)
        conn.execute(sa.insert(schema_v1.schema_version).values(version=1))
    assert db.upgrade(migrated) == (1, db.SCHEMA_VERSION)
    fresh = db.connect(fresh_url, create=True)

    migrated_shape, fresh_shape = shape(migrated), shape(fresh)
    migrated.dispose()
    fresh.dispose()

    assert set(migrated_shape) == set(fresh_shape) == set(schema.metadata.tables)
    for table, expected in fresh_shape.items():
        assert migrated_shape[table] == expected, f"table {table} differs after the migrations"


def test_a_search_path_naming_no_schema_says_to_create_it():
    if not PG_URL:
        pytest.skip(PG_SKIP)
    separator = "&" if "?" in PG_URL else "?"
    engine = db.open_engine(f"{PG_URL}{separator}options=-csearch_path%3Dno_such_schema_here", create=True)
    with pytest.raises(StoreError, match="does not exist: CREATE SCHEMA it first"):
        db.upgrade(engine)
    engine.dispose()


def version_6_database(url: str) -> sa.Engine:
    """A database as schema version 6 left it: the ledger keyed by email, a row per delivered item."""
    engine = db.open_engine(url, create=True)
    with engine.begin() as conn:
        schema_v1.metadata.create_all(conn)
        for version in range(2, 7):
            db.MIGRATIONS[version](conn)
        conn.execute(sa.insert(schema_v1.schema_version).values(version=6))
    return engine


def test_a_version_6_ledger_moves_to_address_ids_and_keeps_what_was_delivered(database_url):
    old = version_6_database(database_url)
    week = timedelta(days=7)
    with old.begin() as conn:
        for run_id in (1, 2):
            start = NOW + (run_id - 1) * week
            conn.execute(sa.insert(schema_v1.digest_runs).values(
                id=run_id, started_at=start + week, period_start=start, period_end=start + week,
                finished_at=start + week))
        conn.execute(sa.text("INSERT INTO addresses (email, created_at) VALUES ('kim@example.org', :at)"), {"at": NOW})
        conn.execute(sa.insert(schema_v1.deliveries), [
            dict(run_id=1, email="Alex@Example.org", status="sent", message_id="<1a@x>", error=None, updated_at=NOW),
            dict(run_id=2, email="alex@example.org", status="sent", message_id="<2a@x>", error=None, updated_at=NOW),
            dict(run_id=2, email="kim@example.org", status="gone", message_id="<2k@x>", error="550 no such user",
                 updated_at=NOW),
            dict(run_id=2, email="pat@example.org", status="pending", message_id="<2p@x>", error=None, updated_at=NOW),
        ])  # fmt: skip
        conn.execute(sa.insert(schema_v1.delivered_components), [
            dict(email="Alex@Example.org", key="a" * 32, run_id=1),
            dict(email="alex@example.org", key="b" * 32, run_id=2),
            dict(email="alex@example.org", key="c" * 32, run_id=2),
            dict(email="sam@example.org", key="d" * 32, run_id=2),  # sent, its row lost: still delivered
        ])  # fmt: skip

    assert db.upgrade(old) == (6, db.SCHEMA_VERSION)

    everyone = ["alex@example.org", "kim@example.org", "sam@example.org"]
    candidates = ["a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32]
    assert delivered_keys(old, everyone, keys=candidates) == {
        "alex@example.org": {"a" * 32, "b" * 32, "c" * 32}, "sam@example.org": {"d" * 32}}  # fmt: skip
    [gone] = runs.deliveries_in(old, 2, [ledger.GONE])
    assert (gone.email, gone.error) == ("kim@example.org", "550 no such user")
    assert runs.settled_emails(old, 2) == set(everyone)  # not Pat: sending when the upgrade ran
    assert [record.deliveries["sent"] for record in runs.run_history(old)] == [2, 1]
    # A sender that was sending during the upgrade still records its outcome.
    ledger.mark(old, 2, "pat@example.org", SendResult("<2p@x>", "sent", None, 1), ["e" * 32])
    assert delivered_keys(old, ["pat@example.org"], keys=candidates) == {"pat@example.org": {"e" * 32}}
    with old.connect() as conn:
        assert not {"delivered_components", "deliveries_v6"} & set(sa.inspect(conn).get_table_names())
    old.dispose()
