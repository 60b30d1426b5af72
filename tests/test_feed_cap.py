"""A feed with far too many items is stored up to a cap, the newest first, and says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner
from feedserver import FeedServer, Route

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config


def big_feed(items: int) -> bytes:
    """An RSS feed of `items` items, item n published n hours after the first, listed oldest first."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    entries = "".join(
        f"<item><title>Item {n:05}</title><link>https://example.org/news/{n}/</link>"
        f"<guid>https://example.org/news/{n}/</guid>"
        f"<pubDate>{format_datetime(start + timedelta(hours=n))}</pubDate></item>"
        for n in range(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{entries}</channel></rss>'.encode()


def write_config(folder: Path, feed: str, worker: str) -> Path:
    path = folder / "subscriptions.yaml"
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
feeds:
  - url: {json.dumps(feed)}
companies:
  HSBC: {{}}
subscribers:
  - email: alex@example.org
    companies: [HSBC]
{worker}""",
        encoding="utf-8",
    )
    return path


def test_a_feed_of_sixty_items_stores_the_newest_up_to_the_cap_and_says_how_many_were_left_out(tmp_path):
    with FeedServer() as server:
        url = server.route("/big.xml", Route(body=big_feed(60), headers={"Content-Type": "application/rss+xml"}))
        env = {
            "BHRDIGEST_CONFIG": str(write_config(tmp_path, url, "worker:\n  max_items_per_feed: 25\n")),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        }
        assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
        fetched = CliRunner().invoke(main, ["fetch"], env=env, catch_exceptions=False)
    listed = CliRunner().invoke(main, ["components", "--json"], env=env, catch_exceptions=False)

    assert fetched.exit_code == 0, fetched.output
    assert "new=25 " in fetched.output and "left_out=35" in fetched.output
    assert "has 60 items: stored the newest 25, left out 35" in fetched.output
    titles = sorted(json.loads(line)["title"] for line in listed.output.splitlines())
    assert titles == [f"Item {n:05}" for n in range(35, 60)]


def test_the_cap_defaults_to_a_thousand_and_a_bad_one_is_named(tmp_path):
    assert load_config(write_config(tmp_path, "feed.xml", "")).max_items_per_feed == 1000
    env = {"BHRDIGEST_CONFIG": str(write_config(tmp_path, "feed.xml", "worker:\n  max_items_per_feed: 0\n"))}

    result = CliRunner().invoke(main, ["check"], env=env)

    assert result.exit_code == 1
    assert "subscriptions.yaml:11: worker.max_items_per_feed: must be a whole number from 1 to 100000" in result.output
