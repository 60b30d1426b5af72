"""The self-service Telegram bot: /start, /track, /untrack, /list, /stop, /language, /unlink.

`handle_command` turns one message into one reply (HTML parse mode) and the store
changes it implies; `poll_bot_once` long-polls the Bot API and answers what came.
Every string a user typed is escaped before it goes back to them.

Fairness: Telegram takes one message a second per chat, so a poll answers each chat
with one message however many commands it sent (at most MAX_COMMANDS_PER_POLL are
answered, the rest dropped with one note), and the chats are answered side by side:
a chat that floods the bot waits for its own replies, never another chat or an alert.
In a group, only its administrators (asked of the Bot API) change what it tracks.

Replies are in the chat's language: the one it chose with /language, else the sender's
Telegram language (`language_code`), else English (bhrdigest.i18n: any language with a
catalogue; the companies' names stay as they are).

`/start <token>` (a deep link from a subscriber's preferences page) links the chat to that
email subscription, and `/unlink` undoes it: see telegram/linking.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa

from bhrdigest.errors import DeliveryError, TransientDeliveryError
from bhrdigest.i18n import N_, Chrome, catalogue_languages, chrome_for
from bhrdigest.store import alert_queue as store
from bhrdigest.store.telegram_links import unlink_chat
from bhrdigest.telegram.client import ChatGoneError, IncomingMessage, TelegramSender
from bhrdigest.telegram.format import MAX_MESSAGE as MAX_REPLY
from bhrdigest.telegram.format import escape, telegram_length
from bhrdigest.telegram.linking import ChatLinker, start_with_token, unlink

log = logging.getLogger(__name__)

MAX_NAME = 100  # characters of a company name in /track and /untrack
MAX_COMPANIES = 200  # companies one chat may track through the bot
SUGGESTIONS = 3
MAX_REPLY_WAIT = 5.0  # seconds of flood wait a reply may sleep through, once
MAX_COMMANDS_PER_POLL = 10  # commands answered per chat and poll; the rest get one note
# Commands that change a chat's alerts: in a group, for its administrators only.
ADMIN_COMMANDS = frozenset({"start", "track", "untrack", "stop", "unlink"})
GROUP_TYPES = ("group", "supergroup")

COMMANDS = (  # descriptions in English (setMyCommands); replies translate them
    ("start", N_("What this bot does")),
    ("track", N_("Alert me about a company: /track HSBC")),
    ("untrack", N_("Stop alerts about a company")),
    ("list", N_("The companies this chat tracks")),
    ("stop", N_("Stop every alert for this chat")),
    ("language", N_("Reply in another language: /language es")),
    ("unlink", N_("Stop the alerts of a linked email subscription")),
)

HELP = N_(
    "This bot sends an instant alert when the Business &amp; Human Rights Resource Centre "
    "publishes news naming a company you track — above all when a company "
    "<b>responds</b>, or <b>does not respond</b>, to allegations of human rights abuse.\n\n"
    "/track <i>company</i> — get alerts about a company, e.g. <code>/track HSBC</code>\n"
    "/untrack <i>company</i> — stop alerts about it\n"
    "/list — the companies this chat tracks\n"
    "/stop — stop every alert for this chat\n"
    "/language <i>code</i> — reply in another language, e.g. <code>/language fr</code>\n\n"
    "You get alerts for news first seen after you start tracking."
)


LINK_HELP = N_("Subscribed to the email digest? The Telegram link on your preferences page brings its "
               "companies' alerts to this chat; /unlink undoes it.")

HINT = N_("I only understand commands. Send <code>/track HSBC</code> to get alerts, or /start for help.")


class CompanyDirectory(Protocol):
    """What the bot needs of the catalogue (tagging.companies.CompanyIndex)."""

    def lookup(self, name: str) -> str | None: ...

    def suggest(self, name: str, n: int) -> list[str]: ...


def handle_command(
    text: str | None,
    chat_id: int,
    *,
    engine: sa.Engine,
    companies: CompanyDirectory,
    now: datetime,
    bot_username: str | None = None,
    chat_type: str = "private",
    language_code: str | None = None,
    links: ChatLinker | None = None,
) -> str | None:
    """The reply to one message, or None when it is not for us.

    `links`: what checking a subscription link needs (None: linking is not set up)."""
    if text is None:
        return None
    if not text.strip().startswith("/"):
        return chat_chrome(engine, chat_id, language_code).gettext(HINT) if chat_type == "private" else None
    parsed = parse_command(text, bot_username)
    if parsed is None:
        return None  # a command for another bot in the same group
    command, argument = parsed
    _revive_if_gone(engine, chat_id, now)
    if command == "start" and argument:
        return start_with_token(links, engine, chat_id, argument, now, language_code)
    chrome = chat_chrome(engine, chat_id, language_code)
    handler = _HANDLERS.get(command)
    if handler is None:
        known = ", ".join(f"/{name}" for name, _ in COMMANDS)
        return chrome.gettext("Sorry, I don't know /%(command)s. I understand %(known)s.",
                              command=escape(command[:40]), known=known)
    return handler(engine, companies, chat_id, argument, now, chrome)


def chat_chrome(engine: sa.Engine, chat_id: int, language_code: str | None) -> Chrome:
    """The language of replies to a chat: its /language choice, else the sender's Telegram one."""
    chosen = store.get_chat_language(engine, chat_id)
    return chrome_for([chosen or language_code or "en"])


