"""One rule for every stored moment: aware datetimes in, aware UTC datetimes out.

PostgreSQL keeps `timestamp with time zone` as an instant, but SQLite keeps the text of
the value without its offset and compares that text: a naive value, or one in another
zone, would be a different instant there and sort wrongly against the rest. So writing a
naive datetime is a bug, refused here on both engines, and an aware one is written in UTC.
Reading gives aware UTC on both engines (SQLite hands back naive text that we wrote as UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` (PostgreSQL) / `DATETIME` (SQLite) holding UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the store takes timezone-aware datetimes only, not {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
