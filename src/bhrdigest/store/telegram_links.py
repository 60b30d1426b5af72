"""Telegram chats linked to an email subscription, and the companies that link gives them.

    link_chat            a subscriber confirmed (a signed link, /start <token>) that a chat is theirs
    unlink_chat          /unlink or /stop in that chat
    sync_linked_chats    make each linked chat's `link` rows (chat_companies) the companies its
                         subscribers follow now: after linking, after a preferences change, each fetch
    links, link_of       what is linked, for the pages, the bot and `bhrdigest subscribers`

One chat per address: linking the same subscription from another chat moves it there (the
subscriber may move alerts from a private chat to a group). A chat may hold several
subscriptions' links; it follows the union of their companies. A company the chat tracks
through /track or subscriptions.yaml keeps that source: a link adds only what is missing,
and takes away only its own rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bhrdigest.config.preferences import Choices, Preferences, apply_preferences
from bhrdigest.model import Subscriber
from bhrdigest.store.schema import addresses, chat_companies, chats, telegram_links
from bhrdigest.store.sql import chunked, insert_ignore, store_errors
from bhrdigest.store.subscribers import find_subscriber, get_preferences, load_preferences

SOURCE = "link"  # chat_companies.source of a linked subscription's companies

_store_errors = store_errors("the Telegram links")


@dataclass(frozen=True, slots=True)
class Link:
    address_id: int
    email: str
    chat_id: int
    linked_at: datetime


@_store_errors
def link_chat(engine: sa.Engine, address_id: int, chat_id: int, now: datetime) -> int | None:
    """Link `address_id`'s subscription to `chat_id`; returns the chat it was linked to
    before when that was another one (it is moved), else None. Sync the chats afterwards."""
    with engine.begin() as conn:
        before = conn.execute(
            sa.select(telegram_links.c.chat_id).where(telegram_links.c.address_id == address_id)
        ).scalar()
        if before is None:
            insert_ignore(conn, telegram_links, [{"address_id": address_id, "chat_id": chat_id, "linked_at": now}])
        else:
            conn.execute(sa.update(telegram_links).where(telegram_links.c.address_id == address_id)
                         .values(chat_id=chat_id, linked_at=now))
    return before if before is not None and before != chat_id else None


@_store_errors
def unlink_chat(engine: sa.Engine, chat_id: int) -> int:
    """Forget every subscription linked to `chat_id` and the companies they gave it; returns how many."""
    with engine.begin() as conn:
        mine = sa.delete(telegram_links).where(telegram_links.c.chat_id == chat_id)
        removed = conn.execute(mine.execution_options(preserve_rowcount=True)).rowcount
        conn.execute(sa.delete(chat_companies).where(chat_companies.c.chat_id == chat_id,
                                                     chat_companies.c.source == SOURCE))
    return removed or 0


@_store_errors
def links(engine: sa.Engine, *, chat_ids: Collection[int] | None = None,
          emails: Collection[str] | None = None) -> list[Link]:
    """Links, oldest first; only those of `chat_ids` or of `emails` when given."""
    query = (
        sa.select(telegram_links.c.address_id, addresses.c.email, telegram_links.c.chat_id, telegram_links.c.linked_at)
        .join(addresses, addresses.c.id == telegram_links.c.address_id)
        .order_by(telegram_links.c.linked_at, telegram_links.c.address_id)
    )
    if chat_ids is not None:
        query = query.where(telegram_links.c.chat_id.in_(sorted(chat_ids)))
    if emails is not None:
        query = query.where(addresses.c.email.in_(sorted(e.lower() for e in emails)))
    with engine.connect() as conn:
        return [Link(r.address_id, r.email, r.chat_id, r.linked_at) for r in conn.execute(query)]


def link_of(engine: sa.Engine, email: str) -> Link | None:
    found = links(engine, emails=[email])
    return found[0] if found else None


def sync_all_links(engine: sa.Engine, subscribers: Sequence[Subscriber], choices: Choices, now: datetime) -> int:
    """Every linked chat in step with its subscriptions (staff edited the YAML, an import
    changed someone); returns how many chats have links."""
    in_yaml = {s.email.lower(): s for s in subscribers}
    companies = subscription_companies(engine, in_yaml, choices, preferences=load_preferences(engine))
    return len(sync_linked_chats(engine, companies, now))


def subscription_companies(engine: sa.Engine, in_yaml: Mapping[str, Subscriber], choices: Choices, *,
                           preferences: Mapping[str, Preferences] | None = None) -> Callable[[str], Sequence[str]]:
    """email -> the companies a link to that subscription gives a chat: the ones the subscriber
    follows now (their web choices applied); none when they are listed nowhere, or when staff
    set their chat in subscriptions.yaml (`telegram:`), which wins. `preferences`: every
    subscriber's, read once by the caller syncing many links (else each is read on its own)."""

    def companies(email: str) -> Sequence[str]:
        subscriber = find_subscriber(engine, in_yaml, choices, email)
        if subscriber is None or subscriber.telegram is not None:
            return ()
        mine = preferences.get(email) if preferences is not None else get_preferences(engine, email)
        return apply_preferences(subscriber, mine, choices).companies

    return companies


@_store_errors
def sync_linked_chats(engine: sa.Engine, companies_of: Callable[[str], Sequence[str]], now: datetime, *,
                      chat_ids: Collection[int] | None = None) -> dict[int, tuple[str, ...]]:
    """Make the `link` rows of `chat_ids` (default: every chat with a link or link rows) the
    union of their subscriptions' companies; a company new to a chat alerts from `now` on.
    Returns {chat: the companies its links give it}."""
    if chat_ids is None:
        found = links(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(chat_companies.c.chat_id).where(chat_companies.c.source == SOURCE))
            chat_ids = {r.chat_id for r in rows} | {link.chat_id for link in found}
    else:
        found = links(engine, chat_ids=chat_ids)
    wanted: dict[int, dict[str, None]] = {chat_id: {} for chat_id in chat_ids}
    for link in found:
        wanted[link.chat_id].update(dict.fromkeys(companies_of(link.email)))
    with engine.begin() as conn:  # one transaction: a fetch's sync of every link stays cheap
        _write_link_rows(conn, wanted, now)
    return {chat_id: tuple(names) for chat_id, names in wanted.items()}


def _write_link_rows(conn: sa.Connection, wanted: Mapping[int, Collection[str]], now: datetime) -> None:
    """Only what differs is written: an unchanged chat costs one read."""
    have: dict[int, dict[str, str]] = defaultdict(dict)
    for part in chunked(sorted(wanted)):
        for row in conn.execute(sa.select(chat_companies).where(chat_companies.c.chat_id.in_(part))):
            have[row.chat_id][row.company] = row.source
    new: list[dict] = []
    for chat_id, names in wanted.items():
        gone = [company for company, source in have[chat_id].items() if source == SOURCE and company not in names]
        if gone:
            conn.execute(sa.delete(chat_companies).where(chat_companies.c.chat_id == chat_id,
                                                         chat_companies.c.company.in_(gone)))
        new += [{"chat_id": chat_id, "company": c, "source": SOURCE, "since": now}
                for c in names if c not in have[chat_id]]
    new_chats = {row["chat_id"] for row in new}
    insert_ignore(conn, chats, [{"chat_id": c, "status": "active", "created_at": now, "updated_at": now}
                                for c in sorted(new_chats)])
    insert_ignore(conn, chat_companies, new)


def linked_chats(engine: sa.Engine) -> dict[str, int]:
    """{email: chat} of every link, for `bhrdigest subscribers`."""
    return {link.email: link.chat_id for link in links(engine)}