def parse_command(text: str | None, bot_username: str | None) -> tuple[str, str] | None:
    """(command in lower case, argument with spaces collapsed) of a command for this bot, else None."""
    text = (text or "").strip()
    if not text.startswith("/"):
        return None
    head, *rest = text.split(maxsplit=1)
    command, _, addressee = head[1:].partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None
    return command.lower(), " ".join((rest[0] if rest else "").split())


def _revive_if_gone(engine: sa.Engine, chat_id: int, now: datetime) -> None:
    # A chat that blocked the bot and now writes to it has unblocked it.
    if store.chat_state(engine, chat_id).status == "gone":
        store.start_chat(engine, chat_id, now)


def _start(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
           t: Chrome) -> str:
    before = store.start_chat(engine, chat_id, now)
    if before in ("stopped", "gone"):
        return t.gettext("Alerts are on again for this chat.") + "\n\n" + _help(t)
    return _help(t)


def _help(t: Chrome) -> str:
    return t.gettext(HELP) + "\n\n" + t.gettext(LINK_HELP)


def _track(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
           t: Chrome) -> str:
    if not argument:
        return t.gettext("Which company? Send /track and its name, e.g. <code>/track HSBC</code>.")
    if len(argument) > MAX_NAME:
        return t.gettext("That name is too long: company names have at most %(max)s characters.", max=MAX_NAME)
    canonical = companies.lookup(argument)
    if canonical is None:
        return _not_found(companies, argument, t)
    name = f"<b>{escape(canonical)}</b>"
    result = store.track_company(engine, chat_id, canonical, now, max_companies=MAX_COMPANIES)
    if result is store.TrackResult.ALREADY:
        return t.gettext("You already track %(name)s.", name=name)
    if result is store.TrackResult.YAML:
        return t.gettext("%(name)s is already in this chat's subscription.", name=name)
    if result is store.TrackResult.LIMIT:
        return t.gettext("This chat tracks %(max)s companies, the most it can. /untrack one first.",
                         max=MAX_COMPANIES)
    if canonical.casefold() == argument.casefold():
        return t.gettext("Tracking %(name)s. You will get an alert when new items name it.", name=name)
    return t.gettext("Tracking %(name)s (you wrote “%(typed)s”). You will get an alert when new items name it.",
                     name=name, typed=escape(argument))


def _not_found(companies: CompanyDirectory, argument: str, t: Chrome) -> str:
    suggestions = companies.suggest(argument, SUGGESTIONS)
    asked = escape(argument)
    if not suggestions:
        return t.gettext("No company called “%(name)s” in our list. Check the spelling, or try another of its "
                         "names.", name=asked)
    options = ", ".join(f"<b>{escape(s)}</b>" for s in suggestions)
    example = f"<code>/track {escape(suggestions[0])}</code>"
    return t.gettext("No company called “%(name)s” in our list. Did you mean %(options)s? Send e.g. %(example)s.",
                     name=asked, options=options, example=example)


