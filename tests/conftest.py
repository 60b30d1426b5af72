"""Shared fixtures: a database on SQLite, and on PostgreSQL when one is configured.

PostgreSQL tests run when BHRDIGEST_TEST_DATABASE_URL is set (e.g.
postgresql://postgres@127.0.0.1:5432/test; `.ci/run` sets it when PostgreSQL
answers); each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import pytest
from databases import PG_SKIP, PG_URL, postgresql_schema

from bhrdigest.store.db import connect


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bhrdigest.db'}"
        return
    if not PG_URL:
        pytest.skip(PG_SKIP)
    with postgresql_schema() as url:
        yield url


@pytest.fixture
def engine(database_url):
    engine = connect(database_url, create=True)
    yield engine
    engine.dispose()
