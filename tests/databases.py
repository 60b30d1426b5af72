"""Which PostgreSQL the tests may use (a module of its own: `conftest` names are ambiguous)."""

import os
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

from bhrdigest.store.db import normalise_url

PG_URL = os.environ.get("BHRDIGEST_TEST_DATABASE_URL")
PG_SKIP = "PostgreSQL tests need BHRDIGEST_TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgresql_schema(prefix: str = "t"):
    """A URL of PG_URL whose search_path is a fresh schema of its own, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
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
