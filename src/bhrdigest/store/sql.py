"""Small SQL helpers shared by the store modules (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 500  # well under SQLite's bound-parameter limit


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many rows were inserted.

    `preserve_rowcount`: without it SQLAlchemy 2.1 reports -1 for an INSERT on PostgreSQL.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = 0
    for part in chunked(rows):
        stmt = dialect.insert(table).values(list(part)).on_conflict_do_nothing()
        inserted += max(conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount, 0)
    return inserted


def chunked(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
