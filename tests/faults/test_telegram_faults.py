"""Telegram failing, through `bhrdigest alert`: flood waits of hours, blocked bots, an
unreachable Bot API. (Restarts mid-queue: test_crash_worker.py. The sender's own
translation of each error: tests/test_telegram.py and tests/test_worker.py.)
"""

from __future__ import annotations

from botapi import TOKEN, FakeBotAPI
from faultkit import (
    Bhr,
    assert_no_traceback,
    news_item,
    rss,
    subscribers_yaml,
    write_config,
)
from feedserver import FeedServer, Route, closed_port_url

CHATS = range(9100, 9110)


def prepare(tmp_path, server: FeedServer, api_url: str) -> Bhr:
    """Ten chats tracking Cellebrite, each with two alerts queued."""
    url = server.route("/feed.xml", Route(body=rss([news_item("old", "Old news")])),
                       Route(body=rss([news_item("old", "Old news"), news_item("c1", "Cellebrite one"),
                                       news_item("c2", "Cellebrite two")])))
    config = write_config(tmp_path, feeds=[url], subscribers=subscribers_yaml(len(CHATS), telegram_from=CHATS[0]))
    bhr = Bhr(tmp_path, config=config, env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url})
    bhr.run("-q", "fetch")
    queued = bhr.run("-q", "fetch")
    assert f"alerts_queued={2 * len(CHATS)}" in queued.stdout, queued.describe()
    return bhr


def per_chat(api: FakeBotAPI) -> dict[int, int]:
    return {chat: len(api.texts(chat)) for chat in CHATS}


def test_a_flood_wait_of_hours_holds_only_that_chat_and_the_command_returns_at_once(tmp_path):
    flooded = CHATS[3]
    with FeedServer() as server, FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        bhr = prepare(tmp_path, server, api.url)
        api.fail_next(flooded, 429, "Too Many Requests: retry after 7200", retry_after=7200)
        first = bhr.run("-q", "alert", timeout=60)  # a 2-hour sleep would hit the timeout
        asked = sum(1 for method, chat, *_ in api.refusals if chat == flooded)
        second = bhr.run("-q", "alert", timeout=60)
        asked_again = sum(1 for method, chat, *_ in api.refusals if chat == flooded) + len(api.texts(flooded))
        status = bhr.status()["alerts"]
        got = per_chat(api)
    assert first.returncode == 0 and "pending=2" in first.stdout, first.describe()
    assert got == {chat: 0 if chat == flooded else 1 for chat in CHATS}
    assert asked == 1 and asked_again == 1, "the flooded chat was asked again before its retry_after"
    assert second.returncode == 0 and "sent=0" in second.stdout
    assert status == {"sent": 18, "pending": 2}, status


def test_a_chat_that_blocked_the_bot_is_marked_gone_once_and_never_asked_again(tmp_path):
    blocked = CHATS[5]
    with FeedServer() as server, FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        bhr = prepare(tmp_path, server, api.url)
        api.blocked.add(blocked)
        first = bhr.run("-q", "alert")
        second = bhr.run("-q", "alert")
        refusals = [r for r in api.refusals if r[1] == blocked]
        got = per_chat(api)
        status = bhr.status()["alerts"]
    assert first.returncode == 3 and "gone=1" in first.stdout, first.describe()
    assert second.returncode == 0, second.describe()
    assert len(refusals) == 1 and refusals[0][2] == 403
    assert got == {chat: 0 if chat == blocked else 1 for chat in CHATS}
    assert status == {"sent": 18, "gone": 2}, status


def test_an_unreachable_bot_api_is_a_clear_error_and_loses_no_alert(tmp_path):
    with FeedServer() as server, FakeBotAPI(per_chat_interval=0, global_per_second=10_000) as api:
        bhr = prepare(tmp_path, server, closed_port_url(""))
        down = bhr.run("-q", "alert")
        during = bhr.status()["alerts"]
        back = bhr.run("-q", "alert", env={"TELEGRAM_API_URL": api.url})
        again = bhr.run("-q", "alert", env={"TELEGRAM_API_URL": api.url})
        got = per_chat(api)
    assert_no_traceback(down)
    assert down.returncode == 1 and "cannot reach the Bot API" in down.stderr, down.describe()
    assert TOKEN not in down.output
    assert during == {"pending": 20}, during
    assert back.returncode == 0 and again.returncode == 0 and "sent=0" in again.stdout
    assert got == dict.fromkeys(CHATS, 1)
