"""Which PostgreSQL the tests may use (a module of its own: `conftest` names are ambiguous)."""

import os

PG_URL = os.environ.get("BHRDIGEST_TEST_DATABASE_URL")
PG_SKIP = "PostgreSQL tests need BHRDIGEST_TEST_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
