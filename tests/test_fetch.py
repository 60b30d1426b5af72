"""Fetching feeds from a real loopback HTTP server with real httpx."""

from __future__ import annotations

import email.utils
import gzip
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from feedserver import FeedServer, Route, closed_port_url, redirect

from bhrdigest.ingest.fetch import (
    DEFAULT_USER_AGENT,
    FeedState,
    fetch_feeds,
    next_backoff,
)

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>BHRRC</title></channel></rss>'
LAST_MODIFIED = "Mon, 03 Mar 2025 08:00:00 GMT"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


async def fetch_one(state: FeedState, **options):
    options.setdefault("now", NOW)
    [result] = await fetch_feeds([state], **options)
    return result


async def test_unchanged_feed_is_not_downloaded_again(server):
    url = server.route("/feed.xml", Route(body=RSS, etag='"v1"', last_modified=LAST_MODIFIED))

    first = await fetch_one(FeedState(url))
    second = await fetch_one(first.state)

    assert (first.outcome, first.body, first.http_status) == ("ok", RSS, 200)
    assert (first.state.etag, first.state.last_modified) == ('"v1"', LAST_MODIFIED)
    assert (second.outcome, second.body, second.http_status) == ("not_modified", None, 304)
    assert (second.state.etag, second.state.last_modified) == ('"v1"', LAST_MODIFIED)
    conditional = server.requests("/feed.xml")[1].headers
    assert conditional["if-none-match"] == '"v1"'
    assert conditional["if-modified-since"] == LAST_MODIFIED


async def test_changed_feed_replaces_stored_validators(server):
    url = server.route("/feed.xml", Route(body=RSS))  # the site stopped sending validators
    result = await fetch_one(FeedState(url, etag='"old"', last_modified=LAST_MODIFIED))

    assert result.outcome == "ok"
    assert (result.state.etag, result.state.last_modified) == (None, None)


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_redirect_is_fetched_directly_next_time(server, status):
    old = server.route("/old.xml", redirect("/new.xml", status))
    new = server.route("/new.xml", Route(body=RSS))

    first = await fetch_one(FeedState(old))
    second = await fetch_one(first.state)

    assert (first.outcome, first.body, first.state.fetch_url) == ("ok", RSS, new)
    assert first.state.url == old  # the configured URL stays the feed's identity
    assert second.outcome == "ok"
    assert len(server.requests("/old.xml")) == 1


@pytest.mark.parametrize("status", [302, 307])
async def test_temporary_redirect_is_not_remembered(server, status):
    old = server.route("/old.xml", redirect("/today.xml", status))
    server.route("/today.xml", Route(body=RSS))

    result = await fetch_one(FeedState(old))

    assert (result.outcome, result.body, result.state.fetch_url) == ("ok", RSS, None)


async def test_permanent_then_temporary_redirect_remembers_only_the_permanent_hop(server):
    old = server.route("/old.xml", redirect("/moved.xml", 301))
    moved = server.route("/moved.xml", redirect("/today.xml", 302))
    server.route("/today.xml", Route(body=RSS))

    result = await fetch_one(FeedState(old))

    assert (result.outcome, result.state.fetch_url) == ("ok", moved)


async def test_redirect_loop_fails_with_clear_error(server):
    a = server.route("/a.xml", redirect("/b.xml", 302))
    server.route("/b.xml", redirect("/a.xml", 302))

    result = await fetch_one(FeedState(a))

    assert result.outcome == "failed"
    assert result.error.startswith("redirect loop:")
    assert server.url("/b.xml") in result.error
    assert result.state.fetch_url is None


async def test_forbidden_feed_suggests_setting_the_user_agent(server):
    url = server.route("/feed.xml", Route(status=403))
    result = await fetch_one(FeedState(url))

    assert (result.outcome, result.http_status) == ("failed", 403)
    assert "BHRDIGEST_USER_AGENT" in result.error
    assert result.state.last_error == result.error


@pytest.mark.parametrize("status", [404, 410])
async def test_missing_feed_says_it_may_have_moved(server, status):
    url = server.route("/feed.xml", Route(status=status))
    result = await fetch_one(FeedState(url))

    assert result.outcome == "failed"
    assert "moved or been removed" in result.error


