"""Opening the database and keeping its schema current.

A database is created only on purpose (`bhrdigest db upgrade`, `demo`, tests): every
other command opening a missing SQLite file or an empty schema stops and says how to
create it, because a silently created empty database would resend every digest and
forget every unsubscribe. A fresh database gets the whole schema of schema.py at SCHEMA_VERSION. An older
one is upgraded in place by the steps in MIGRATIONS, each taking the schema from
version N-1 to N inside the upgrade's transaction (PostgreSQL and SQLite both have
transactional DDL, so a failed upgrade leaves the database as it was). A released
step is never edited: a new change is a new step.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from bhrdigest.errors import ConfigError, StoreError
from bhrdigest.store import schema
from bhrdigest.store.schema import metadata, schema_version

log = logging.getLogger(__name__)

CREATE_HINT = "create it with `bhrdigest db upgrade`, or set DATABASE_URL (or --db) to the database you use"

def _v2_send_batches_and_web(conn: sa.Connection) -> None:
    """Several senders share a run (batch leases); web preferences and suppressions."""
    for column in ("claimed_by TEXT", "lease_until " + _timestamp(conn)):
        conn.execute(sa.text(f"ALTER TABLE deliveries ADD COLUMN {column}"))
    conn.execute(sa.text("CREATE INDEX ix_deliveries_queue ON deliveries (run_id, status, lease_until)"))
    schema.subscriber_preferences.create(conn)
    schema.suppressions.create(conn)


def _timestamp(conn: sa.Connection) -> str:
    return "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"


def _v3_bounces(conn: sa.Connection) -> None:
    """Bounces and complaints read from the bounce mailbox."""
    schema.bounces.create(conn)


def _v4_published_links_mentions_and_place_origins(conn: sa.Connection) -> None:
    """Readers' links go to the URL the site published; why a component has a place;
    the `[Also referred to …]` line. Older rows' place reasons name the place alone; their
    links get back the `www.` the site publishes with (the identity form dropped it)."""
    for column in ("link TEXT", "mention_line TEXT", "place_origins JSON"):  # JSON: SQLite and PostgreSQL
        conn.execute(sa.text(f"ALTER TABLE components ADD COLUMN {column}"))
    site, published = "https://business-humanrights.org/", "https://www.business-humanrights.org/"
    for table, column in (("components", "link"), ("translations", "url")):
        conn.execute(
            sa.text(f"UPDATE {table} SET {column} = :published || substr(url, :cut) WHERE url LIKE :site"),
            {"published": published, "cut": len(site) + 1, "site": site + "%"},
        )


def _v5_subscribers(conn: sa.Connection) -> None:
    """Subscribers who live in the database (imported; later signed up on the web)."""
    schema.subscribers.create(conn)


def _v6_addresses(conn: sa.Connection) -> None:
    """A compact id per address, for opaque tokens and a ledger keyed by ids."""
    schema.addresses.create(conn)


def _v7_signups(conn: sa.Connection) -> None:
    """Sign-up with double opt-in: pending sign-ups, consent evidence, the notices' ledger."""
    for table in (schema.signups, schema.consents, schema.notices):
        table.create(conn)


def _v8_telegram_links(conn: sa.Connection) -> None:
    """Telegram chats a subscriber linked to their subscription by a confirmation link."""
    schema.telegram_links.create(conn)


def _v9_compact_ledger(conn: sa.Connection) -> None:
    """The ledger keyed by address ids, a sent digest's items packed on its row (not a row
    per item), and per-run totals that outlive pruned rows: a weekly run at 100,000
    subscribers took 4 KB a digest. Every address of the old rows gets its id."""
    pg = conn.dialect.name == "postgresql"
    conn.execute(sa.text("DROP INDEX ix_deliveries_queue"))  # the new table's has the name
    conn.execute(sa.text("ALTER TABLE deliveries RENAME TO deliveries_v6"))
    if pg:  # an index's name is the schema's, not the table's
        conn.execute(sa.text("ALTER INDEX deliveries_pkey RENAME TO deliveries_v6_pkey"))
    conn.execute(sa.text("ALTER TABLE digest_runs ADD COLUMN totals JSON"))
    schema.deliveries.create(conn)
    conn.execute(sa.text(
        "INSERT INTO addresses (email, created_at) SELECT email, min(at) FROM ("
        " SELECT lower(email) AS email, updated_at AS at FROM deliveries_v6"
        " UNION ALL SELECT lower(d.email), r.started_at FROM delivered_components d"
        " JOIN digest_runs r ON r.id = d.run_id) AS seen"
        " WHERE email NOT IN (SELECT email FROM addresses) GROUP BY email"))  # fmt: skip
    kept = [c.name for c in schema.deliveries.c if c.name not in ("address_id", "run_id", "message_tag", "delivered")]
    columns = ", ".join(kept)
    conn.execute(sa.text(
        f"INSERT INTO deliveries (address_id, run_id, message_tag, {columns}) SELECT a.id, d.run_id, 0, "
        + ", ".join(f"d.{name}" for name in kept)
        + " FROM deliveries_v6 d JOIN addresses a ON a.email = lower(d.email)"))  # fmt: skip
    _tag_messages(conn)
    _pack_delivered_items(conn)
    conn.execute(sa.text("DROP TABLE deliveries_v6"))
    conn.execute(sa.text("DROP TABLE delivered_components"))


