"""Linking a Telegram chat to an email subscription: only through the signed, expiring deep
link of the subscriber's preferences page (issue 16). The bot is driven by the real
python-telegram-bot client against tests/botapi.py; the page is served by real uvicorn."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
from botapi import TOKEN, FakeBotAPI, parse_html, store_component
from click.testing import CliRunner
from webpages import forms
from webserver import FakeClock, LiveServer

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.config.preferences import Choices
from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.signing import (
    TELEGRAM_LINK_MAX_AGE,
    make_preferences_token,
    make_telegram_link,
    make_token,
    read_telegram_link,
)
from bhrdigest.store import alert_queue
from bhrdigest.store import telegram_links as links_store
from bhrdigest.store.addresses import address_ids
from bhrdigest.store.bot_api import bot_username, record_username
from bhrdigest.store.db import connect
from bhrdigest.store.subscribers import save_preferences
from bhrdigest.telegram.bot import handle_command, poll_bot_once
from bhrdigest.telegram.client import Pacing, TelegramSender
from bhrdigest.telegram.deliver import run_alerts_once
from bhrdigest.telegram.health import BotApiLink
from bhrdigest.telegram.linking import ChatLinker
from bhrdigest.web.app import Limits, create_app

ROOT = Path(__file__).resolve().parents[1]
SECRET = "link-test-secret-0123456789abcdef0123456789"
LIST_ID = "weekly.bhrdigest.example.org"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CHAT, OTHER_CHAT, GROUP = 4242, 5151, -100777
FAST = Pacing(per_chat_interval=0.02, global_per_second=0.0, group_per_minute=0)
CONFIG = f"""
sender:
  from: "Resource Centre <updates@example.org>"
  list_id: {LIST_ID}
feeds:
  - url: {ROOT / "samples" / "latest-news-en.xml"}
companies:
  HSBC:
    aliases: [HSBC Holdings]
  Shell: {{}}
  Cellebrite: {{}}
subscribers:
  - email: alex@example.org
    companies: [HSBC, Shell]
  - email: rosa@example.org
    languages: [es]
    companies: [Shell]
  - email: staff-set@example.org
    companies: [Cellebrite]
    telegram: 999
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "subscriptions.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def linker(config) -> ChatLinker:
    return ChatLinker.of(SECRET, LIST_ID, config.subscribers, Choices(config.catalogue))


@pytest.fixture
def directory(config) -> CompanyIndex:
    return CompanyIndex(config.catalogue.companies)


@pytest.fixture
def api():
    with FakeBotAPI(per_chat_interval=0.01) as running:
        yield running


def token_for(engine, email: str, *, now: datetime = NOW, secret: str = SECRET, list_id: str = LIST_ID) -> str:
    address_id = address_ids(engine, [email])[email]
    return make_telegram_link(secret, address_id, list_id, now=now.timestamp())


def say(engine, text, linker, directory, chat_id=CHAT, *, now=NOW, language_code=None):
    reply = handle_command(text, chat_id, engine=engine, companies=directory, now=now, bot_username="bhr_test_bot",
                           language_code=language_code, links=linker)
    assert reply is not None
    return parse_html(reply).text  # every reply is valid Telegram HTML


def followed(engine, chat_id=CHAT):
    return alert_queue.chat_state(engine, chat_id).companies


# --- the token ----------------------------------------------------------------------------


def test_a_link_token_fits_telegrams_start_payload_and_carries_no_address():
    token = make_telegram_link(SECRET, 2**31 - 1, LIST_ID, now=NOW.timestamp())

    assert len(token) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    claim = read_telegram_link(SECRET, token, LIST_ID)
    assert claim is not None and claim.address_id == 2**31 - 1
    assert not claim.expired(NOW.timestamp() + TELEGRAM_LINK_MAX_AGE - 1)
    assert claim.expired(NOW.timestamp() + TELEGRAM_LINK_MAX_AGE + 3600)


