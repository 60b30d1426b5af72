"""Every feed of feedparser's own test corpus through `bhrdigest fetch`: no crash, ever;
the well-formed feeds that have items yield components.

The files are served on loopback with the headers feedparser's test server sends
(content types, charsets, redirects, compression), a directory per `fetch` run.
"""

from __future__ import annotations

import io
import re

import feedparser
import pytest
import sqlalchemy as sa
from corpus import DIRECTORIES, CorpusServer, corpus_files, corpus_folder
from faultkit import Bhr, assert_no_traceback, subscribers_yaml, write_config

from bhrdigest.store.db import connect
from bhrdigest.store.schema import component_feeds

_FAILED = re.compile(r"^failed: (\S+): (.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def corpus():
    return corpus_folder()


def has_items(file) -> bool:
    """What feedparser itself makes of the file, served with the same headers."""
    headers = {name.lower(): value for name, value in file.headers.items()}
    parsed = feedparser.parse(io.BytesIO(file.path.read_bytes()), response_headers=headers)
    return bool(parsed.entries)


def components_per_feed(database_url: str) -> dict[str, int]:
    engine = connect(database_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(component_feeds.c.feed_url, sa.func.count()).group_by(component_feeds.c.feed_url))
        counts = dict(rows.all())
    engine.dispose()
    return counts


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_every_feed_in_feedparsers_corpus_goes_through_fetch_without_a_crash(directory, corpus, tmp_path):
    files = corpus_files(corpus, directory)
    assert files, f"no files in feedparser's tests/{directory}"
    with CorpusServer(files) as server:
        urls = {server.url(f): f for f in files}
        config = write_config(tmp_path, feeds=urls, subscribers=subscribers_yaml(1))
        bhr = Bhr(tmp_path, config=config)
        ran = bhr.run("-q", "fetch", timeout=600)
        report = bhr.status()
    assert_no_traceback(ran)
    assert ran.returncode in (0, 3), ran.describe()
    assert f"fetch feeds={len(files)} " in ran.stdout, ran.describe()
    failed = dict(_FAILED.findall(ran.stderr))
    assert not [url for url, error in failed.items() if "unexpected error" in error], failed
    assert {feed["url"] for feed in report["feeds"]} == set(urls)
    if directory == "wellformed":
        stored = components_per_feed(bhr.database_url)
        expected = [url for url, file in urls.items() if has_items(file)]
        assert len(expected) > 1000
        missing = sorted(urls[url].relative for url in expected if not stored.get(url))
        assert not missing, f"{len(missing)} well-formed feeds with items stored nothing: {missing[:20]}"
    print(f"{directory}: {len(files)} feeds, {len(failed)} refused with a reason, "
          f"{len(files) - len(failed)} read")
