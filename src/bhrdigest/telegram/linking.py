"""Linking a chat to an email subscription: `/start <token>` and `/unlink`.

The token comes only from the subscriber's own preferences page (a `t.me/<bot>?start=`
deep link, signing.make_telegram_link): it names the subscription by its address id and
expires after a week. There is no command that takes an address, so nobody can point
alerts about someone else's subscription at their chat by typing it.

Once linked, the chat gets an instant alert for each company the subscriber follows, kept
in step with their preferences (store/telegram_links). The reply names those companies and
the address masked (a***@example.org): a group's members learn whose subscription it is
without reading the address. A bad, changed or expired token is answered and changes
nothing. In a group only administrators link or unlink (bot.ADMIN_COMMANDS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from bhrdigest.config.preferences import Choices
from bhrdigest.i18n import Chrome, chrome_for
from bhrdigest.model import Subscriber
from bhrdigest.signing import TELEGRAM_LINK_MAX_AGE, read_telegram_link
from bhrdigest.store import alert_queue
from bhrdigest.store import telegram_links as store
from bhrdigest.store.addresses import email_of
from bhrdigest.store.subscribers import find_subscriber
from bhrdigest.telegram.format import escape

log = logging.getLogger(__name__)

NOT_SET_UP_WARNING = "a chat sent a subscription link but the worker cannot check it: set BHRDIGEST_SECRET"


@dataclass(frozen=True, slots=True)
class ChatLinker:
    """What checking a link needs: the signing secret and list, and who the subscribers are."""

    secret: str = field(repr=False)
    list_id: str
    in_yaml: Mapping[str, Subscriber]  # subscriptions.yaml's, by lower-cased address
    choices: Choices

    @classmethod
    def of(cls, secret: str, list_id: str, subscribers: Sequence[Subscriber], choices: Choices) -> ChatLinker:
        return cls(secret, list_id, {s.email.lower(): s for s in subscribers}, choices)

    def companies_of(self, engine: sa.Engine) -> Callable[[str], Sequence[str]]:
        return store.subscription_companies(engine, self.in_yaml, self.choices)


def start_with_token(linker: ChatLinker | None, engine: sa.Engine, chat_id: int, token: str, now: datetime,
                     language_code: str | None) -> str:
    """The reply to `/start <token>`, linking the chat when the token is genuine and current."""
    chosen = alert_queue.get_chat_language(engine, chat_id)
    t = chrome_for([chosen or language_code or "en"])
    if linker is None:
        log.warning(NOT_SET_UP_WARNING)
        return t.gettext("Linking a subscription does not work here yet: the Resource Centre has to finish "
                         "setting it up. Nothing was changed.")
    claim = read_telegram_link(linker.secret, token, linker.list_id)
    email = email_of(engine, claim.address_id) if claim is not None else None
    if claim is None or email is None:
        return t.gettext("This link is not valid: it may have been cut short or changed. Nothing was changed. "
                         "Open the Telegram link on your preferences page again.")
    if claim.expired(now.timestamp()):
        return t.gettext("This link has expired: links work for %(days)s days. Nothing was changed. Open your "
                         "preferences page for a new one.", days=TELEGRAM_LINK_MAX_AGE // 86400)
    subscriber = find_subscriber(engine, linker.in_yaml, linker.choices, email)
    if subscriber is None:
        return t.gettext("This subscription no longer exists, so there is nothing to link. Nothing was changed.")
    if subscriber.telegram is not None:
        return t.gettext("The Resource Centre has set up a Telegram chat for this subscription: ask them to "
                         "change it. Nothing was changed.")
    companies = linker.companies_of(engine)
    following = companies(email)
    t = chrome_for([chosen or (subscriber.languages[0] if subscriber.languages else None) or language_code or "en"])
    alert_queue.start_chat(engine, chat_id, now)
    moved_from = store.link_chat(engine, claim.address_id, chat_id, now)
    store.sync_linked_chats(engine, companies, now, chat_ids={chat_id} | ({moved_from} if moved_from else set()))
    return _linked(t, email, following, moved=moved_from is not None)


def _linked(t: Chrome, email: str, companies: Sequence[str], *, moved: bool) -> str:
    lines = [t.gettext("This chat is now linked to the email subscription of %(address)s.",
                       address=f"<b>{escape(mask_address(email))}</b>")]
    if moved:
        lines.append(t.gettext("It was linked to another chat before: that chat no longer gets its alerts."))
    if companies:
        lines.append(t.ngettext("You will get an instant alert when new items name this company:",
                                "You will get an instant alert when new items name these companies:",
                                len(companies)))
        lines += [f"• {escape(name)}" for name in companies]
        lines.append(t.gettext("They follow your preferences page: change them there. /unlink ends the link."))
    else:
        lines.append(t.gettext("The subscription follows no company yet: choose some on your preferences page "
                               "and this chat gets their alerts. /unlink ends the link."))
    return "\n".join(lines)


def unlink(engine: sa.Engine, chat_id: int, t: Chrome) -> str:
    """/unlink: the chat keeps what it tracks with /track, and loses what a link gave it."""
    if store.unlink_chat(engine, chat_id):
        return t.gettext("This chat is no longer linked to an email subscription: its companies' alerts stop "
                         "here. Companies tracked with /track stay.")
    return t.gettext("This chat is not linked to an email subscription. To link one, open the Telegram link on "
                     "your preferences page.")


def mask_address(email: str) -> str:
    """a***@example.org: enough for its owner to recognise, not enough to read it."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"
