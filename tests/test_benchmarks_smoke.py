"""The benchmark harness's data, at a tiny size: it parses, tags, loads and matches.

Nothing here is timed (timings belong to `python -m benchmarks`, not to the suite).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.data import World, write_config
from bhrdigest.config.load import load_config
from bhrdigest.digest.match import Matcher
from bhrdigest.ingest.parse import parse_feed
from bhrdigest.ingest.tagging import Tagger


def components_of(world, count):
    tagger = Tagger(world.catalogue)
    feeds = world.feeds(count, per_feed=20)
    return [tagger.tag(e) for data in feeds for e in parse_feed(data, feed_url="https://example.org/feed").entries]


def test_generated_week_parses_into_as_many_components_as_were_made():
    components = components_of(World(7, companies=300), 60)
    assert len({c.key for c in components}) == 60  # an item also in a second feed is one component
    assert sum(1 for c in components if c.companies) >= 50
    assert any(c.countries for c in components) and any(c.topics for c in components)
    assert any(c.kind.value != "article" for c in components)


def test_same_seed_gives_the_same_bytes_and_subscribers():
    first, second = World(11, companies=200), World(11, companies=200)
    assert first.feeds(30, per_feed=10) == second.feeds(30, per_feed=10)
    assert list(first.subscribers(50)) == list(second.subscribers(50))


def test_written_subscriptions_load_and_their_readers_get_matches(tmp_path):
    world = World(3, companies=300)
    feed = tmp_path / "feed.xml"
    feed.write_bytes(world.feeds(40, per_feed=40)[0])
    written = write_config(tmp_path / "subscriptions.yaml", world, world.subscribers(200), [feed])
    config = load_config(tmp_path / "subscriptions.yaml")
    assert written == len(config.subscribers) == 200
    assert len(config.catalogue.companies) == 300
    components = components_of(world, 80)
    matches = Matcher(config.subscribers).match(components)
    assert len(matches) > 100  # varied interests, most of them met by a week of news


def test_the_roster_stage_imports_every_generated_subscriber_and_loads_them_back():
    from benchmarks.roster import roster

    imported, loading = roster(World(3, companies=300), 60, repeat=1)
    assert "60 new, then 0 new and 60 unchanged; 60 rows stored" in imported.note
    assert "the same 60 subscribers" in loading.note
