"""Telegram chats, what they track, and the alert queue.

The queue lives in the store so that nothing is lost when the process dies. An alert
row is one (chat, component): the primary key makes "nothing sent twice" a property of
the table, and every write is INSERT … ON CONFLICT DO NOTHING.

    pending ──send──> sending ──ok──> sent
       ^                 │  ├─429 / network──> pending (next_attempt_at later)
       │                 │  ├─400──> failed          (that message only)
       └──lease expired──┘  └─403──> gone            (and the chat is gone)
    pending ──more than a pass tells one chat──> summarised  (counted in "…and N more")

A row goes `sending` before the API call, with `next_attempt_at` set to the end of a
short lease. A `sending` row whose lease has expired was in flight when a process died:
whether Telegram got it is unknown. For a chat alert a rare duplicate is better than a
loss, so it is sent again.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bhrdigest.model import Alert, Kind, Subscriber
from bhrdigest.store.bot_api import read_state, write_state
from bhrdigest.store.schema import (
    alerts,
    bot_state,
    chat_companies,
    chats,
    component_tags,
    components,
)
from bhrdigest.store.sql import chunked, insert_ignore

OFFSET_NAME = "telegram_update_offset"


class TrackResult(enum.Enum):
    ADDED = "added"
    ALREADY = "already"  # tracked through the bot already
    YAML = "yaml"  # tracked through subscriptions.yaml already
    LIMIT = "limit"  # the chat tracks the maximum already


class UntrackResult(enum.Enum):
    REMOVED = "removed"
    YAML = "yaml"  # configured in subscriptions.yaml: only staff can remove it
    LINKED = "linked"  # from a linked email subscription (store/telegram_links): its preferences decide
    NOT_TRACKED = "not_tracked"


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    alert: Alert
    attempts: int  # send attempts so far, this one not included


@dataclass(frozen=True, slots=True)
class ChatAlerts:
    """Due alerts of one chat, oldest first: one burst, sent as few messages."""

    chat_id: int
    alerts: tuple[QueuedAlert, ...]
    more: int = 0  # further alerts due for the chat, past `per_chat`


@dataclass(frozen=True, slots=True)
class ChatState:
    chat_id: int
    status: str | None  # active | stopped | gone, None for a chat we never saw
    companies: tuple[tuple[str, str], ...]  # (company, source yaml|bot|link), sorted


# --- chats from subscriptions.yaml ---------------------------------------------------


def sync_yaml_chats(engine: sa.Engine, subscribers: Iterable[Subscriber], now: datetime) -> int:
    """Make the chats and companies of subscriptions.yaml the store's `yaml` rows.

    A company new to a chat tracks from `now` on; rows no longer in the YAML are
    deleted; a chat's own status (stopped by /stop, gone after a block) is kept.
    Returns how many chats the YAML names.
    """
    wanted: dict[int, set[str]] = defaultdict(set)
    for subscriber in subscribers:
        if subscriber.telegram is not None:
            wanted[int(subscriber.telegram)].update(subscriber.companies)
    with engine.begin() as conn:
        _insert_chats(conn, wanted, now)
        existing = conn.execute(sa.select(chat_companies)).all()
        have = {(r.chat_id, r.company): r.source for r in existing}
        for r in existing:
            if r.source == "yaml" and r.company not in wanted.get(r.chat_id, ()):
                conn.execute(sa.delete(chat_companies).where(_row(r.chat_id, r.company)))
        new_rows = []
        for chat_id, names in wanted.items():
            for company in sorted(names):
                if have.get((chat_id, company)) in ("bot", "link"):
                    # Staff now configure what the chat chose (or a link gave it): keep its original `since`.
                    conn.execute(sa.update(chat_companies).where(_row(chat_id, company)).values(source="yaml"))
                elif (chat_id, company) not in have:
                    new_rows.append({"chat_id": chat_id, "company": company, "source": "yaml", "since": now})
        insert_ignore(conn, chat_companies, new_rows)
    return len(wanted)


def _insert_chats(conn: sa.Connection, chat_ids: Iterable[int], now: datetime) -> None:
    rows = [{"chat_id": c, "status": "active", "created_at": now, "updated_at": now} for c in chat_ids]
    insert_ignore(conn, chats, rows)


def _row(chat_id: int, company: str) -> sa.ColumnElement[bool]:
    return sa.and_(chat_companies.c.chat_id == chat_id, chat_companies.c.company == company)


# --- queueing ---------------------------------------------------------------------------


def queue_alerts(engine: sa.Engine, keys: Sequence[str], *, now: datetime | None = None) -> int:
    """Queue one alert per (active chat, component) for newly stored `keys`.

    Only alertable components (not a feed's backfill) and only chats that tracked a
    named company since before the component was first seen. Idempotent: queueing
    the same keys again adds nothing. Returns how many alerts were queued.
    """
    with engine.begin() as conn:
        return queue_alerts_conn(conn, keys, now=now)


def queue_alerts_conn(conn: sa.Connection, keys: Sequence[str], *, now: datetime | None = None) -> int:
    """`queue_alerts` inside the caller's transaction (the one that stored the keys)."""
    now = now or datetime.now(UTC)
    matched: dict[tuple[int, str], list[str]] = defaultdict(list)
    for part in chunked(sorted(set(keys))):
        for chat_id, key, company in conn.execute(_matches().where(components.c.key.in_(part))):
            matched[(chat_id, key)].append(company)
    return _insert_alerts(conn, matched, now)


def queue_alerts_since(engine: sa.Engine, since: datetime, *, now: datetime | None = None) -> int:
    """Queue alerts for every component first seen since `since`.

    A sweep at worker start: components stored by a fetch that died before its
    keys were queued still reach their chats; those already queued are skipped.
    """
    now = now or datetime.now(UTC)
    matched: dict[tuple[int, str], list[str]] = defaultdict(list)
    with engine.begin() as conn:
        for chat_id, key, company in conn.execute(_matches().where(components.c.first_seen_at >= since)):
            matched[(chat_id, key)].append(company)
        return _insert_alerts(conn, matched, now)


def _matches() -> sa.Select:
    return (
        sa.select(chat_companies.c.chat_id, components.c.key, chat_companies.c.company)
        .select_from(components)
        .join(component_tags, sa.and_(component_tags.c.key == components.c.key,
                                      component_tags.c.facet.in_(("company", "mention"))))  # a mention is named too
        .join(chat_companies, chat_companies.c.company == component_tags.c.name)
        .join(chats, chats.c.chat_id == chat_companies.c.chat_id)
        .where(
            components.c.alertable.is_(True),
            chats.c.status == "active",
            chat_companies.c.since <= components.c.first_seen_at,
        )
        .order_by(chat_companies.c.chat_id, components.c.key, component_tags.c.position)
    )


def _insert_alerts(conn: sa.Connection, matched: dict[tuple[int, str], list[str]], now: datetime) -> int:
    rows = [
        {
            "chat_id": chat_id,
            "key": key,
            "companies": "\n".join(dict.fromkeys(names)),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for (chat_id, key), names in matched.items()
    ]
    return insert_ignore(conn, alerts, rows)


# --- delivering -------------------------------------------------------------------------


def due_alerts(
    engine: sa.Engine,
    now: datetime,
    limit: int = 1000,
    *,
    exclude_chats: Collection[int] = (),
    per_chat: int | None = None,
) -> list[ChatAlerts]:
    """Alerts due at `now` for active chats, grouped by chat, oldest first.

    Includes `sending` rows whose lease has expired (see the module docstring).
    `exclude_chats`: chats the caller has in hand already, so that `limit` goes to others.
    `per_chat`: at most this many a chat; `ChatAlerts.more` counts the rest.
    """
    where = [chats.c.status == "active", alerts.c.status.in_(("pending", "sending")), alerts.c.next_attempt_at <= now]
    if exclude_chats:
        where.append(alerts.c.chat_id.not_in(sorted(exclude_chats)))
    ranked = (
        sa.select(
            alerts.c.chat_id, alerts.c.key, alerts.c.companies, alerts.c.attempts,
            sa.func.row_number()
            .over(partition_by=alerts.c.chat_id, order_by=(alerts.c.created_at, alerts.c.key))
            .label("n"),
            sa.func.count().over(partition_by=alerts.c.chat_id).label("due"),
        )
        .join(chats, chats.c.chat_id == alerts.c.chat_id)
        .where(*where)
        .subquery()
    )
    query = (
        sa.select(
            ranked.c.chat_id, ranked.c.key, ranked.c.companies, ranked.c.attempts, ranked.c.due,
            components.c.title, sa.func.coalesce(components.c.link, components.c.url).label("url"),  # as published
            components.c.kind, components.c.author, components.c.excerpt_text,
        )
        .join(components, components.c.key == ranked.c.key)
        .where(ranked.c.n <= (per_chat or limit))
        .order_by(ranked.c.chat_id, ranked.c.n)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        places = _places(conn, sorted({r.key for r in rows}))
    grouped: dict[int, list[QueuedAlert]] = defaultdict(list)
    for r in rows:
        alert = Alert(
            key=r.key,
            kind=_kind(r.kind),
            title=r.title,
            url=r.url,
            companies=tuple(n for n in r.companies.split("\n") if n),
            places=places.get(r.key, ()),
            source=r.author,
            excerpt=r.excerpt_text or "",
        )
        grouped[r.chat_id].append(QueuedAlert(alert, r.attempts))
    due = {r.chat_id: r.due for r in rows}
    return [ChatAlerts(chat_id, tuple(items), _more(due[chat_id], len(items), per_chat))
            for chat_id, items in grouped.items()]


def _more(due: int, read: int, per_chat: int | None) -> int:
    # Only a chat read up to its cap has "more": one cut by `limit` is read on.
    return due - read if per_chat is not None and read == per_chat else 0


def _kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        return Kind.ARTICLE


def _places(conn: sa.Connection, keys: list[str]) -> dict[str, tuple[str, ...]]:
    """Countries first, then regions, each in the order tagging found them."""
    found: dict[str, list[str]] = defaultdict(list)
    order = sa.case((component_tags.c.facet == "country", 0), else_=1)
    for part in chunked(keys):
        query = (
            sa.select(component_tags.c.key, component_tags.c.name)
            .where(component_tags.c.key.in_(part), component_tags.c.facet.in_(("country", "region")))
            .order_by(component_tags.c.key, order, component_tags.c.position)
        )
        for key, name in conn.execute(query):
            found[key].append(name)
    return {key: tuple(dict.fromkeys(names)) for key, names in found.items()}


def _alert_rows(chat_id: int, keys: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.and_(alerts.c.chat_id == chat_id, alerts.c.key.in_(list(keys)))


def mark_sending(engine: sa.Engine, chat_id: int, keys: Sequence[str], now: datetime, lease_until: datetime) -> bool:
    """Claim `keys` for one send; if we die, they are sent again after `lease_until`.

    All or nothing: False when another process claimed or settled any of them
    since they were read (several workers, or a worker and a one-off `alert`). On
    PostgreSQL the rows are locked first, skipping any another process is claiming at
    this instant: a rival claim is lost at once, never waited for or deadlocked on.
    """
    claimable = sa.and_(
        _alert_rows(chat_id, keys),
        alerts.c.status.in_(("pending", "sending")),
        alerts.c.next_attempt_at <= now,
    )
    claim = (
        sa.update(alerts)
        .where(claimable)
        .values(status="sending", attempts=alerts.c.attempts + 1, next_attempt_at=lease_until)
    )
    wanted = len(set(keys))
    with engine.connect() as conn, conn.begin() as transaction:
        if conn.dialect.name == "postgresql":
            lock = sa.select(alerts.c.key).where(claimable).order_by(alerts.c.key).with_for_update(skip_locked=True)
            if len(conn.execute(lock).all()) != wanted:
                transaction.rollback()
                return False
        if conn.execute(claim).rowcount == wanted:
            return True
        transaction.rollback()
    return False


def mark_sent(engine: sa.Engine, chat_id: int, keys: Sequence[str], now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(alerts).where(_alert_rows(chat_id, keys)).values(status="sent", sent_at=now, error=None)
        )


def mark_retry(
    engine: sa.Engine,
    chat_id: int,
    keys: Sequence[str],
    retry_at: datetime,
    error: str,
    *,
    refund_attempt: bool = False,
) -> None:
    """Back to `pending`, due at `retry_at`.

    `refund_attempt` for a flood wait (429) or a send never tried: neither says
    the message is undeliverable, so neither counts toward giving up.
    """
    values: dict = {"status": "pending", "next_attempt_at": retry_at, "error": error[:500]}
    if refund_attempt:
        values["attempts"] = sa.case((alerts.c.status == "sending", alerts.c.attempts - 1), else_=alerts.c.attempts)
    with engine.begin() as conn:
        conn.execute(sa.update(alerts).where(_alert_rows(chat_id, keys)).values(values))


def mark_summarised(engine: sa.Engine, chat_id: int, due_by: datetime) -> int:
    """The chat's other alerts due by `due_by` were told as "…and N more": not sent one by one."""
    with engine.begin() as conn:
        return conn.execute(
            sa.update(alerts)
            .where(alerts.c.chat_id == chat_id, alerts.c.status == "pending", alerts.c.next_attempt_at <= due_by)
            .values(status="summarised", error=None)
        ).rowcount


def mark_failed(engine: sa.Engine, chat_id: int, keys: Sequence[str], error: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(alerts).where(_alert_rows(chat_id, keys)).values(status="failed", error=error[:500]))


def mark_gone(engine: sa.Engine, chat_id: int, now: datetime, error: str) -> int:
    """The chat blocked the bot or no longer exists: stop sending to it.

    Returns how many queued alerts were closed. A message from the chat later
    (/start after unblocking) makes it active again.
    """
    with engine.begin() as conn:
        conn.execute(sa.update(chats).where(chats.c.chat_id == chat_id).values(status="gone", updated_at=now))
        return _close_queue(conn, chat_id, "gone", error)


def _close_queue(conn: sa.Connection, chat_id: int, status: str, error: str) -> int:
    result = conn.execute(
        sa.update(alerts)
        .where(alerts.c.chat_id == chat_id, alerts.c.status.in_(("pending", "sending")))
        .values(status=status, error=error[:500])
    )
    return result.rowcount or 0


def expire_alerts(engine: sa.Engine, before: datetime) -> int:
    """Give up alerts queued before `before`: an "instant" alert days late is noise
    (after a long outage or a token set at last). Returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.update(alerts)
            .where(alerts.c.status.in_(("pending", "sending")), alerts.c.created_at < before)
            .values(status="failed", error="expired: not delivered in time to be an instant alert")
        )
    return result.rowcount or 0


def alert_counts(engine: sa.Engine) -> dict[str, int]:
    """Alerts by status, for `status` and summaries."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alerts.c.status, sa.func.count()).group_by(alerts.c.status)).all()
    return {status: count for status, count in rows}


def next_due(engine: sa.Engine) -> datetime | None:
    """When the next queued alert of an active chat falls due, if any."""
    query = (
        sa.select(sa.func.min(alerts.c.next_attempt_at))
        .join(chats, chats.c.chat_id == alerts.c.chat_id)
        .join(components, components.c.key == alerts.c.key)  # as due_alerts: else a loop spins
        .where(chats.c.status == "active", alerts.c.status.in_(("pending", "sending")))
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


# --- bot commands -----------------------------------------------------------------------


def chat_state(engine: sa.Engine, chat_id: int) -> ChatState:
    with engine.connect() as conn:
        status = conn.execute(sa.select(chats.c.status).where(chats.c.chat_id == chat_id)).scalar()
        rows = conn.execute(
            sa.select(chat_companies.c.company, chat_companies.c.source)
            .where(chat_companies.c.chat_id == chat_id)
            .order_by(sa.func.lower(chat_companies.c.company))
        ).all()
    return ChatState(chat_id, status, tuple((r.company, r.source) for r in rows))


def start_chat(engine: sa.Engine, chat_id: int, now: datetime) -> str | None:
    """Make the chat active (new, stopped or gone alike); returns its status before."""
    with engine.begin() as conn:
        before = conn.execute(sa.select(chats.c.status).where(chats.c.chat_id == chat_id)).scalar()
        if before is None:
            _insert_chats(conn, [chat_id], now)
        elif before != "active":
            conn.execute(sa.update(chats).where(chats.c.chat_id == chat_id).values(status="active", updated_at=now))
    return before


def track_company(
    engine: sa.Engine, chat_id: int, company: str, now: datetime, *, max_companies: int = 200
) -> TrackResult:
    """Track `company` (a canonical name) from `now` on; the chat becomes active."""
    start_chat(engine, chat_id, now)
    with engine.begin() as conn:
        source = conn.execute(sa.select(chat_companies.c.source).where(_row(chat_id, company))).scalar()
        if source is not None:
            return TrackResult.YAML if source == "yaml" else TrackResult.ALREADY
        count = conn.execute(
            sa.select(sa.func.count()).select_from(chat_companies).where(chat_companies.c.chat_id == chat_id)
        ).scalar_one()
        if count >= max_companies:
            return TrackResult.LIMIT
        row = {"chat_id": chat_id, "company": company, "source": "bot", "since": now}
        insert_ignore(conn, chat_companies, [row])
    return TrackResult.ADDED


def untrack_company(engine: sa.Engine, chat_id: int, company: str) -> UntrackResult:
    with engine.begin() as conn:
        source = conn.execute(sa.select(chat_companies.c.source).where(_row(chat_id, company))).scalar()
        if source is None:
            return UntrackResult.NOT_TRACKED
        if source == "yaml":
            return UntrackResult.YAML
        if source == "link":
            return UntrackResult.LINKED
        conn.execute(sa.delete(chat_companies).where(_row(chat_id, company)))
    return UntrackResult.REMOVED


def stop_chat(engine: sa.Engine, chat_id: int, now: datetime) -> int:
    """/stop: no more alerts for this chat; what it tracked through the bot is forgotten.

    Companies from subscriptions.yaml stay configured but silent until /start.
    Returns how many queued alerts were dropped.
    """
    with engine.begin() as conn:
        _insert_chats(conn, [chat_id], now)
        conn.execute(sa.update(chats).where(chats.c.chat_id == chat_id).values(status="stopped", updated_at=now))
        mine = sa.and_(chat_companies.c.chat_id == chat_id, chat_companies.c.source == "bot")
        conn.execute(sa.delete(chat_companies).where(mine))
        return _close_queue(conn, chat_id, "failed", "the chat sent /stop")


# --- bot update offset ------------------------------------------------------------------


def get_update_offset(engine: sa.Engine) -> int | None:
    value = read_state(engine, OFFSET_NAME)
    return int(value) if value is not None else None


def set_update_offset(engine: sa.Engine, offset: int) -> None:
    """Remember the next update to ask for: a handled update is never handled again."""
    write_state(engine, OFFSET_NAME, str(offset))


# --- a chat's language (/language) ---------------------------------------------------------


def get_chat_language(engine: sa.Engine, chat_id: int) -> str | None:
    """The language a chat chose with /language, or None (follow Telegram's language_code)."""
    return read_state(engine, _language_name(chat_id))


def set_chat_language(engine: sa.Engine, chat_id: int, language: str | None) -> None:
    """Keep a chat's /language choice; None forgets it."""
    if language is not None:
        write_state(engine, _language_name(chat_id), language)
        return
    with engine.begin() as conn:
        conn.execute(sa.delete(bot_state).where(bot_state.c.name == _language_name(chat_id)))


def remember_telegram_language(engine: sa.Engine, chat_id: int, language_code: str) -> None:
    """Keep the Telegram app language a private chat's user last wrote in (written only when it changed)."""
    name = f"telegram-language:{chat_id}"
    if read_state(engine, name) != language_code:
        write_state(engine, name, language_code)


def alert_language(engine: sa.Engine, chat_id: int) -> str | None:
    """The language to tell a chat of news in: its /language choice, else its user's Telegram language."""
    return get_chat_language(engine, chat_id) or read_state(engine, f"telegram-language:{chat_id}")


def _language_name(chat_id: int) -> str:
    # bot_state is the bot's own name -> value store; one row per chat that chose a language.
    return f"language:{chat_id}"