def test_a_changed_token_or_one_made_for_another_use_or_list_is_not_genuine():
    token = make_telegram_link(SECRET, 7, LIST_ID, now=NOW.timestamp())
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = make_telegram_link(SECRET, 8, LIST_ID, now=NOW.timestamp())
    spliced = other_id[:8] + token[8:]  # another subscriber's id under this token's MAC

    for forged in (changed, spliced, token[:-2], token + "A", "", "hello", make_token(SECRET, 7, LIST_ID),
                   make_preferences_token(SECRET, 7, LIST_ID)):
        assert read_telegram_link(SECRET, forged, LIST_ID) is None, forged
    assert read_telegram_link(SECRET, token, "another.list.example.org") is None
    assert read_telegram_link("another-secret-0123456789abcdef", token, LIST_ID) is None


# --- the bot ------------------------------------------------------------------------------


async def test_the_link_brings_the_subscribers_companies_alerts_to_the_chat(engine, api, linker, directory):
    api.add_update(CHAT, f"/start {token_for(engine, 'alex@example.org')}")

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, directory, timeout=0, clock=lambda: NOW, links=linker)
        (reply,) = api.texts(CHAT)
        store_component(engine, "hsbc-news", companies=("HSBC",), first_seen_at=NOW + timedelta(minutes=5),
                        title="HSBC responds to allegations")
        store_component(engine, "cellebrite-news", companies=("Cellebrite",), first_seen_at=NOW + timedelta(minutes=5))
        alert_queue.queue_alerts(engine, ["hsbc-news", "cellebrite-news"], now=NOW + timedelta(minutes=5))
        await run_alerts_once(engine, sender, now=NOW + timedelta(minutes=6))

    assert "linked to the email subscription of a***@example.org" in reply
    assert "alex@example.org" not in reply  # a group's members are not told the address
    assert "• HSBC" in reply and "• Shell" in reply
    assert followed(engine) == (("HSBC", "link"), ("Shell", "link"))
    texts = api.texts(CHAT)
    assert len(texts) == 2 and "HSBC responds to allegations" in texts[1]
    assert all("Component cellebrite-news" not in text for text in texts)  # not a company alex follows


@pytest.mark.parametrize("kind", ["changed", "expired", "preferences token", "another list", "typed text"])
def test_a_bad_changed_or_expired_link_is_explained_and_changes_nothing(engine, linker, directory, kind):
    good = token_for(engine, "alex@example.org")
    token = {
        "changed": good[:10] + ("x" if good[10] != "x" else "y") + good[11:],
        "expired": token_for(engine, "alex@example.org", now=NOW - timedelta(days=8)),
        "preferences token": make_preferences_token(SECRET, address_ids(engine, ["alex@example.org"])[
            "alex@example.org"], LIST_ID),
        "another list": token_for(engine, "alex@example.org", list_id="other.example.org"),
        "typed text": "alex@example.org",
    }[kind]

    reply = say(engine, f"/start {token}", linker, directory)

    assert ("has expired" if kind == "expired" else "is not valid") in reply
    assert "Nothing was changed" in reply
    assert links_store.links(engine) == [] and followed(engine) == ()
    assert alert_queue.chat_state(engine, CHAT).status is None


async def test_in_a_group_only_an_administrator_links_it(engine, api, linker, directory):
    api.member_status[(GROUP, 7)] = "administrator"
    token = token_for(engine, "alex@example.org")
    api.add_update(GROUP, f"/start@bhr_test_bot {token}", chat_type="supergroup", user_id=9)

    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        await poll_bot_once(engine, sender, directory, timeout=0, clock=lambda: NOW, links=linker)
        refused = api.texts(GROUP)
        assert links_store.links(engine) == [] and followed(engine, GROUP) == ()
        api.add_update(GROUP, f"/start@bhr_test_bot {token}", chat_type="supergroup", user_id=7)
        await poll_bot_once(engine, sender, directory, timeout=0, clock=lambda: NOW, links=linker)

    assert len(refused) == 1 and "Only this group's administrators" in refused[0]
    assert "linked to the email subscription" in api.texts(GROUP)[-1]
    assert [link.chat_id for link in links_store.links(engine)] == [GROUP]
    assert followed(engine, GROUP) == (("HSBC", "link"), ("Shell", "link"))


