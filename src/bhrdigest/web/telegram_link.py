"""The preferences page's "instant alerts on Telegram" section, and keeping a linked chat in step.

The section offers a `t.me/<bot>?start=<token>` deep link (and `?startgroup=` for a group):
Telegram opens the bot and sends `/start <token>`, which links that chat to this
subscription (telegram/linking.py). The token is made fresh for each page view and
expires after a week (signing.TELEGRAM_LINK_MAX_AGE).

The bot's username is the one a worker last saw from getMe (store/bot_api.py), so the web
process needs no bot token; until a worker has reached the Bot API, the section is not shown
(no bot would answer the link). A subscriber whose chat staff set in subscriptions.yaml
(`telegram:`) is told so instead: that setting wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from bhrdigest.i18n import Chrome
from bhrdigest.model import Subscriber
from bhrdigest.signing import TELEGRAM_LINK_MAX_AGE, make_telegram_link
from bhrdigest.store.addresses import address_ids
from bhrdigest.store.bot_api import bot_username
from bhrdigest.store.telegram_links import link_of, subscription_companies, sync_linked_chats
from bhrdigest.web.context import WebContext

LINK_DAYS = TELEGRAM_LINK_MAX_AGE // 86400


@dataclass(frozen=True, slots=True)
class TelegramOffer:
    staff: bool  # the chat is set in subscriptions.yaml: nothing to link here
    start_url: str = ""
    group_url: str = ""
    linked_on: str | None = None  # when a chat was linked, in the reader's language
    days: int = LINK_DAYS


def telegram_offer(web: WebContext, subscriber: Subscriber, chrome: Chrome) -> TelegramOffer | None:
    """What the page says about Telegram (None: no bot to link to). Runs in a thread: it reads the store."""
    username = bot_username(web.engine)
    if not username:
        return None
    if subscriber.telegram is not None:
        return TelegramOffer(staff=True)
    email = subscriber.email.lower()
    address_id = address_ids(web.engine, [email])[email]
    token = make_telegram_link(web.secret, address_id, web.list_id, now=web.wall_clock())
    bot = f"https://t.me/{quote(username)}"
    link = link_of(web.engine, email)
    return TelegramOffer(
        staff=False,
        start_url=f"{bot}?start={token}",
        group_url=f"{bot}?startgroup={token}",
        linked_on=chrome.format_date(link.linked_at) if link else None,
    )


def resync_linked_chat(web: WebContext, email: str) -> None:
    """After a preferences change: the chat linked to `email`, if any, follows the new companies."""
    link = link_of(web.engine, email)
    if link is not None:
        companies = subscription_companies(web.engine, web.subscribers, web.choices)
        sync_linked_chats(web.engine, companies, web.now(), chat_ids={link.chat_id})
