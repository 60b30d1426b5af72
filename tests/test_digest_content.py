"""What a reader sees of real-shaped feed items: from the feed, through tagging and the
store, to the rendered digest (issue 14's content audit)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bhrdigest.config.languages import canonical_language
from bhrdigest.digest.build import build_digest
from bhrdigest.digest.match import Matcher
from bhrdigest.digest.render import DigestRenderer
from bhrdigest.digest.views import listing_url
from bhrdigest.ingest.parse import parse_feed
from bhrdigest.ingest.tagging import Tagger
from bhrdigest.model import Catalogue, Company, Subscriber
from bhrdigest.store.components import load_components, save_components

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SITE = "https://www.business-humanrights.org/en/latest-news"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CATALOGUE = Catalogue(companies=(Company("Samsung", ("Samsung Electronics",)), Company("H&M")))


def item(slug: str, title: str, body: str, published: str = "Mon, 30 Nov 2026 08:00:00 +0000") -> str:
    return (
        f"<item><title>{title}</title><link>{SITE}/{slug}/</link><guid>{SITE}/{slug}/</guid>"
        f"<pubDate>{published}</pubDate><description>{body}</description></item>"
    )


FEED = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Latest news</title>
{item("hm-response", "H&amp;M's response",
       "&lt;p&gt;H&amp;amp;M said it audits its suppliers every year.&lt;/p&gt;"
       "&lt;p&gt;[Also referred to Samsung, Inditex]&lt;/p&gt;")}
{item("samsung-hours", "South Korea: Samsung workers report 60-hour weeks",
      "&lt;p&gt;Workers at Samsung Electronics plants describe long shifts.&lt;/p&gt;",
      "Sun, 29 Nov 2026 08:00:00 +0000")}
{item("pakistan-fire", "Pakistan: Fire at a garment factory",
      "&lt;p&gt;The factory also supplies buyers in India.&lt;/p&gt;", "Sat, 28 Nov 2026 08:00:00 +0000")}
{item("dam-report", "Report on hydropower dams",
      "&lt;p&gt;A new dam in India displaced thousands.&lt;/p&gt;", "Fri, 27 Nov 2026 08:00:00 +0000")}
{item("old-story", "Sri Lanka: Tea estate workers strike",
      "&lt;p&gt;Workers in Sri Lanka stopped work.&lt;/p&gt;", "Tue, 12 Mar 2019 08:00:00 +0000")}
</channel></rss>"""


@pytest.fixture
def stored(engine):
    parsed = parse_feed(FEED.encode(), feed_url="https://www.business-humanrights.org/en/feeds/", now=NOW)
    tagger = Tagger(CATALOGUE)
    save_components(engine, [tagger.tag(e) for e in parsed.entries], feed_url="feed", now=NOW)
    return load_components(engine)


def digest_of(components, subscriber):
    matches = Matcher([subscriber]).match(components)[subscriber.email]
    digest = build_digest(subscriber, matches, max_items=10)
    rendered = DigestRenderer(TEMPLATES).render(digest, unsubscribe_url=None, preferences_url=None)
    return digest, rendered


def titles(digest):
    return [m.component.title for m in digest.matches]


def test_a_company_only_mentioned_ranks_below_news_about_it_and_says_why(stored):
    samsung_reader = Subscriber(email="kim@example.org", companies=("Samsung",))
    digest, rendered = digest_of(stored, samsung_reader)
    # H&M's response names Samsung only in [Also referred to …]: not the lead, and after
    # the item about Samsung (though H&M's response is a company response, and newer).
    assert titles(digest) == ["South Korea: Samsung workers report 60-hour weeks", "H&M's response"]
    flowing = " ".join(rendered.text.split())
    assert "Why: company Samsung, mentioned: [Also referred to Samsung, Inditex]" in flowing
    assert "Why: company Samsung, mentioned: [Also referred to Samsung, Inditex]" in rendered.html
    assert "Why: company Samsung ·" not in flowing and "Why: company Samsung\n" in rendered.text
    # The reader who follows H&M gets it as news about H&M, badge and all.
    hm_digest, _ = digest_of(stored, Subscriber(email="ana@example.org", companies=("H&M",)))
    assert [m.reasons[0].facet for m in hm_digest.matches] == ["company"]


