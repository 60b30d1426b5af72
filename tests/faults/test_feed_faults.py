"""Hostile and broken feed servers through `bhrdigest fetch`, several in one run: each is
refused with its reason, the good feed beside them is stored, nothing crashes.

Unit-level twins, with short timeouts, live in tests/test_fetch.py (gzip bomb, oversized
bodies, trickling server, redirect loop, Retry-After) and tests/test_parse.py (encodings).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from faultkit import (
    SAMPLE,
    SOAK,
    Bhr,
    assert_no_traceback,
    news_item,
    rss,
    subscribers_yaml,
    write_config,
)
from feedserver import FeedServer, Route, redirect
from hostile_http import HUNDRED_MB, HostileServer

_FAILED = re.compile(r"^failed: (\S+): (.*)$", re.MULTILINE)


def fetch_all(tmp_path, urls: list[str], *args: str) -> tuple[Bhr, object, dict[str, str]]:
    config = write_config(tmp_path, feeds=urls, subscribers=subscribers_yaml(1))
    bhr = Bhr(tmp_path, config=config)
    ran = bhr.run("-q", "fetch", *args, timeout=300)
    assert_no_traceback(ran)
    return bhr, ran, dict(_FAILED.findall(ran.stderr))


def titles(bhr: Bhr) -> set[str]:
    listed = bhr.invoke("components", "--json")
    assert listed.exit_code == 0, listed.output
    return {json.loads(line)["title"] for line in listed.stdout.splitlines()}


def test_hostile_feed_servers_are_refused_each_with_its_reason_and_the_good_feed_is_stored(tmp_path):
    with FeedServer() as feeds, HostileServer() as hostile:
        good = feeds.route(
            "/good.xml", Route(body=SAMPLE.read_bytes(), headers={"Content-Type": "application/rss+xml"})
        )
        feeds.route("/loop-a", redirect("/loop-b"))
        feeds.route("/loop-b", redirect("/loop-a", 302))
        wanted = {
            hostile.url("/huge"): "body larger than 10 MB",
            hostile.url("/huge-declared"): "body larger than 10 MB",
            hostile.url("/bomb"): "body larger than 10 MB",
            feeds.url("/loop-a"): "redirect loop",
            feeds.route("/limited", Route(status=429, headers={"Retry-After": "3600"})): "asks us to wait",
            feeds.route("/busy", Route(status=503, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})):
                "asks us to wait",
            feeds.route("/html", Route(body=b"<!doctype html><html><body>Log in</body></html>")): "HTML page",
            feeds.route("/empty", Route(body=b"")): "empty body",
        }
        if SOAK:  # the CLI's overall deadline is 70 s; tests/test_fetch.py proves it with a short one
            wanted[hostile.url("/trickle")] = "took longer than"
        bhr, ran, failed = fetch_all(tmp_path, [good, *wanted])
        streamed = hostile.sent("/huge")
        report = bhr.status()
    assert ran.returncode == 3, ran.describe()
    assert f"failed={len(wanted)}" in ran.stdout and "new=5" in ran.stdout, ran.describe()
    for url, reason in wanted.items():
        assert reason in failed.get(url, ""), f"{url}: {failed.get(url)!r}"
    assert streamed < 2 * 10_000_000 < HUNDRED_MB, "the 100 MB body was read far beyond the cap"
    health = {feed["url"]: feed for feed in report["feeds"]}
    assert health[good]["health"] == "ok" and health[good]["components"] == 5
    waited = datetime.fromisoformat(str(health[feeds.url("/limited")]["next_check_at"]))
    assert waited.replace(tzinfo=waited.tzinfo or UTC) > datetime.now(UTC) + timedelta(minutes=55)


def test_a_feed_asking_to_wait_is_not_fetched_again_until_then_unless_forced(tmp_path):
    with FeedServer() as feeds:
        url = feeds.route("/limited", Route(status=429, headers={"Retry-After": "7200"}),
                          Route(body=rss([news_item("back", "Back again")])))
        bhr, first, _ = fetch_all(tmp_path, [url])
        second = bhr.run("-q", "fetch")
        asked_after_second = len(feeds.requests("/limited"))
        forced = bhr.run("-q", "fetch", "--force")
    assert first.returncode == 3
    assert second.returncode == 0 and "skipped=1" in second.stdout, second.describe()
    assert asked_after_second == 1, "the server was asked again before Retry-After"
    assert forced.returncode == 0 and "new=1" in forced.stdout, forced.describe()


def test_a_feed_that_vanishes_404_then_410_and_returns_is_reported_broken_then_recovered(tmp_path):
    first = rss([news_item("one", "First story")])
    back = rss([news_item("one", "First story"), news_item("two", "Second story")])
    with FeedServer() as feeds:
        url = feeds.route("/feed.xml", Route(body=first), Route(status=404), Route(status=410), Route(body=back))
        bhr, ok, _ = fetch_all(tmp_path, [url])
        gone = bhr.run("-q", "fetch", "--force")
        broken = bhr.status()["feeds"][0]
        still = bhr.run("-q", "fetch", "--force")
        returned = bhr.run("fetch", "--force")
        healed = bhr.status()["feeds"][0]
    assert ok.returncode == 0 and "new=1" in ok.stdout
    assert gone.returncode == 3 and "404" in gone.stderr and "moved or been removed" in gone.stderr
    assert broken["health"] == "broken" and "404" in broken["last_error"]
    assert still.returncode == 3 and "410" in still.stderr
    assert returned.returncode == 0 and "new=1" in returned.stdout, returned.describe()
    assert "recovered after 2 failures" in returned.stderr
    assert healed["health"] == "ok" and healed["errors"] == 0
    assert titles(bhr) == {"First story", "Second story"}  # nothing lost, nothing twice


ENCODED = "Nestlé, São Paulo: “quoted” — ok"


@pytest.mark.parametrize(("encoding", "declared", "header"), [
    ("iso-8859-1", True, None),
    ("windows-1252", False, None),  # undeclared: feedparser's fallbacks must find it
    ("utf-16", True, None),
    ("utf-8", False, "text/xml"),  # undeclared UTF-8 behind a charset-less text/xml
    ("koi8-r", False, "application/rss+xml; charset=koi8-r"),  # declared by HTTP only
    ("shift_jis", True, "application/rss+xml; charset=ISO-8859-1"),  # a stale header, a right prolog
])
def test_non_utf8_feeds_declared_or_not_arrive_with_their_titles_intact(encoding, declared, header, tmp_path):
    text = {"koi8-r": "Правозащитники: Газпром ответил", "shift_jis": "人権と企業：東京電力の回答"}.get(
        encoding, ENCODED
    )
    if encoding == "iso-8859-1":
        text = "Nestlé, São Paulo: «quoted» ok"
    body = rss([news_item("enc", text)], encoding=encoding, declare=declared)
    headers = {"Content-Type": header} if header else {}
    with FeedServer() as feeds:
        url = feeds.route("/feed.xml", Route(body=body, headers=headers))
        bhr, ran, _ = fetch_all(tmp_path, [url])
    assert ran.returncode == 0, ran.describe()
    assert titles(bhr) == {text}
