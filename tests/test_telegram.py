"""The Telegram sender: real python-telegram-bot against our Bot API on loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest
from botapi import TOKEN, FakeBotAPI, ManualClock

from bhrdigest.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from bhrdigest.telegram.client import (
    ChatGoneError,
    MessageRejectedError,
    Pacer,
    Pacing,
    TelegramSender,
)

FAST = Pacing(per_chat_interval=0.0, global_per_second=0.0, group_per_minute=0)


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as running:
        yield running


async def test_message_reaches_the_chat_as_html(api):
    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        message_id = await sender.send_message(42, "<b>HSBC</b> &amp; partners", disable_preview=True)

    [sent] = api.messages
    assert (sent.chat_id, sent.text, sent.message_id) == (42, "HSBC & partners", message_id)
    assert sent.disable_preview
    assert sender.username == "bhr_test_bot"


async def test_rejected_token_is_a_configuration_error_that_does_not_show_the_token(api):
    sender = TelegramSender("999:wrong-token", api.url, pacing=FAST)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as caught:
        await sender.start()
    await sender.close()

    assert "wrong-token" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_flood_control_429_carries_retry_after(api):
    api.fail_next(42, 429, "Too Many Requests: retry after 7", retry_after=7)

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        with pytest.raises(TransientDeliveryError) as caught:
            await sender.send_message(42, "hello")
        await sender.send_message(42, "hello again")

    assert caught.value.retry_after == 7
    assert api.texts(42) == ["hello again"]


async def test_blocked_bot_403_means_the_chat_is_gone(api):
    api.blocked.add(42)

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        with pytest.raises(ChatGoneError) as caught:
            await sender.send_message(42, "hello")

    assert isinstance(caught.value, PermanentDeliveryError)
    assert caught.value.chat_id == 42
    assert "blocked" in str(caught.value)


async def test_unparseable_html_is_refused_for_that_message_only(api):
    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        with pytest.raises(MessageRejectedError, match="(?i)can't parse entities"):
            await sender.send_message(42, "<script>alert(1)</script>")
        with pytest.raises(MessageRejectedError, match="too long"):
            await sender.send_message(42, "x" * 4097)
        await sender.send_message(42, "x" * 4096)

    assert [len(t) for t in api.texts(42)] == [4096]


async def test_server_error_is_transient(api):
    api.fail_next(42, 500, "Internal Server Error")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        with pytest.raises(TransientDeliveryError) as caught:
            await sender.send_message(42, "hello")

    assert caught.value.retry_after is None


async def test_unreachable_api_is_transient():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = TelegramSender(TOKEN, f"http://127.0.0.1:{port}", pacing=FAST, timeout=2)

    with pytest.raises(TransientDeliveryError, match="cannot reach"):
        await sender.start()
    await sender.close()


async def test_token_never_reaches_the_logs(api, caplog):
    caplog.set_level(logging.DEBUG)

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await sender.send_message(42, "hello")
        await sender.get_updates(None, 0)

    assert "sendMessage" in caplog.text  # httpx did log the request URL…
    assert TOKEN not in caplog.text  # …without the token
    assert TOKEN not in repr(sender)


async def test_commands_reach_the_bot_through_long_polling(api):
    api.add_update(42, "/track HSBC")
    api.add_update(-100, "/list@bhr_test_bot")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        updates = await sender.get_updates(None, 1)
        again = await sender.get_updates(updates[-1].update_id + 1, 0)

    assert [(u.chat_id, u.chat_type, u.text) for u in updates] == [
        (42, "private", "/track HSBC"),
        (-100, "group", "/list@bhr_test_bot"),
    ]
    assert again == []


async def test_paced_sender_stays_inside_the_servers_limits():
    # The server allows one message per 0.05 s per chat; we pace at 0.08 s.
    with FakeBotAPI(per_chat_interval=0.05, global_per_second=1000, group_per_minute=3) as api:
        api.limits.group_window = 0.3
        pacing = Pacing(per_chat_interval=0.08, global_per_second=200, group_per_minute=3, group_window=0.4)
        async with TelegramSender(TOKEN, api.url, pacing=pacing) as sender:
            for i in range(4):
                await sender.send_message(7, f"private {i}")
                await sender.send_message(-5, f"group {i}")

    assert api.refusals == []
    assert len(api.texts(7)) == len(api.texts(-5)) == 4


async def test_unpaced_sender_meets_429_from_the_server():
    clock = ManualClock()
    with FakeBotAPI(clock=clock) as api:
        async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
            await sender.send_message(7, "first")
            with pytest.raises(TransientDeliveryError) as caught:
                await sender.send_message(7, "second, too soon")
            clock.advance(caught.value.retry_after)
            await sender.send_message(7, "second, after waiting")

    assert api.texts(7) == ["first", "second, after waiting"]


def test_pacer_spaces_messages_to_one_chat():
    clock = ManualClock(0)
    pacer = Pacer(Pacing(per_chat_interval=1.0, global_per_second=30), clock=clock)

    assert pacer.reserve(1) == 0
    assert pacer.delay(1) == pytest.approx(1.0)
    assert pacer.delay(2) == pytest.approx(1 / 30)  # another chat only waits for the global spacing
    clock.advance(1.0)
    assert pacer.delay(1) == 0


def test_pacer_keeps_the_global_rate():
    clock = ManualClock(0)
    pacer = Pacer(Pacing(per_chat_interval=1.0, global_per_second=25), clock=clock)

    waits = [pacer.reserve(chat) for chat in range(50)]

    assert waits[-1] == pytest.approx(49 / 25)  # 50 chats take two seconds, not one


def test_pacer_allows_twenty_messages_a_minute_to_a_group():
    clock = ManualClock(0)
    pacer = Pacer(Pacing(per_chat_interval=1.0, global_per_second=30, group_per_minute=20), clock=clock)

    waits = [pacer.reserve(-100) for _ in range(21)]

    assert waits[19] == pytest.approx(19.0)
    assert waits[20] == pytest.approx(60.0)  # the 21st waits for the first to leave the minute