def test_the_same_link_from_another_chat_moves_the_alerts_there(engine, linker, directory):
    token = token_for(engine, "alex@example.org")
    say(engine, "/track Cellebrite", linker, directory)
    say(engine, f"/start {token}", linker, directory)

    reply = say(engine, f"/start {token}", linker, directory, chat_id=OTHER_CHAT)

    assert "linked to another chat before" in reply
    assert followed(engine, OTHER_CHAT) == (("HSBC", "link"), ("Shell", "link"))
    assert followed(engine, CHAT) == (("Cellebrite", "bot"),)  # what the first chat tracked itself stays


def test_unlink_and_stop_undo_the_link_and_untrack_points_to_the_preferences(engine, linker, directory):
    say(engine, "/track Cellebrite", linker, directory)
    say(engine, f"/start {token_for(engine, 'alex@example.org')}", linker, directory)

    assert "from the linked email subscription" in say(engine, "/list", linker, directory)
    assert "preferences page" in say(engine, "/untrack Shell", linker, directory)
    assert ("Shell", "link") in followed(engine)
    assert "no longer linked" in say(engine, "/unlink", linker, directory)
    assert followed(engine) == (("Cellebrite", "bot"),) and links_store.links(engine) == []
    assert "is not linked" in say(engine, "/unlink", linker, directory)

    say(engine, f"/start {token_for(engine, 'alex@example.org')}", linker, directory)
    assert "no longer linked to an email subscription" in say(engine, "/stop", linker, directory)
    assert links_store.links(engine) == [] and followed(engine) == ()


def test_a_subscription_whose_chat_staff_set_cannot_be_linked(engine, linker, directory):
    reply = say(engine, f"/start {token_for(engine, 'staff-set@example.org')}", linker, directory)

    assert "Resource Centre has set up a Telegram chat" in reply and "Nothing was changed" in reply
    assert links_store.links(engine) == [] and followed(engine) == ()


def test_the_reply_speaks_the_subscribers_language_unless_the_chat_chose_one(engine, linker, directory):
    reply = say(engine, f"/start {token_for(engine, 'rosa@example.org')}", linker, directory, language_code="fr")
    assert "Este chat está ahora vinculado a la suscripción por correo de r***@example.org" in reply

    say(engine, "/language fr", linker, directory, chat_id=OTHER_CHAT)
    moved = say(engine, f"/start {token_for(engine, 'rosa@example.org')}", linker, directory, chat_id=OTHER_CHAT)
    assert "Ce chat est désormais lié" in moved


def test_without_the_secret_a_link_is_answered_and_nothing_changes(engine, directory):
    reply = say(engine, f"/start {token_for(engine, 'alex@example.org')}", None, directory)

    assert "does not work here yet" in reply and followed(engine) == ()


async def test_the_worker_records_the_bot_username_for_the_web(engine, api):
    assert bot_username(engine) is None
    async with TelegramSender(TOKEN, api.url, pacing=FAST) as sender:
        assert await BotApiLink(engine, sender, lambda: NOW).ready()

    assert bot_username(engine) == "bhr_test_bot"


# --- the preferences page, over real HTTP -------------------------------------------------


@pytest.fixture
def site(engine, config):
    with contextlib.ExitStack() as stack:
        wall = FakeClock(time.time())
        app = create_app(config, engine, SECRET, limits=Limits(), clock=FakeClock(), wall_clock=wall)
        server = stack.enter_context(LiveServer().serve(app))
        yield stack.enter_context(httpx.Client(base_url=server.url, timeout=10))


def page_path(engine, email: str) -> str:
    return f"/p/{make_preferences_token(SECRET, address_ids(engine, [email])[email], LIST_ID)}"


def deep_link(page: str) -> str | None:
    found = re.search(r'href="(https://t\.me/[^"]+)"', page)
    return unescape(found.group(1)) if found else None


def test_the_page_offers_the_deep_link_once_a_worker_knows_the_bot(engine, site, linker, directory):
    assert deep_link(site.get(page_path(engine, "alex@example.org")).text) is None  # no bot would answer yet
    record_username(engine, "bhr_test_bot")

    page = site.get(page_path(engine, "alex@example.org")).text
    link = deep_link(page)
    assert link is not None and link.startswith("https://t.me/bhr_test_bot?start=")
    assert "startgroup=" in page and "alex" not in link
    token = link.split("start=", 1)[1]
    reply = say(engine, f"/start {token}", linker, directory, now=datetime.now(UTC))

    assert "a***@example.org" in reply
    assert followed(engine) == (("HSBC", "link"), ("Shell", "link"))
    assert "has been linked to your subscription since" in site.get(page_path(engine, "alex@example.org")).text