@pytest.mark.parametrize(
    ("status", "retry_after", "wait"),
    [
        (429, "120", timedelta(seconds=120)),
        (503, email.utils.format_datetime(NOW + timedelta(hours=2), usegmt=True), timedelta(hours=2)),
        (429, "9999999", timedelta(hours=24)),  # capped: a typo must not park a feed for months
    ],
)
async def test_retry_after_sets_next_check(server, status, retry_after, wait):
    url = server.route("/feed.xml", Route(status=status, headers={"Retry-After": retry_after}))
    result = await fetch_one(FeedState(url))

    assert result.outcome == "failed"
    assert result.state.next_check_at == NOW + wait
    assert result.state.error_count == 1


async def test_server_errors_back_off_then_recovery_resets(server, caplog):
    caplog.set_level(logging.DEBUG, logger="bhrdigest.ingest.fetch")
    url = server.route("/feed.xml", Route(status=500), Route(status=500), Route(body=RSS))

    first = await fetch_one(FeedState(url))
    later = first.state.next_check_at
    second = await fetch_one(first.state, now=later)
    third = await fetch_one(second.state, now=second.state.next_check_at)

    assert first.state.error_count == 1
    assert later == NOW + next_backoff(1, key=url)
    assert second.state.error_count == 2
    assert second.state.next_check_at == later + next_backoff(2, key=url)
    assert second.state.broken_since == NOW
    assert third.outcome == "ok"
    assert (third.state.error_count, third.state.last_error, third.state.broken_since) == (0, None, None)
    assert third.state.next_check_at is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"feed {url} broke: answered 500: the site has a server error; retrying with back-off",
        f"feed {url} recovered after 2 failures",
    ]


async def test_gzip_body_is_decoded(server):
    url = server.route("/feed.xml", Route(body=RSS, gzip=True))
    result = await fetch_one(FeedState(url))

    assert (result.outcome, result.body) == ("ok", RSS)
    assert "gzip" in server.requests("/feed.xml")[0].headers["accept-encoding"]


async def test_gzip_bomb_is_refused(server):
    bomb = gzip.compress(b"\0" * 20_000_000)
    assert len(bomb) < 1_000_000  # small on the wire: only counting decoded bytes catches it
    url = server.route("/feed.xml", Route(body=bomb, headers={"Content-Encoding": "gzip"}))

    result = await fetch_one(FeedState(url), max_bytes=1_000_000)

    assert result.outcome == "failed"
    assert result.error.startswith("body larger than 1 MB")


async def test_oversized_content_length_is_refused_without_reading(server):
    # The body never ends: reading it would time out instead of being refused.
    url = server.route("/feed.xml", Route(headers={"Content-Length": "50000000"}, trickle=0.05, forever=True))
    result = await fetch_one(FeedState(url), max_bytes=1_000_000, read_timeout=5)

    assert result.outcome == "failed"
    assert result.error.startswith("body larger than 1 MB")


async def test_oversized_chunked_body_is_refused_while_streaming(server):
    url = server.route("/feed.xml", Route(body=b"x" * 5000, chunked=True))
    result = await fetch_one(FeedState(url), max_bytes=1000)

    assert result.outcome == "failed"
    assert result.error.startswith("body larger than 1000 bytes")


async def test_chunked_body_under_the_cap_is_read(server):
    url = server.route("/feed.xml", Route(body=RSS, chunked=True))
    result = await fetch_one(FeedState(url))

    assert (result.outcome, result.body) == ("ok", RSS)


async def test_trickling_server_fails_within_the_overall_deadline(server):
    url = server.route("/feed.xml", Route(body=RSS, trickle=0.05, forever=True))
    result = await fetch_one(FeedState(url), connect_timeout=0.2, read_timeout=0.3)

    assert result.outcome == "failed"
    assert "took longer than 0.8s in total" in result.error
    assert result.state.next_check_at is not None


async def test_refused_connection_fails_only_that_feed(server):
    dead = closed_port_url()
    alive = server.route("/feed.xml", Route(body=RSS))

    refused, ok = await fetch_feeds([FeedState(dead), FeedState(alive)], now=NOW)

    assert refused.outcome == "failed"
    assert "refused" in refused.error
    assert refused.state.error_count == 1
    assert ok.outcome == "ok"