def _tag_messages(conn: sa.Connection) -> None:
    """Each row's Message-ID as its tag, so an outcome recorded after the upgrade still finds its claim."""
    from bhrdigest.store.ledger import message_tag

    rows = conn.execute(sa.text(
        "SELECT a.id, d.run_id, d.message_id FROM deliveries_v6 d JOIN addresses a ON a.email = lower(d.email) "
        "WHERE d.message_id <> ''"), execution_options={"yield_per": 10_000})  # fmt: skip
    update = sa.text("UPDATE deliveries SET message_tag = :tag WHERE address_id = :address AND run_id = :run")
    while batch := [{"address": a, "run": r, "tag": message_tag(m)} for a, r, m in itertools.islice(rows, 1000)]:
        conn.execute(update, batch)


def _pack_delivered_items(conn: sa.Connection) -> None:
    """Each (address, run)'s delivered_components rows onto its delivery row, packed."""
    from bhrdigest.store.delivered import pack_items  # the one packing; it imports nothing of db

    conn.execute(sa.text(  # items delivered outside any delivery row (a late outcome): a sent row of their own
        "INSERT INTO deliveries (address_id, run_id, status, message_tag, item_count, size, attempts, updated_at) "
        "SELECT DISTINCT a.id, d.run_id, 'sent', 0, 0, 0, 0, r.started_at FROM delivered_components d "
        "JOIN addresses a ON a.email = lower(d.email) JOIN digest_runs r ON r.id = d.run_id "
        "WHERE NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.address_id = a.id AND x.run_id = d.run_id)"))
    rows = conn.execute(sa.text(
        "SELECT a.id, d.run_id, d.key FROM delivered_components d JOIN addresses a ON a.email = lower(d.email) "
        "ORDER BY a.id, d.run_id"), execution_options={"yield_per": 10_000})  # fmt: skip
    update = sa.text("UPDATE deliveries SET delivered = :items WHERE address_id = :address AND run_id = :run")
    batch: list[dict] = []
    for (address_id, run_id), group in itertools.groupby(rows, key=lambda row: (row[0], row[1])):
        batch.append({"address": address_id, "run": run_id, "items": pack_items(row[2] for row in group)})
        if len(batch) >= 1000:
            conn.execute(update, batch)
            batch = []
    if batch:
        conn.execute(update, batch)


# version -> the step that takes a database from version-1 to it
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {
    2: _v2_send_batches_and_web,
    3: _v3_bounces,
    4: _v4_published_links_mentions_and_place_origins,
    5: _v5_subscribers,
    6: _v6_addresses,
    7: _v7_signups,
    8: _v8_telegram_links,
    9: _v9_compact_ledger,
}
SCHEMA_VERSION = max(MIGRATIONS, default=1)


