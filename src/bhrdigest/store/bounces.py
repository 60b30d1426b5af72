"""Bounces and complaints in the store, and the rule that turns them into suppressions.

    hard bounce     suppressed at once ("hard-bounce")
    complaint       suppressed at once ("complaint"): the reader marked a digest as spam
    soft bounce     counted; SOFT_THRESHOLD of them within SOFT_WINDOW suppress ("soft-bounces")

The defaults follow listmonk's (a hard bounce or a complaint blocks at once; soft bounces
only in number). A suppression is what `send` reads: it never mails such an address again,
and `subscribers` says why and since when. `bhrdigest unsubscribe EMAIL --undo` lifts it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bhrdigest.store.schema import bounces as bounces_table
from bhrdigest.store.schema import suppressions as suppressions_table
from bhrdigest.store.sql import insert_ignore
from bhrdigest.store.subscribers import suppress

SOFT_THRESHOLD = 3
SOFT_WINDOW = timedelta(days=30)
_SUPPRESSING = {"hard": "hard-bounce", "complaint": "complaint"}


@dataclass(frozen=True, slots=True)
class Recorded:
    new: bool  # False: this report was recorded before (read twice)
    suppressed: bool  # this record made the address suppressed now


def record_bounce(
    engine: sa.Engine,
    email: str,
    kind: str,
    *,
    report_id: str,
    detail: str,
    now: datetime,
    soft_threshold: int = SOFT_THRESHOLD,
    soft_window: timedelta = SOFT_WINDOW,
) -> Recorded:
    """Record one report about `email` and apply the suppression rule; idempotent per report."""
    address = email.lower()
    row = {"email": address, "kind": kind, "report_id": report_id[:300], "detail": detail[:500], "received_at": now}
    with engine.begin() as conn:
        new = bool(insert_ignore(conn, bounces_table, [row]))
        soft = 0
        if new and kind == "soft":
            soft = conn.execute(
                sa.select(sa.func.count()).select_from(bounces_table).where(
                    bounces_table.c.email == address, bounces_table.c.kind == "soft",
                    bounces_table.c.received_at > now - soft_window,
                )
            ).scalar_one()
    if not new:
        return Recorded(False, False)
    reason = _SUPPRESSING.get(kind) or ("soft-bounces" if kind == "soft" and soft >= soft_threshold else None)
    if reason is None:
        return Recorded(True, False)
    _, created = suppress(engine, address, reason, now=now)
    return Recorded(True, created)


def bounce_counts(engine: sa.Engine, *, since: datetime | None = None) -> Mapping[str, int]:
    """Reports recorded per kind (hard, soft, complaint), all time or since `since`."""
    query = sa.select(bounces_table.c.kind, sa.func.count()).group_by(bounces_table.c.kind)
    if since is not None:
        query = query.where(bounces_table.c.received_at >= since)
    with engine.connect() as conn:
        return Counter({kind: count for kind, count in conn.execute(query)})


def suppression_counts(engine: sa.Engine) -> Mapping[str, int]:
    """Suppressed addresses per reason (hard-bounce, complaint, soft-bounces, one-click, web, staff)."""
    query = sa.select(suppressions_table.c.reason, sa.func.count()).group_by(suppressions_table.c.reason)
    with engine.connect() as conn:
        return Counter({reason: count for reason, count in conn.execute(query)})