def _untrack(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
           t: Chrome) -> str:
    if not argument:
        return t.gettext("Which company? Send /untrack and its name; /list shows what you track.")
    if len(argument) > MAX_NAME:
        return t.gettext("That name is too long: company names have at most %(max)s characters.", max=MAX_NAME)
    tracked = {name.casefold(): name for name, _ in store.chat_state(engine, chat_id).companies}
    canonical = tracked.get(argument.casefold()) or companies.lookup(argument) or argument
    result = store.untrack_company(engine, chat_id, canonical)
    name = f"<b>{escape(canonical)}</b>"
    if result is store.UntrackResult.REMOVED:
        return t.gettext("No longer tracking %(name)s.", name=name)
    if result is store.UntrackResult.YAML:
        return t.gettext("%(name)s is in the subscription the Resource Centre set up for this chat: ask them to "
                         "remove it.", name=name)
    if result is store.UntrackResult.LINKED:
        return t.gettext("%(name)s comes from the email subscription linked to this chat: change its companies "
                         "on your preferences page, or /unlink.", name=name)
    return t.gettext("This chat does not track %(name)s. /list shows what it tracks.", name=name)


def _list(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
           t: Chrome) -> str:
    state = store.chat_state(engine, chat_id)
    if not state.companies:
        return t.gettext("This chat tracks no company yet. Send <code>/track HSBC</code> to start.")
    lines = [t.ngettext("This chat tracks %(num)s company:", "This chat tracks %(num)s companies:",
                        len(state.companies))]
    for company, source in state.companies:
        note = {"yaml": " — " + t.gettext("from your subscription"),
                "link": " — " + t.gettext("from the linked email subscription")}.get(source, "")
        lines.append(f"• {escape(company)}{note}")
    if state.status == "stopped":
        lines.append("\n" + t.gettext("Alerts are stopped (/stop). Send /start to turn them on again."))
    return "\n".join(lines)


def _stop(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
           t: Chrome) -> str:
    linked = unlink_chat(engine, chat_id)
    store.stop_chat(engine, chat_id, now)
    kept = [c for c, source in store.chat_state(engine, chat_id).companies if source == "yaml"]
    reply = t.gettext("Alerts stopped: this chat will get no more alerts. Companies tracked with /track are "
                      "forgotten.")
    if linked:
        reply += " " + t.gettext("It is no longer linked to an email subscription.")
    if kept:
        reply += " " + t.gettext("Companies from your subscription stay listed (/list) but silent.")
    return reply + " " + t.gettext("Send /start to turn alerts on again.")


def _unlink(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
            t: Chrome) -> str:
    return unlink(engine, chat_id, t)


def _language(engine: sa.Engine, companies: CompanyDirectory, chat_id: int, argument: str, now: datetime,
              t: Chrome) -> str:
    offered = ", ".join(f"<code>{code}</code>" for code in sorted(catalogue_languages()))
    code = argument.lower()
    if not code:
        return t.gettext("Replies are in %(language)s. Send /language and a code to change: %(offered)s "
                         "(<code>/language auto</code> follows your Telegram language).",
                         language=escape(t.locale.get_display_name() or t.code), offered=offered)
    if code == "auto":
        store.set_chat_language(engine, chat_id, None)
        return t.gettext("Replies follow your Telegram language again.")
    if code not in catalogue_languages():
        return t.gettext("No translation for “%(code)s” yet. Languages: %(offered)s.",
                         code=escape(argument[:20]), offered=offered)
    store.set_chat_language(engine, chat_id, code)
    chosen = chrome_for([code])
    return chosen.gettext("Replies are in %(language)s from now on.",
                          language=escape(chosen.locale.get_display_name() or code))


_HANDLERS: dict[str, Callable[[sa.Engine, CompanyDirectory, int, str, datetime, Chrome], str]] = {
    "start": _start,
    "help": _start,
    "track": _track,
    "untrack": _untrack,
    "list": _list,
    "stop": _stop,
    "language": _language,
    "unlink": _unlink,
}


async def poll_bot_once(
    engine: sa.Engine,
    sender: TelegramSender,
    companies: CompanyDirectory,
    *,
    timeout: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    links: ChatLinker | None = None,
) -> int:
    """Fetch updates (waiting up to `timeout` s) and answer each chat; returns how many came.

    The offset is stored once every chat is answered, so a crash answers at most one
    poll's commands twice (they are idempotent) and never skips one.
    """
    updates = await sender.get_updates(store.get_update_offset(engine), timeout)
    by_chat: dict[int, list[IncomingMessage]] = {}
    for update in updates:
        if update.chat_id is not None:
            by_chat.setdefault(update.chat_id, []).append(update)
    await asyncio.gather(*(_answer_chat(engine, sender, companies, chat_id, chat_updates, clock, links)
                           for chat_id, chat_updates in by_chat.items()))
    if updates:
        store.set_update_offset(engine, updates[-1].update_id + 1)
    return len(updates)


