"""Small SQL helpers shared by the store modules (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bhrdigest.errors import StoreError

_P = ParamSpec("_P")
_R = TypeVar("_R")

CHUNK = 500  # well under SQLite's bound-parameter limit


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO NOTHING; returns how many rows were inserted.

    One statement per table and dialect, executed with many parameter sets: compiling a
    VALUES list per call cost ten times the insert itself on SQLite (35 rows per digest sent).
    """
    if not rows:
        return 0
    return max(conn.execute(_insert_ignore(conn.dialect.name, table), list(rows)).rowcount, 0)


@functools.cache
def _insert_ignore(dialect_name: str, table: sa.Table) -> sa.Insert:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    # preserve_rowcount: without it SQLAlchemy 2.1 reports -1 for an INSERT on PostgreSQL.
    return dialect.insert(table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)


@contextmanager
def begin(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    """A transaction of our own, or the caller's when it has one open."""
    if isinstance(bind, sa.Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        yield bind
    else:
        with bind.begin():
            yield bind


def chunked(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def store_errors(what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """A database failure (locked, read-only, full disk, no schema) becomes a StoreError
    naming `what` and the step, so the CLI says what to check instead of printing a traceback."""

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        step = function.__name__.replace("_", " ")

        @functools.wraps(function)
        def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return function(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                raise StoreError(
                    f"{what} could not {step}: {exc.orig} (check DATABASE_URL, that the database is up, "
                    "writable, not locked by another process and its disk not full, and that "
                    "`bhrdigest db upgrade` has run)"
                ) from exc

        return translated

    return decorate
