"""The self-service bot: commands answered from the store and the catalogue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botapi import TOKEN, FakeBotAPI, database, parse_html, store_component

from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.model import Company, Subscriber
from bhrdigest.store import alert_queue as store
from bhrdigest.telegram.bot import MAX_COMMANDS_PER_POLL, MAX_NAME, handle_command, poll_bot_once
from bhrdigest.telegram.client import Pacing, TelegramSender

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CHAT = 4242
CATALOGUE = CompanyIndex(
    [
        Company("HSBC", ("HSBC Holdings", "Hongkong and Shanghai Banking Corporation")),
        Company("Cellebrite"),
        Company("Shell", ("Royal Dutch Shell",)),
    ]
)
FAST = Pacing(per_chat_interval=0.04, global_per_second=0.0, group_per_minute=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    with database(request.param, tmp_path) as engine:
        yield engine


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI(per_chat_interval=0.02) as running:
        yield running


def say(engine, text, chat_id=CHAT, *, chat_type="private", now=NOW, language_code=None):
    reply = handle_command(text, chat_id, engine=engine, companies=CATALOGUE, now=now, bot_username="bhr_test_bot",
                           chat_type=chat_type, language_code=language_code)
    if reply is not None:
        parse_html(reply)  # every reply must be valid Telegram HTML
    return reply


def shown(reply: str) -> str:
    return parse_html(reply).text


def tracked(engine, chat_id=CHAT):
    return store.chat_state(engine, chat_id).companies


def test_start_says_what_the_bot_does_and_how_to_track(engine):
    text = shown(say(engine, "/start"))

    assert "Business & Human Rights Resource Centre" in text
    assert "/track" in text and "/untrack" in text and "/list" in text and "/stop" in text
    assert store.chat_state(engine, CHAT).status == "active"


def test_track_by_alias_tracks_the_catalogue_name(engine):
    reply = shown(say(engine, "/track hsbc holdings"))

    assert "Tracking HSBC" in reply
    assert tracked(engine) == (("HSBC", "bot"),)


def test_name_on_the_next_line_and_odd_spacing_still_track(engine):
    assert "Tracking Cellebrite" in shown(say(engine, "/TRACK\n  Cellebrite  "))


def test_track_twice_says_so_and_keeps_one(engine):
    say(engine, "/track Cellebrite")

    assert "already track" in shown(say(engine, "/track cellebrite"))
    assert tracked(engine) == (("Cellebrite", "bot"),)


def test_near_miss_gets_did_you_mean_and_tracks_nothing(engine):
    reply = shown(say(engine, "/track Celebrite"))

    assert "Did you mean Cellebrite?" in reply
    assert tracked(engine) == ()


def test_unknown_company_is_refused_without_a_guess(engine):
    reply = shown(say(engine, "/track Zzyzx Quantum"))

    assert "No company called “Zzyzx Quantum”" in reply
    assert "Did you mean" not in reply
    assert tracked(engine) == ()


@pytest.mark.parametrize("text", ["/track", "/track    ", "/track " + "A" * (MAX_NAME + 1)])
def test_missing_or_overlong_name_is_explained(engine, text):
    reply = shown(say(engine, text))

    assert "Which company?" in reply or "too long" in reply
    assert tracked(engine) == ()


def test_hostile_input_comes_back_escaped(engine):
    reply = say(engine, "/track <script>alert(1)</script> & <b")

    assert "<script>alert(1)</script> & <b" in shown(reply)


def test_untrack_removes_a_bot_company(engine):
    say(engine, "/track Shell")

    assert "No longer tracking Shell" in shown(say(engine, "/untrack royal dutch shell"))
    assert tracked(engine) == ()


def test_yaml_companies_are_shown_as_such_and_cannot_be_untracked_by_the_bot(engine):
    store.sync_yaml_chats(engine, [Subscriber("alex@example.org", companies=("HSBC",), telegram=CHAT)], NOW)
    say(engine, "/track Cellebrite")

    listing = shown(say(engine, "/list"))
    refusal = shown(say(engine, "/untrack HSBC"))

    assert "• Cellebrite\n" in listing + "\n"
    assert "• HSBC — from your subscription" in listing
    assert "ask them to remove it" in refusal
    assert ("HSBC", "yaml") in tracked(engine)
    assert "already in this chat's subscription" in shown(say(engine, "/track HSBC"))


def test_list_of_an_empty_chat_says_how_to_start(engine):
    assert "tracks no company yet" in shown(say(engine, "/list"))


def test_stop_ends_every_alert_and_start_turns_them_on_again(engine):
    store.sync_yaml_chats(engine, [Subscriber("alex@example.org", companies=("HSBC",), telegram=CHAT)], NOW)
    say(engine, "/track Cellebrite")
    key = store_component(engine, "c1", companies=("HSBC", "Cellebrite"), first_seen_at=NOW + timedelta(minutes=1))
    store.queue_alerts(engine, [key], now=NOW)

    reply = shown(say(engine, "/stop"))
    later = store_component(engine, "c2", companies=("HSBC",), first_seen_at=NOW + timedelta(minutes=2))

    assert "no more alerts" in reply
    assert store.queue_alerts(engine, [later], now=NOW) == 0
    assert store.due_alerts(engine, NOW + timedelta(hours=1)) == []
    assert tracked(engine) == (("HSBC", "yaml"),)
    assert "Send /start" in shown(say(engine, "/list"))

    assert "on again" in shown(say(engine, "/start"))
    third = store_component(engine, "c3", companies=("HSBC",), first_seen_at=NOW + timedelta(minutes=3))
    assert store.queue_alerts(engine, [third], now=NOW) == 1


def test_unknown_command_is_answered_politely(engine):
    reply = shown(say(engine, "/subscribe HSBC"))

    assert reply.startswith("Sorry, I don't know /subscribe.")
    assert "/track" in reply


def test_plain_text_gets_a_hint_in_private_and_silence_in_groups(engine):
    assert "/track HSBC" in shown(say(engine, "hello?"))
    assert say(engine, "hello everyone", -100, chat_type="group") is None


def test_group_commands_for_another_bot_are_ignored(engine):
    assert say(engine, "/track@other_bot HSBC", -100, chat_type="group") is None
    assert "Tracking HSBC" in shown(say(engine, "/track@BHR_test_bot HSBC", -100, chat_type="group"))
    assert tracked(engine, -100) == (("HSBC", "bot"),)


async def test_commands_arrive_by_long_polling_and_each_is_answered_once(engine, api):
    api.add_update(CHAT, "/start")
    api.add_update(CHAT, "/track HSBC")
    api.add_update(CHAT, "/list")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        first = await poll_bot_once(engine, sender, CATALOGUE, timeout=0)
        second = await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    [reply] = api.texts(CHAT)  # one chat's commands of one poll: answered in one message, in order
    assert (first, second) == (3, 0)
    assert reply.index("This bot sends") < reply.index("Tracking HSBC") < reply.index("• HSBC")
    assert store.get_update_offset(engine) == 4


async def test_a_chat_that_blocked_the_bot_is_marked_gone_and_revived_by_a_later_command(engine, api):
    say(engine, "/track HSBC")
    api.blocked.add(CHAT)
    api.add_update(CHAT, "/list")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)
        assert store.chat_state(engine, CHAT).status == "gone"
        api.blocked.clear()
        api.add_update(CHAT, "/list")
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    assert store.chat_state(engine, CHAT).status == "active"
    assert "• HSBC" in api.texts(CHAT)[-1]


async def test_a_short_flood_wait_delays_a_reply_instead_of_losing_it(engine, api):
    api.fail_next(CHAT, 429, "Too Many Requests: retry after 1", retry_after=1)
    api.add_update(CHAT, "/list")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    assert len(api.texts(CHAT)) == 1
    assert "tracks no company yet" in api.texts(CHAT)[0]


async def test_forty_commands_from_one_chat_get_one_reply_and_do_not_hold_up_another_chat(engine):
    # Telegram's own limits and our real pacing: one message a second to a chat.
    with FakeBotAPI() as api:
        for n in range(40):
            api.add_update(CHAT, f"/track Zzyzx {n}")
        api.add_update(CHAT + 1, "/list")
        async with TelegramSender(TOKEN, api.url) as sender:
            started = time.monotonic()
            await asyncio.wait_for(poll_bot_once(engine, sender, CATALOGUE, timeout=0), 10)
            took = time.monotonic() - started

        flood, other = api.texts(CHAT), api.texts(CHAT + 1)
    assert took < 3, took
    assert len(other) == 1 and "tracks no company yet" in other[0]
    assert len(flood) == 1  # the answered commands share one message
    assert flood[0].count("No company called") == MAX_COMMANDS_PER_POLL
    assert f"ignored the other {40 - MAX_COMMANDS_PER_POLL}" in flood[0]
    assert store.get_update_offset(engine) == 42  # the ignored ones are not asked for again


GROUP = -100123


async def test_in_a_group_only_administrators_change_what_it_tracks(engine, api):
    api.member_status[(GROUP, 7)] = "administrator"
    api.member_status[(GROUP, 8)] = "creator"
    member = 9
    for text, user in [("/track HSBC", member), ("/list", member), ("/track HSBC", 7), ("/track Shell", 8),
                       ("/stop", member), ("/untrack Shell", member)]:
        api.add_update(GROUP, text, chat_type="supergroup", user_id=user)
    api.add_update(GROUP, "/track Cellebrite", chat_type="supergroup", anonymous_admin=True)

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    assert tracked(engine, GROUP) == (("Cellebrite", "bot"), ("HSBC", "bot"), ("Shell", "bot"))
    assert store.chat_state(engine, GROUP).status == "active"
    [reply] = api.texts(GROUP)
    assert reply.count("Only this group's administrators") == 3
    assert "tracks no company yet" in reply  # anyone may /list
    assert api.calls.count("getChatMember") == 3  # the member's status is asked once, then cached


async def test_a_list_longer_than_one_message_arrives_whole_in_several(engine, api):
    names = [f"Company number {n:03} with a name long enough to fill a message" for n in range(150)]
    for name in names:
        store.track_company(engine, CHAT, name, NOW, max_companies=200)
    api.add_update(CHAT, "/list")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    texts = api.texts(CHAT)
    assert len(texts) == 3 and api.refusals == []  # Telegram takes 4096 characters a message
    assert all(f"• {name}" in "\n".join(texts) for name in names)


# --- the chat's language ----------------------------------------------------------------------


def test_replies_follow_the_senders_telegram_language(engine):
    assert "Siguiendo a HSBC" in shown(say(engine, "/track HSBC", language_code="es"))
    assert "Ce chat suit 1 entreprise" in shown(say(engine, "/list", language_code="fr-CA"))
    assert "This chat tracks 1 company" in shown(say(engine, "/list", language_code="ja"))  # no catalogue: English
    assert "Solo entiendo comandos" in shown(say(engine, "hola", language_code="es"))


def test_the_language_command_is_remembered_for_the_chat_until_auto(engine):
    assert "désormais en français" in shown(say(engine, "/language fr", language_code="es"))
    assert store.get_chat_language(engine, CHAT) == "fr"
    assert "Suivi de Shell" in shown(say(engine, "/track Shell", language_code="es"))
    assert "Ce chat suit 1 entreprise" in shown(say(engine, "/list"))
    unknown = shown(say(engine, "/language xx"))
    assert "Pas encore de traduction pour « xx »" in unknown and "es" in unknown and "fr" in unknown
    assert "Les réponses sont en français" in shown(say(engine, "/language"))
    say(engine, "/language auto")
    assert store.get_chat_language(engine, CHAT) is None
    assert "Este chat sigue 1 empresa" in shown(say(engine, "/list", language_code="es"))
    assert "/language" in shown(say(engine, "/start"))


async def test_a_polled_command_is_answered_in_the_users_telegram_language(engine, api):
    api.add_update(CHAT, "/start", language_code="es")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, CATALOGUE, timeout=0)

    (reply,) = api.texts(CHAT)
    assert "Este bot envía una alerta inmediata" in reply
