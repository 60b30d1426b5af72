"""Opaque subscriber tokens on the web (issue 16), over real HTTP (uvicorn on loopback), on
SQLite and PostgreSQL: a token names an address id and the page reads it back to the
address; links of earlier releases, which carried the address, work until
LEGACY_TOKENS_UNTIL and get the plain 404 after it; the links the pages make carry no
address; neither token nor address reaches the request log or the error log."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from legacy_tokens import legacy_token
from webpages import forms
from webserver import FakeClock, LiveServer

from bhrdigest.config.load import load_config
from bhrdigest.signing import LEGACY_TOKENS_UNTIL, make_preferences_token, make_token
from bhrdigest.store import subscribers as store
from bhrdigest.store.addresses import address_ids
from bhrdigest.web import server
from bhrdigest.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
SECRET = "web-tokens-secret-0123456789abcdef0123456789"
LIST_ID = "weekly.bhrdigest.example.org"
ALEX = "alex@example.org"
CONFIG = f"""
sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  preferences_url: "https://digest.example.org/p/{{token}}"
  list_id: {LIST_ID}
feeds:
  - url: {ROOT / "samples" / "latest-news-en.xml"}
subscribers:
  - email: {ALEX}
    name: Alex
    topics: [Technology & human rights]
  - email: kim@example.org
    topics: [Technology & human rights]
"""
_END = datetime.combine(LEGACY_TOKENS_UNTIL + timedelta(days=1), datetime.min.time(), tzinfo=UTC).timestamp()
LAST_SECOND, FIRST_SECOND_AFTER = _END - 1, _END  # of the day old links still work; of the day after


@dataclass
class Site:
    client: httpx.Client
    engine: sa.Engine
    wall: FakeClock

    def id_of(self, email: str) -> int:
        return address_ids(self.engine, [email])[email]

    def new(self, kind: str, email: str = ALEX) -> str:
        make = make_token if kind == "u" else make_preferences_token
        return f"/{kind}/{make(SECRET, self.id_of(email), LIST_ID)}"

    def old(self, kind: str, email: str = ALEX) -> str:
        return f"/{kind}/{legacy_token(SECRET, email, LIST_ID, kind)}"


@pytest.fixture
def site(engine, tmp_path):
    (tmp_path / "subscriptions.yaml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "subscriptions.yaml")
    wall = FakeClock(time.time())
    app = create_app(config, engine, SECRET, clock=FakeClock(), wall_clock=wall)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(LiveServer().serve(app))
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        yield Site(client, engine, wall)


def links(html: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]*)"', html)


def assert_no_address(urls: list[str], email: str = ALEX) -> None:
    spelled = base64.urlsafe_b64encode(email.encode()).rstrip(b"=").decode()
    for url in urls:
        assert email not in url and "%40" not in url and spelled[:8] not in url, url


def test_a_token_is_read_back_to_the_address_its_id_names(site):
    page = site.client.get(site.new("p"))
    assert page.status_code == 200 and ALEX in page.text  # the reader sees whose choices these are
    assert site.client.post(site.new("u"), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert store.get_suppression(site.engine, ALEX).reason == "one-click"
    assert store.get_suppression(site.engine, "kim@example.org") is None


def test_a_genuine_token_for_an_id_without_an_address_is_the_plain_not_found(site):
    unknown = site.client.get("/no-such-page")
    site.id_of(ALEX)
    nobody = max(site.id_of(ALEX), site.id_of("kim@example.org")) + 1000
    for path in (f"/u/{make_token(SECRET, nobody, LIST_ID)}", f"/p/{make_preferences_token(SECRET, nobody, LIST_ID)}"):
        for method in ("GET", "POST"):
            response = site.client.request(method, path, data={"List-Unsubscribe": "One-Click"})
            assert (response.status_code, response.text) == (404, unknown.text), (method, path)
    assert store.load_suppressions(site.engine) == {}


def test_links_already_sent_work_until_the_documented_day(site):
    site.wall.now = LAST_SECOND
    page = site.client.get(site.old("p"))
    assert page.status_code == 200 and ALEX in page.text
    assert site.client.post(site.old("u"), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert store.get_suppression(site.engine, ALEX).reason == "one-click"


def test_links_already_sent_are_refused_like_a_forged_token_after_the_documented_day(site):
    unknown = site.client.get("/no-such-page")
    site.wall.now = FIRST_SECOND_AFTER
    for method, path in (("GET", site.old("p")), ("GET", site.old("u")), ("POST", site.old("u"))):
        response = site.client.request(method, path, data={"List-Unsubscribe": "One-Click"})
        assert (response.status_code, response.text) == (404, unknown.text), (method, path)
    assert store.load_suppressions(site.engine) == {}
    assert site.client.get(site.new("p")).status_code == 200  # the current links go on working


def test_pages_opened_by_an_old_link_link_on_with_new_tokens_only(site):
    unsubscribe = site.client.get(site.old("u"))
    preferences = site.client.get(site.old("p"))
    assert unsubscribe.status_code == preferences.status_code == 200
    assert f"https://digest.example.org{site.new('p')}" in links(unsubscribe.text)
    assert f"https://digest.example.org{site.new('u')}" in links(preferences.text)
    done = site.client.post(site.old("u"), data=forms(unsubscribe.text)[0].submission())
    assert f"https://digest.example.org{site.new('p')}" in links(done.text)
    expired = site.client.post(site.old("p"), data={"action": "pause", "csrf": "1.bad"})
    assert expired.status_code == 403
    assert site.new("p").rsplit("/", 1)[1] in links(expired.text)  # "open your preferences again"
    for page in (unsubscribe, preferences, done, expired):
        assert_no_address(links(page.text))


def test_neither_token_nor_address_reaches_the_request_log_or_the_error_log(site, caplog):
    caplog.set_level(logging.DEBUG)
    server._QUIET._seen.clear()  # an error logged by an earlier test would hold this one back for a minute
    paths = [site.new("u"), site.new("p"), site.old("u"), site.old("p")]
    for path in paths:
        assert site.client.get(path).status_code == 200
    with site.engine.begin() as conn:  # the database fails under the pages: an error is logged
        conn.execute(sa.text("DROP TABLE suppressions"))
    close = {"Connection": "close"}  # after a 500 the server drops the connection
    for path in paths:
        assert site.client.get(path, headers=close).status_code == 500
    assert site.client.post(paths[0], data={"List-Unsubscribe": "One-Click"}, headers=close).status_code == 500
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the client's
    logged = "\n".join(logging.Formatter("%(name)s %(message)s").format(record) for record in server_side)
    assert "GET /u/{token} 200" in logged and "GET /p/{token} 500" in logged
    assert "Traceback" in logged and ("no such table" in logged or "does not exist" in logged)  # the error log
    for path in paths:
        token = path.rsplit("/", 1)[1]
        assert token not in logged and token.split(".")[1] not in logged
    assert "alex" not in logged
