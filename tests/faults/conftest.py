"""The fault suite: reliability and security proven from the outside (issue 5).

Run by `.ci/run` with the rest of the tests (a few minutes). The soak variant —
many more crash trials, subscribers and fuzzing examples — is one command:

    BHRDIGEST_SOAK=1 .venv/bin/pytest tests/faults

Trials are seeded (BHRDIGEST_FAULT_SEED, printed in each test's report) so a
failure can be replayed exactly.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from faultkit import SEED, SOAK

from bhrdigest.store.db import normalise_url


def pytest_report_header(config):
    return f"fault suite: seed {SEED}, {'soak' if SOAK else 'default'} mode (BHRDIGEST_SOAK=1 for the long run)"


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh database URL for a child process: a SQLite file, or a schema of its own on the
    PostgreSQL at BHRDIGEST_TEST_DATABASE_URL (dropped afterwards; skipped when unset)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bhrdigest.db'}"
        return
    url = os.environ.get("BHRDIGEST_TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL tests need BHRDIGEST_TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    schema = f"f_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