def test_place_reasons_name_what_matched_and_where_title_prefix_first(stored):
    asia_reader = Subscriber(email="ravi@example.org", places=("Asia & Pacific",))
    _, rendered = digest_of(stored, asia_reader)
    flowing = " ".join(rendered.text.split())
    # The title's prefix stands for the region, though the text names India too.
    assert "Why: place Pakistan (in the title) → Asia & Pacific" in flowing
    assert "Why: place India (in the text) → Asia & Pacific" in flowing
    assert "Why: place South Korea (in the title) → Asia & Pacific" in flowing
    assert "place India (in the text) → Asia &amp; Pacific" in rendered.html
    india_reader = Subscriber(email="asha@example.org", places=("India",))
    _, rendered = digest_of(stored, india_reader)
    assert "Why: place India (in the text)\n" in rendered.text


def test_links_go_to_the_url_the_site_published(stored):
    _, rendered = digest_of(stored, Subscriber(email="kim@example.org", companies=("Samsung",)))
    assert f'href="{SITE}/samsung-hours/"' in rendered.html
    assert f"{SITE}/samsung-hours/" in rendered.text
    assert "https://business-humanrights.org/" not in rendered.html + rendered.text
    (samsung,) = [c for c in stored if "Samsung workers" in c.title]
    assert samsung.url == "https://business-humanrights.org/en/latest-news/samsung-hours/"  # identity stays
    assert samsung.to_json()["link"] == f"{SITE}/samsung-hours/"


def test_an_item_published_long_before_it_was_first_seen_is_labelled_earlier(stored):
    digest, rendered = digest_of(stored, Subscriber(email="ravi@example.org", places=("Asia & Pacific",)))
    assert digest.lead.component.title != "Sri Lanka: Tea estate workers strike"
    assert [s.title for s in digest.sections][-1] == "Earlier items newly added"
    assert titles(digest)[-1] == "Sri Lanka: Tea estate workers strike"
    text = rendered.text
    assert text.index("EARLIER ITEMS NEWLY ADDED") < text.index("Tea estate workers strike")


def test_telegram_alerts_link_to_the_published_url_and_still_come_for_a_mention(engine, stored):
    from datetime import timedelta

    from bhrdigest.store.alert_queue import due_alerts, queue_alerts, sync_yaml_chats

    sync_yaml_chats(engine, [Subscriber(email="kim@example.org", companies=("Samsung",), telegram=42)],
                    NOW - timedelta(days=1))
    queue_alerts(engine, [c.key for c in stored], now=NOW)
    (chat,) = due_alerts(engine, NOW)
    alerts = {queued.alert.title: queued.alert for queued in chat.alerts}
    assert set(alerts) == {"South Korea: Samsung workers report 60-hour weeks", "H&M's response"}
    assert alerts["H&M's response"].url == f"{SITE}/hm-response/"


def test_a_long_lead_headline_is_cut_in_the_subject_but_the_count_is_kept():
    from datetime import date

    from bhrdigest.digest.subject import MAX_SUBJECT_CHARS, subject_line

    long = subject_line("Weekly update", day=date(2026, 12, 3), lead_title="Israel: Cellebrite says " * 20, others=11)
    assert long.startswith("Weekly update · 3 December 2026: Israel: Cellebrite says")
    assert long.endswith("…, and 11 more") and len(long) <= MAX_SUBJECT_CHARS
    assert subject_line("W", day=date(2026, 12, 3), lead_title=None, others=1) == "W · 3 December 2026: 1 new item"
    assert subject_line("W", day=date(2026, 12, 3), lead_title="Lead", others=0) == "W · 3 December 2026: Lead"


