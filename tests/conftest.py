"""Shared fixtures: a database on SQLite, and on PostgreSQL when one is configured.

PostgreSQL tests run when BHRDIGEST_TEST_DATABASE_URL is set (e.g.
postgresql://postgres@127.0.0.1:5432/test; `.ci/run` sets it when PostgreSQL
answers); each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from bhrdigest.store.db import connect, normalise_url

from databases import PG_SKIP, PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bhrdigest.db'}"
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url):
    engine = connect(database_url)
    yield engine
    engine.dispose()