async def test_user_agent_is_descriptive_and_overridable(server):
    url = server.route("/feed.xml", Route(body=RSS))

    await fetch_one(FeedState(url))
    await fetch_one(FeedState(url), user_agent="MyOrg feed reader (ops@example.org)")

    agents = [r.headers["user-agent"] for r in server.requests("/feed.xml")]
    assert agents == [DEFAULT_USER_AGENT, "MyOrg feed reader (ops@example.org)"]
    assert DEFAULT_USER_AGENT.startswith("bhrdigest/")


@pytest.mark.parametrize(("per_host", "total", "bound"), [(2, 16, 2), (10, 3, 3)])
async def test_concurrency_is_bounded(server, per_host, total, bound):
    states = [FeedState(server.route(f"/feed{i}.xml", Route(body=RSS, delay=0.15))) for i in range(7)]

    results = await fetch_feeds(states, now=NOW, per_host=per_host, total=total)

    assert [r.outcome for r in results] == ["ok"] * 7
    assert [r.url for r in results] == [s.url for s in states]
    assert server.max_concurrent == bound


async def test_local_file_is_read_by_path_and_file_url(tmp_path):
    feed = tmp_path / "latest news.xml"
    feed.write_bytes(RSS)

    by_path, by_url = await fetch_feeds([FeedState(str(feed)), FeedState(feed.as_uri())], now=NOW)

    assert (by_path.outcome, by_path.body) == ("ok", RSS)
    assert (by_url.outcome, by_url.body) == ("ok", RSS)


async def test_missing_local_file_fails_with_its_path(tmp_path):
    missing = tmp_path / "gone.xml"
    result = await fetch_one(FeedState(str(missing)))

    assert result.outcome == "failed"
    assert str(missing) in result.error
    assert "does not exist" in result.error
    assert result.state.next_check_at is None  # a file costs nothing to retry


async def test_oversized_local_file_is_refused(tmp_path):
    feed = tmp_path / "big.xml"
    feed.write_bytes(b"x" * 2000)
    result = await fetch_one(FeedState(str(feed)), max_bytes=1000)

    assert result.outcome == "failed"
    assert result.error.startswith("body larger than 1000 bytes")


async def test_backing_off_feed_is_skipped_unless_forced(server):
    url = server.route("/feed.xml", Route(body=RSS))
    waiting = FeedState(url, error_count=3, last_error="answered 500", next_check_at=NOW + timedelta(minutes=5))

    skipped = await fetch_one(waiting)
    assert (skipped.outcome, skipped.state, skipped.body) == ("skipped", waiting, None)
    assert server.requests() == []

    forced = await fetch_one(waiting, force=True)
    assert (forced.outcome, forced.body, forced.state.error_count) == ("ok", RSS, 0)


def test_backoff_grows_then_is_capped_with_bounded_jitter():
    delays = [next_backoff(n, key="https://example.org/feed").total_seconds() for n in range(1, 12)]

    assert 270 <= delays[0] <= 300
    assert 540 <= delays[1] <= 600
    assert all(6 * 3600 * 0.9 <= d <= 6 * 3600 for d in delays[-3:])
    assert next_backoff(3, key="a") == next_backoff(3, key="a")  # reproducible
    assert next_backoff(3, key="a") != next_backoff(3, key="b")  # feeds spread out


async def test_https_to_a_plain_http_server_names_the_tls_failure(server):
    url = server.route("/feed.xml", Route(body=RSS)).replace("http://", "https://")
    result = await fetch_one(FeedState(url))

    assert result.outcome == "failed"
    assert result.error.startswith("TLS handshake with 127.0.0.1 failed")


async def test_password_in_a_feed_url_stays_out_of_the_log(server, caplog):
    url = server.route("/feed.xml", Route(status=403)).replace("http://", "http://staff:s3cret@")
    result = await fetch_one(FeedState(url))

    assert result.outcome == "failed"
    assert "feed http://staff:***@127.0.0.1" in caplog.text  # redact.display_url, as everywhere
    assert "s3cret" not in caplog.text