def test_n_more_leads_to_the_sites_listing_of_what_the_reader_follows(stored):
    def more_link(subscriber, words="more items on"):
        matches = Matcher([subscriber]).match(stored)[subscriber.email]
        digest = build_digest(subscriber, matches, max_items=1)
        rendered = DigestRenderer(TEMPLATES).render(digest, unsubscribe_url=None, preferences_url=None)
        assert digest.more_count and f"{digest.more_count} {words} business-humanrights.org" in rendered.text
        return rendered

    rendered = more_link(Subscriber(email="kim@example.org", companies=("Samsung",), places=("Asia & Pacific",)))
    listing = "https://www.business-humanrights.org/en/latest-news/?&search=Samsung"
    assert f'href="{listing.replace("&", "&amp;")}"' in rendered.html and listing in rendered.text
    spanish = more_link(Subscriber(email="ana@example.org", languages=("es", "en"), places=("Asia & Pacific",)),
                        words="noticias más en")  # in the reader's language
    assert "https://www.business-humanrights.org/es/latest-news/?&search=Asia%20%26%20Pacific" in spanish.text
    mexican = more_link(Subscriber(email="lu@example.org", languages=("es-419", "en"), places=("Asia & Pacific",)),
                        words="noticias más en")  # a regional code reads the site's Spanish listing too
    assert "https://www.business-humanrights.org/es/latest-news/?&search=Asia%20%26%20Pacific" in mexican.text


def test_n_more_leads_to_the_listing_in_the_readers_language_as_the_configuration_writes_it():
    # subscriptions.yaml's zh-hant and pt-br are read in BCP 47 casing: zh-Hant, pt-BR.
    def listing(code: str) -> str:
        reader = Subscriber(email="lin@example.org", languages=(canonical_language(code),), companies=("Samsung",))
        return listing_url("https://www.business-humanrights.org", reader)

    assert listing("zh-hant") == "https://www.business-humanrights.org/zh-hant/latest-news/?&search=Samsung"
    assert listing("pt-br") == "https://www.business-humanrights.org/pt/latest-news/?&search=Samsung"
    assert listing("sw") == "https://www.business-humanrights.org/en/latest-news/?&search=Samsung"  # not on the site


def test_a_translation_from_another_feed_keeps_the_url_it_was_published_at(engine, stored):
    japanese = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>最新ニュース</title>
    {item("samsung-hours", "韓国：サムスンの労働者が週60時間労働を報告", "&lt;p&gt;長時間のシフト。&lt;/p&gt;")}
    </channel></rss>""".replace(f"{SITE}/samsung-hours/", "https://www.business-humanrights.org/ja/最新ニュース/samsung-hours/"
                                "?utm_source=rss")
    parsed = parse_feed(japanese.encode(), feed_url="https://www.business-humanrights.org/ja/feeds/", now=NOW)
    save_components(engine, [Tagger(CATALOGUE).tag(e) for e in parsed.entries], feed_url="ja", now=NOW)
    (samsung,) = [c for c in load_components(engine) if "Samsung workers" in c.title]
    assert [(t.language, t.url) for t in samsung.translations] == [
        ("ja", "https://www.business-humanrights.org/ja/最新ニュース/samsung-hours/")]
    reader = Subscriber(email="taro@example.jp", languages=("ja",), companies=("Samsung",))
    _, rendered = digest_of([samsung], reader)
    assert 'href="https://www.business-humanrights.org/ja/最新ニュース/samsung-hours/"' in rendered.html


def test_the_marker_line_is_shown_once_however_many_mentions_match(stored):
    reader = Subscriber(email="kim@example.org", companies=("Samsung", "Inditex"))
    _, rendered = digest_of(stored, reader)
    flowing = " ".join(rendered.text.split())
    assert "company Samsung, mentioned: [Also referred to Samsung, Inditex] · company Inditex, mentioned" in flowing
    assert flowing.count("[Also referred to") == 1
