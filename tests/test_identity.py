"""One component, one key: whatever URL, language path, feed or GUID it comes under."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bhrdigest.ingest.identity import (
    canonical_url,
    component_identity,
    component_key,
    language_from_url,
    published_url,
)

SLUG = "usa-civil-society-urges-sec-nasdaq-to-pause-cellebrite-listing"


def key_of(link: str | None = None, guid: str | None = None, *, guid_unique: bool = True) -> str:
    return component_key(link=link, guid=guid, guid_unique=guid_unique, title="t", description="d")


def test_url_spellings_of_one_page_share_one_canonical_form():
    variants = [
        "https://business-humanrights.org/es/últimas-noticias/méxico-minera/",
        "http://www.business-humanrights.org/es/últimas-noticias/méxico-minera",
        "https://WWW.Business-HumanRights.org:443/es/%C3%BAltimas-noticias/m%C3%A9xico-minera/",
        "https://business-humanrights.org/es/%c3%baltimas-noticias/m%c3%a9xico-minera/#comments",
        "https://business-humanrights.org/es/últimas-noticias/méxico-minera/?utm_source=rss&utm_medium=feed",
        "https://business-humanrights.org/es/últimas-noticias/méxico-minera/?fbclid=x&gclid=y&mc_cid=z&mc_eid=w&ref=tw",
        "  https://business-humanrights.org//es/últimas-noticias/méxico-minera/  ",
        "https://business-humanrights.org/es/" + unicodedata.normalize("NFD", "últimas-noticias/méxico-minera/"),
    ]
    canonical = {canonical_url(v) for v in variants}
    assert canonical == {
        "https://business-humanrights.org/es/%C3%BAltimas-noticias/m%C3%A9xico-minera/"
    }


def test_canonical_url_keeps_meaningful_query_sorted():
    url = "https://www.business-humanrights.org/en/feeds/latest-news/3/?&search=cellebrite&language=en&utm_source=x"
    assert canonical_url(url) == (
        "https://business-humanrights.org/en/feeds/latest-news/3/?language=en&search=cellebrite"
    )


def test_canonical_url_drops_trailing_slash_off_the_site_but_keeps_files():
    assert canonical_url("http://partner.example.org/news/story/") == "https://partner.example.org/news/story"
    assert canonical_url("https://partner.example.org") == "https://partner.example.org/"
    assert canonical_url("https://www.business-humanrights.org/media/report.pdf") == (
        "https://business-humanrights.org/media/report.pdf"
    )


@pytest.mark.parametrize("guid", ["210455 at https://business-humanrights.org", "tag:example.org,2021:1", ""])
def test_canonical_url_leaves_non_web_identifiers_alone(guid):
    assert canonical_url(f"  {guid} ") == guid


def test_one_story_in_every_language_and_url_era_has_one_key():
    urls = [
        f"https://www.business-humanrights.org/en/latest-news/{SLUG}/",
        f"https://business-humanrights.org/en/latest-news/{SLUG}",
        f"https://www.business-humanrights.org/ja/最新ニュース/{SLUG}/",
        f"https://www.business-humanrights.org/ja/%E6%9C%80%E6%96%B0%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9/{SLUG}/",
        f"https://www.business-humanrights.org/ja/latest-news/{SLUG}/",
        f"https://www.business-humanrights.org/es/últimas-noticias/{SLUG}/",
        f"https://www.business-humanrights.org/fr/dernières-actualités/{SLUG}/",
        f"https://www.business-humanrights.org/de/neuigkeiten/{SLUG}/",
        f"https://www.business-humanrights.org/zh-hans/最新消息/{SLUG}/",
        f"https://business-humanrights.org/en/{SLUG}",  # the older Drupal site
        f"http://www.business-humanrights.org/en/latest-news/{SLUG}/?utm_source=rss#top",
    ]
    assert len({key_of(u) for u in urls}) == 1


def test_site_identity_beats_a_guid_that_differs_between_feeds():
    link = f"https://www.business-humanrights.org/en/latest-news/{SLUG}/"
    assert key_of(link, "210455 at https://business-humanrights.org") == key_of(link, link)


def test_site_identity_found_through_a_permalink_guid_when_link_is_missing():
    guid = f"https://www.business-humanrights.org/ja/最新ニュース/{SLUG}/"
    assert key_of(None, guid) == key_of(f"https://business-humanrights.org/en/latest-news/{SLUG}/")


def test_different_slugs_and_different_sections_stay_apart():
    news = key_of(f"https://www.business-humanrights.org/en/latest-news/{SLUG}/")
    other = key_of(f"https://www.business-humanrights.org/en/latest-news/{SLUG}-2/")
    blog = key_of(f"https://www.business-humanrights.org/en/blog/{SLUG}/")
    assert len({news, other, blog}) == 3


def test_listing_page_is_not_mistaken_for_a_story():
    identity = component_identity(
        link="https://www.business-humanrights.org/en/latest-news/",
        guid=None,
        guid_unique=False,
        title="t",
        description="d",
    )
    assert identity == "url:https://business-humanrights.org/en/latest-news/"


def test_unique_guid_identifies_a_partner_item_across_link_changes():
    assert key_of("https://partner.example.org/a", "item-1") == key_of("https://partner.example.org/b", "item-1")


def test_reused_guid_falls_back_to_the_canonical_link():
    first = key_of("https://partner.example.org/a", "item-1", guid_unique=False)
    second = key_of("https://partner.example.org/b", "item-1", guid_unique=False)
    again = key_of("http://www.partner.example.org/a/?utm_campaign=x", "item-1", guid_unique=False)
    assert first != second
    assert first == again


def test_item_without_link_or_guid_is_identified_by_its_content():
    def content_key(title: str, description: str) -> str:
        return component_key(link=None, guid=None, guid_unique=False, title=title, description=description)

    assert content_key("Title", "Body  text") == content_key(" Title ", "Body text")
    assert content_key("Title", "Body") != content_key("Title", "Other body")


def test_key_is_32_hex_characters():
    assert re.fullmatch(r"[0-9a-f]{32}", key_of("https://partner.example.org/a"))


@pytest.mark.parametrize(
    ("url", "language"),
    [
        (f"https://www.business-humanrights.org/ja/最新ニュース/{SLUG}/", "ja"),
        (f"https://www.business-humanrights.org/en/latest-news/{SLUG}/", "en"),
        ("https://www.business-humanrights.org/zh-hans/最新消息/x/", "zh"),
        ("https://www.business-humanrights.org/pt-br/x/", "pt"),
        ("https://www.business-humanrights.org/latest-news/x/", None),
        ("https://www.business-humanrights.org/", None),
        ("https://partner.example.org/xx/story", None),
        ("not a url", None),
    ],
)
def test_language_comes_from_the_path_prefix(url, language):
    assert language_from_url(url) == language


_url_parts = st.text(
    alphabet=st.sampled_from("abcXYZ019-_.~%/?&=#+ éü日本"), max_size=30
)


@given(
    host=st.sampled_from(["www.business-humanrights.org", "Example.ORG", "partner.example.org:8080"]), rest=_url_parts
)
def test_canonical_url_is_stable_when_applied_twice(host, rest):
    once = canonical_url(f"http://{host}/{rest}")
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    ("published", "shown"),
    [
        ("https://www.business-humanrights.org/en/latest-news/x/", "https://www.business-humanrights.org/en/latest-news/x/"),
        ("https://www.business-humanrights.org/ja/最新ニュース/x/", "https://www.business-humanrights.org/ja/最新ニュース/x/"),
        ("https://www.business-humanrights.org/ja/latest-news/x/?utm_source=rss&utm_medium=feed",
         "https://www.business-humanrights.org/ja/latest-news/x/"),
        ("https://example.org/a?id=3&fbclid=z#top", "https://example.org/a?id=3"),
    ],
)
def test_readers_get_the_url_as_published_less_tracking(published, shown):
    assert published_url(published) == shown
