"""One rule for stored moments (store/types.py): aware in, aware UTC out, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bhrdigest.store import schema
from bhrdigest.store.types import UtcDateTime

TOKYO = timezone(timedelta(hours=9))


def next_checks(engine, **where) -> list[tuple[str, datetime]]:
    query = sa.select(schema.feeds.c.url, schema.feeds.c.next_check_at).order_by(schema.feeds.c.url)
    for name, moment in where.items():
        query = query.where(getattr(schema.feeds.c.next_check_at, name)(moment))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def add_feeds(engine, **moments: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.feeds), [
            {"url": url, "next_check_at": moment, "error_count": 0, "component_count": 0}
            for url, moment in moments.items()
        ])


def test_a_moment_written_in_another_zone_reads_back_as_the_same_instant_in_utc(engine):
    add_feeds(engine, tokyo=datetime(2026, 11, 20, 10, 0, tzinfo=TOKYO), none=None)

    (_, none), (_, moment) = next_checks(engine)

    assert none is None
    assert moment == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0) and moment.tzinfo is UTC


def test_moments_in_different_zones_compare_as_instants(engine):
    # 10:00 in Tokyo is 01:00 UTC: earlier than 02:00 UTC, though "10:00" > "02:00" as text.
    add_feeds(engine, a_tokyo=datetime(2026, 11, 20, 10, 0, tzinfo=TOKYO),
              b_utc=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))

    cutoff = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    assert [url for url, _ in next_checks(engine, __lt__=cutoff)] == ["a_tokyo"]
    assert [url for url, _ in next_checks(engine, __ge__=cutoff.astimezone(TOKYO))] == ["b_utc"]


def test_a_naive_moment_is_refused_on_write_and_in_a_comparison(engine):
    naive = datetime(2026, 11, 20, 10, 0)

    with pytest.raises(sa.exc.StatementError, match="timezone-aware datetimes only"):
        add_feeds(engine, naive=naive)
    with pytest.raises(sa.exc.StatementError, match="timezone-aware datetimes only"):
        next_checks(engine, __lt__=naive)
    assert next_checks(engine) == []  # nothing was written


def test_every_moment_in_the_schema_follows_the_one_rule():
    plain = [
        f"{table.name}.{column.name}"
        for table in schema.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.DateTime)
    ]
    assert plain == [], "use UtcDateTime() for these columns"
    assert any(isinstance(c.type, UtcDateTime) for c in schema.feeds.columns)