def test_a_staff_set_chat_is_named_instead_of_a_link(engine, site):
    record_username(engine, "bhr_test_bot")
    page = site.get(page_path(engine, "staff-set@example.org")).text

    assert "the Telegram chat the Resource Centre set up for you" in page and deep_link(page) is None


def test_changing_preferences_on_the_page_changes_the_linked_chats_alerts(engine, site, linker, directory):
    say(engine, f"/start {token_for(engine, 'alex@example.org', now=datetime.now(UTC))}", linker, directory,
        now=datetime.now(UTC))
    choices = forms(site.get(page_path(engine, "alex@example.org")).text)[1]

    saved = site.post(page_path(engine, "alex@example.org"),
                      data=choices.submission("save", company=["Shell"], add_companies="Cellebrite"))

    assert saved.status_code == 303
    assert followed(engine) == (("Cellebrite", "link"), ("Shell", "link"))


def test_a_staff_edit_or_import_reaches_the_linked_chat_at_the_next_sync(engine, config, linker, directory):
    say(engine, f"/start {token_for(engine, 'alex@example.org')}", linker, directory)
    save_preferences(engine, "alex@example.org", companies=("Cellebrite",), places=None, topics=None,
                     languages=None, now=NOW)  # saved by another process: no resync of its own

    links_store.sync_all_links(engine, config.subscribers, Choices(config.catalogue), NOW + timedelta(hours=1))

    assert followed(engine) == (("Cellebrite", "link"),)


# --- bhrdigest subscribers ---------------------------------------------------------------


def test_subscribers_shows_the_linked_chat(engine, database_url, config, linker, directory, tmp_path):
    say(engine, f"/start {token_for(engine, 'alex@example.org')}", linker, directory)
    env = {"BHRDIGEST_CONFIG": str(tmp_path / "subscriptions.yaml"), "DATABASE_URL": database_url}

    text = CliRunner().invoke(main, ["subscribers"], env=env, catch_exceptions=False).output
    lines = CliRunner().invoke(main, ["subscribers", "--json"], env=env, catch_exceptions=False).output

    assert f"[Telegram chat {CHAT}, linked by the subscriber]" in text
    assert "[Telegram chat 999]" in text
    by_email = {line["email"]: line for line in map(json.loads, lines.splitlines())}
    assert (by_email["alex@example.org"]["telegram"], by_email["alex@example.org"]["telegram_source"]) == (CHAT, "link")
    assert by_email["staff-set@example.org"]["telegram_source"] == "yaml"
    assert by_email["rosa@example.org"]["telegram"] is None


# --- the worker, as `bhrdigest worker` runs it ---------------------------------------------


def test_the_worker_links_a_chat_with_the_secret_it_shares_with_the_web(tmp_path):
    config = tmp_path / "subscriptions.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    database = f"sqlite:///{tmp_path / 'worker.db'}"
    env = os.environ | {"BHRDIGEST_CONFIG": str(config), "DATABASE_URL": database, "TELEGRAM_BOT_TOKEN": TOKEN,
                        "BHRDIGEST_SECRET": SECRET}
    env.pop("DYNO", None)
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    engine = connect(database)
    with FakeBotAPI() as api:
        api.add_update(CHAT, f"/start {token_for(engine, 'alex@example.org', now=datetime.now(UTC))}")
        child = subprocess.Popen([sys.executable, "-m", "bhrdigest", "worker", "--interval", "1"],
                                 env=env | {"TELEGRAM_API_URL": api.url}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not api.texts(CHAT) and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.1)
            child.send_signal(signal.SIGTERM)
            _, stderr = child.communicate(timeout=20)
        finally:
            if child.poll() is None:
                child.kill()
        texts = api.texts(CHAT)
    assert child.returncode == 0, stderr
    assert texts and "linked to the email subscription of a***@example.org" in texts[0]
    assert SECRET not in stderr and "alex@example.org" not in stderr
    assert followed(engine) == (("HSBC", "link"), ("Shell", "link"))
    assert bot_username(engine) == "bhr_test_bot"  # what the web links to
    engine.dispose()