async def _answer_chat(
    engine: sa.Engine,
    sender: TelegramSender,
    companies: CompanyDirectory,
    chat_id: int,
    updates: list[IncomingMessage],
    clock: Callable[[], datetime],
    links: ChatLinker | None,
) -> None:
    """Answer one chat's updates of this poll in order, in as few messages as fit."""
    replies: list[str] = []
    ignored = 0
    last = updates[-1]
    if last.chat_type == "private" and last.language_code:  # a group's alerts keep its /language, or English
        store.remember_telegram_language(engine, chat_id, last.language_code)
    for update in updates:
        if len(replies) >= MAX_COMMANDS_PER_POLL:
            ignored += _wants_reply(update, sender.username)
            continue
        reply = await _reply_to(engine, sender, companies, chat_id, update, clock(), links)
        if reply is not None:
            replies.append(reply)
    if ignored:
        chrome = chat_chrome(engine, chat_id, updates[-1].language_code)
        replies.append(chrome.gettext("You sent many commands at once: I answered the first %(answered)s and "
                                      "ignored the other %(ignored)s. Send them again a few at a time.",
                                      answered=MAX_COMMANDS_PER_POLL, ignored=ignored))
    try:
        for text in _messages(replies):
            await _send_reply(sender, chat_id, text)
    except ChatGoneError as exc:
        store.mark_gone(engine, chat_id, clock(), str(exc))
    except DeliveryError as exc:
        # A lost reply is not worth holding up the others: the user can ask again.
        log.warning("bot reply to chat %s not sent: %s", chat_id, exc)


def _wants_reply(update: IncomingMessage, bot_username: str | None) -> bool:
    if update.chat_type == "private":
        return update.text is not None
    return parse_command(update.text, bot_username) is not None


async def _reply_to(
    engine: sa.Engine,
    sender: TelegramSender,
    companies: CompanyDirectory,
    chat_id: int,
    update: IncomingMessage,
    now: datetime,
    links: ChatLinker | None,
) -> str | None:
    parsed = parse_command(update.text, sender.username)
    if parsed is not None and parsed[0] in ADMIN_COMMANDS and update.chat_type in GROUP_TYPES:
        chrome = chat_chrome(engine, chat_id, update.language_code)
        refusal = await _unless_admin(sender, chat_id, update, parsed[0], chrome)
        if refusal is not None:
            return refusal
    return handle_command(
        update.text,
        chat_id,
        engine=engine,
        companies=companies,
        now=now,
        bot_username=sender.username,
        chat_type=update.chat_type,
        language_code=update.language_code,
        links=links,
    )


async def _unless_admin(sender: TelegramSender, chat_id: int, update: IncomingMessage, command: str,
                        t: Chrome) -> str | None:
    """None when the writer administers the group, else the reply that says why not."""
    if update.sender_chat_id == chat_id:
        return None  # an administrator writing anonymously, as the group: only they can
    try:
        if update.user_id is not None and await sender.is_chat_admin(chat_id, update.user_id):
            return None
    except DeliveryError as exc:
        log.warning("cannot check the administrators of chat %s: %s", chat_id, exc)
        return t.gettext("I could not check that you administer this group; try /%(command)s again in a minute.",
                         command=command)
    return t.gettext("Only this group's administrators can change its alerts (/%(command)s). /list shows what "
                     "it tracks.", command=command)


def _messages(replies: list[str]) -> list[str]:
    """The replies joined into as few messages as fit, split between replies or lines."""
    # Our replies keep every tag within a line (each at most a few hundred characters),
    # so a line break is a safe place to split a long one such as /list.
    lines = [line for reply in replies for line in [*reply.split("\n"), ""]][:-1]
    messages, current = [], ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if telegram_length(candidate) > MAX_REPLY and current.strip():
            messages.append(current.strip())
            candidate = line
        current = candidate
    if current.strip():
        messages.append(current.strip())
    return messages


async def _send_reply(sender: TelegramSender, chat_id: int, reply: str) -> None:
    try:
        await sender.send_message(chat_id, reply, disable_preview=True)
    except TransientDeliveryError as exc:
        if exc.retry_after is None or exc.retry_after > MAX_REPLY_WAIT:
            raise
        await asyncio.sleep(exc.retry_after)  # a short flood wait: the user is waiting too
        await sender.send_message(chat_id, reply, disable_preview=True)