def normalise_url(url: str) -> str:
    """Heroku's `postgres://` is not a SQLAlchemy dialect name; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_url(url: str) -> None:
    """Refuse a URL whose host part cannot be read as written, without showing it.

    An unencoded @, :, / or # in the password moves where the host seems to start: the
    driver then reports a piece of the password as the host name, in plain text.
    """
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        reason = "its host or port cannot be read"
    else:
        if "@" not in userinfo:
            return
        reason = "it has more than one @ before the host"
    raise ConfigError(
        f"the database URL (DATABASE_URL or --db) cannot be used: {reason}. "
        "If the password contains @ : / ? # or %, percent-encode the password "
        "(@ is %40, : is %3A, / is %2F, ? is %3F, # is %23, % is %25)"
    )


def open_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout.

    A SQLite file that does not exist is refused unless `create` (SQLite would create it empty).
    """
    check_url(url)
    require_supported(url)
    url = normalise_url(url)
    if not create:
        _require_sqlite_file(url)
    # hide_parameters: a database error's text (logged with its traceback) names no address.
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, hide_parameters=True)
    except ImportError as exc:
        if exc.name == "psycopg":
            raise StoreError(f"DATABASE_URL {_redact(url)} is PostgreSQL, which needs the psycopg driver: "
                             "pip install 'bhrdigest[postgres]'") from exc
        raise StoreError(f"cannot use database URL {_redact(url)}: {exc}") from exc
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StoreError(f"cannot use database URL {_redact(url)}: {exc}") from exc
    return engine


SUPPORTED = ("a SQLite file, sqlite:///PATH (four slashes before an absolute path), or PostgreSQL, "
             "postgresql://USER@HOST:PORT/DATABASE (a password goes after USER: percent-encoded)")


def require_supported(url: str) -> None:
    """Refuse a bare path or another database with what to write instead (SQLAlchemy would only name a driver)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        hint = f" (here: sqlite:///{os.path.abspath(url)})" if url.endswith((".db", ".sqlite", ".sqlite3")) else ""
        raise ConfigError(f"the database URL (DATABASE_URL or --db) is not a URL: write {SUPPORTED}{hint}")
    backend = scheme.partition("+")[0]
    if backend not in ("sqlite", "postgres", "postgresql"):
        raise ConfigError(f"the database URL (DATABASE_URL or --db) is for {backend!r}, which bhrdigest does not "
                          f"support: use {SUPPORTED}")  # fmt: skip


def _require_sqlite_file(url: str) -> None:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return  # create_engine names the problem
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return
    if not Path(path).exists():
        raise StoreError(f"there is no database at {Path(path).absolute()}: {CREATE_HINT}")


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def describe(engine: Engine) -> str:
    """Where `engine` points, for people: a SQLite file's absolute path, otherwise the URL without its password."""
    if engine.dialect.name == "sqlite" and engine.url.database and engine.url.database != ":memory:":
        return os.path.abspath(engine.url.database)  # also folds the `..` of a relative --config
    return _redact(str(engine.url))


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def current_version(engine: Engine) -> int | None:
    """The schema version in the database, or None for an empty one."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return None
            return conn.execute(sa.select(schema_version.c.version)).scalar()
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open database {_redact(str(engine.url))}: {exc.orig}") from exc


def upgrade(engine: Engine) -> tuple[int | None, int]:
    """Create or migrate the schema; returns (version before, version after)."""
    before = current_version(engine)
    if before is not None and before > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {before}, newer than this bhrdigest "
            f"({SCHEMA_VERSION}): upgrade bhrdigest"
        )
    if before == SCHEMA_VERSION:
        return before, before
    try:
        with engine.begin() as conn:
            if before is None:
                metadata.create_all(conn)
            else:
                # In order; a number no branch has landed yet is skipped (steps are numbered as planned).
                for version in range(before + 1, SCHEMA_VERSION + 1):
                    log.info("migrating the database schema to version %d", version)
                    MIGRATIONS[version](conn)
            conn.execute(sa.delete(schema_version))
            conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
        if "no schema has been selected" in reason:
            reason += " (the URL's search_path names a schema that does not exist: CREATE SCHEMA it first)"
        raise StoreError(f"cannot {'create' if before is None else 'upgrade'} the schema: {reason}") from exc
    log.info("database schema %s -> %s", before, SCHEMA_VERSION)
    return before, SCHEMA_VERSION


def connect(url: str, *, create: bool = False) -> Engine:
    """Open `url` with the current schema; an existing SQLite file is migrated in place.

    Only with `create` is a missing database created (demo, tests); otherwise it is an error.
    """
    engine = open_engine(url, create=create)
    version = current_version(engine)
    if version is None and not create:
        engine.dispose()
        raise StoreError(f"the database {_redact(str(engine.url))} has no bhrdigest tables: {CREATE_HINT}")
    if version != SCHEMA_VERSION:
        if version is None or engine.dialect.name == "sqlite":
            upgrade(engine)
        else:
            engine.dispose()
            raise StoreError(
                f"the database schema is at version {version}, this bhrdigest needs "
                f"{SCHEMA_VERSION}: run `bhrdigest db upgrade`"
            )
    return engine
