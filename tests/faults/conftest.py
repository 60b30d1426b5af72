"""The fault suite: reliability and security proven from the outside (issue 5).

Run by `.ci/run` with the rest of the tests (a few minutes). The soak variant —
many more crash trials, subscribers and fuzzing examples — is one command:

    BHRDIGEST_SOAK=1 .venv/bin/pytest tests/faults

Trials are seeded (BHRDIGEST_FAULT_SEED, printed in each test's report) so a
failure can be replayed exactly.
"""

from __future__ import annotations

import pytest
from faultkit import SEED, SOAK


def pytest_report_header(config):
    return f"fault suite: seed {SEED}, {'soak' if SOAK else 'default'} mode (BHRDIGEST_SOAK=1 for the long run)"


@pytest.fixture
def seed() -> int:
    return SEED


@pytest.fixture
def store_url(database_url):
    """A fresh database URL for a child process (tests/conftest.py: SQLite, and PostgreSQL when set)."""
    return database_url
