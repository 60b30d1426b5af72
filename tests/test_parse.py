"""Feed bytes -> the components a subscriber will see: merged, cleaned, safe."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bhrdigest.errors import FeedError
from bhrdigest.ingest.conventions import (
    classify_title,
    parse_human_date,
    split_company_names,
)
from bhrdigest.ingest.parse import ParsedFeed, parse_feed
from bhrdigest.model import Entry, Kind

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SAMPLE = Path("/work/shared/samples/latest-news-en.xml")
if not SAMPLE.exists():  # the lead copies it into the repo
    SAMPLE = Path(__file__).parents[1] / "samples" / "latest-news-en.xml"
NOW = datetime(2021, 9, 1, tzinfo=UTC)
SITE = "https://www.business-humanrights.org"


def parse(path: Path, feed_url: str = f"{SITE}/en/feeds/latest-news/3/", **kwargs) -> ParsedFeed:
    return parse_feed(path.read_bytes(), feed_url=feed_url, now=NOW, **kwargs)


def by_title(feed: ParsedFeed, start: str) -> Entry:
    matches = [e for e in feed.entries if e.title.startswith(start)]
    assert len(matches) == 1, [e.title for e in feed.entries]
    return matches[0]


def all_text(entry: Entry) -> list[str]:
    texts = [entry.title, entry.excerpt_text, entry.author or "", entry.source_title or ""]
    texts += [t.excerpt_text for t in entry.translations] + list(entry.marker_companies)
    return texts


def rss(items: str, *, prolog: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = "") -> str:
    return f'{prolog}<rss version="2.0"><channel><title>T</title>{channel}{items}</channel></rss>'


# --- the shared sample ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> ParsedFeed:
    return parse(SAMPLE)


def test_sample_repeated_guid_is_one_component_with_the_edited_title(sample):
    assert len(sample.entries) == 5  # six items, one repeated under its GUID
    usa = by_title(sample, "USA:")
    assert usa.title.endswith("until human rights compliance is demonstrated")
    assert usa.excerpt_text.startswith("(updated)")
    assert sample.entries[0] is usa  # keeps its first position


def test_sample_response_items_are_classified_with_their_company(sample):
    response = by_title(sample, "Cellebrite's response")
    assert response.kind is Kind.COMPANY_RESPONSE
    assert response.marker_companies == ("Cellebrite",)
    silent = by_title(sample, "Sun Corporation did not respond")
    assert silent.kind is Kind.COMPANY_NON_RESPONSE
    assert silent.marker_companies == ("Sun Corporation",)
    assert by_title(sample, "USA:").kind is Kind.ARTICLE


def test_sample_also_referred_to_names_become_markers_and_leave_the_excerpt(sample):
    usa = by_title(sample, "USA:")
    assert usa.marker_companies == ("TWC Tech Holdings II Corp.", "Nasdaq", "Sun Corporation")
    assert "Also referred" not in usa.excerpt_text and "Also referred" not in usa.excerpt_html


def test_sample_source_headline_and_date_are_taken_from_the_first_paragraph(sample):
    usa = by_title(sample, "USA:")
    assert (usa.source_title, usa.source_date) == ("Open letter on Cellebrite’s SPAC merger", date(2021, 7, 13))
    israel = by_title(sample, "Israel/OPT")
    assert (israel.source_title, israel.source_date) == ("Watchdogs query spyware procurement", date(2019, 6, 2))
    assert "Watchdogs query" not in israel.excerpt_text


def test_sample_dates_are_utc_and_never_invented(sample):
    assert by_title(sample, "Operating from the Shadows").published is None
    assert by_title(sample, "USA:").published == datetime(2021, 7, 13, tzinfo=UTC)


def test_sample_has_no_entity_left_in_any_text(sample):
    for entry in sample.entries:
        for text in all_text(entry):
            assert "&nbsp;" not in text and "&amp;" not in text and "\u00a0" not in text, text
        assert "&amp;nbsp;" not in entry.excerpt_html and "&amp;amp;" not in entry.excerpt_html
    assert by_title(sample, "Operating from the Shadows").title.endswith("vendor’s corporate structure")


def test_sample_entries_use_canonical_urls_and_the_feed_language(sample):
    assert sample.title == "Latest news - Business & Human Rights Resource Centre"
    assert sample.language == "en" and sample.warning is None
    for entry in sample.entries:
        assert entry.url.startswith("https://business-humanrights.org/en/latest-news/") and entry.url.endswith("/")
        assert entry.language == "en"


# --- a story page turned into a feed (from the seed) ---------------------------------------


@pytest.fixture(scope="module")
def story() -> ParsedFeed:
    return parse(FIXTURES / "story-hong-kong-en.xml")


def test_inline_japanese_translation_becomes_a_translation(story):
    cellebrite = by_title(story, "Israel: Cellebrite says")
    (japanese,) = cellebrite.translations
    assert japanese.language == "ja" and japanese.title == "" and japanese.url == ""
    assert japanese.author == "Japan In-Depth"
    assert japanese.excerpt_text.startswith("…衆議院議員会館で")
    assert "Read the full post" not in japanese.excerpt_text
    assert cellebrite.author == "Jerusalem Post"  # the translation's author does not leak
    for gone in ("日本語", "衆議院", "Japan In-Depth", "Read the full post", "Hide"):
        assert gone not in cellebrite.excerpt_text and gone not in cellebrite.excerpt_html


def test_story_source_lines_authors_and_markers(story):
    cellebrite = by_title(story, "Israel: Cellebrite says")
    assert cellebrite.source_title == "Hong Kong democracy activists to Israel: Stop exporting tech to police"
    assert cellebrite.source_date == date(2020, 7, 31)
    assert cellebrite.excerpt_text.startswith("Hong Kong pro-democracy leader Joshua Wong")
    proton = by_title(story, "Hong Kong: ProtonVPN")
    assert proton.author == "ProtonVPN" and "Author:" not in proton.excerpt_text
    assert proton.source_date == date(2020, 7, 21)
    hermes = by_title(story, "Federated Hermes")
    assert hermes.marker_companies == ("Jardine Matheson Group", "Mandarin Oriental hotel", "Cathay Pacific")
    assert by_title(story, "Hong Kong: Tiktok").marker_companies == ("Whatsapp",)
    assert story.language == "en"  # <language>en-gb</language>
    assert len(story.entries) == 7


# --- the Japanese feed: one component, many URLs and languages -----------------------------


@pytest.fixture(scope="module")
def japanese() -> ParsedFeed:
    return parse(FIXTURES / "latest-news-ja.xml", feed_url=f"{SITE}/ja/feeds/latest-news/3/?&language=ja")


def test_japanese_urls_share_keys_with_the_english_sample(japanese, sample, story):
    english_keys = {e.key for e in sample.entries} | {e.key for e in story.entries}
    shared = [e for e in japanese.entries if e.key in english_keys]
    assert {e.url.rsplit("/", 2)[-2] for e in shared} == {
        "usa-civil-society-urges-sec-nasdaq-to-pause-cellebrite-listing",
        "cellebrites-response-3",
        "sun-corporation-did-not-respond",
        "israel-cellebrite-says-it-does-not-sell-to-areas-sanctioned-by-us-as-activists-urge-it-to-stop-exporting-tech-to-hong-kong-police",
        "operating-from-the-shadows-inside-a-spyware-vendors-corporate-structure",
    }


def test_same_slug_under_two_japanese_paths_merges_and_the_update_wins(japanese):
    assert len(japanese.entries) == 6  # eight items: one update, one English occurrence
    usa = japanese.entries[0]
    assert usa.title == "米国：市民社会がSECとナスダックにセルブライト上場の一時停止を要請（更新）"
    assert usa.source_title == "セルブライトのSPAC合併に関する公開書簡"  # kept from the first occurrence
    assert usa.source_date == date(2021, 7, 13)
    assert "utm_" not in usa.url


def test_occurrence_in_another_language_becomes_a_translation(japanese):
    shadows = by_title(japanese, "影の中での活動")
    assert shadows.language == "ja"
    (english,) = shadows.translations
    assert english.language == "en"
    assert english.title == "Operating from the Shadows: Inside a spyware vendor’s corporate structure"
    # The URL the site published (www. and all), not the identity form.
    assert english.url == f"https://www.business-humanrights.org/en/latest-news/{english.url.rsplit('/', 2)[-2]}/"
    assert english.author == "Amnesty International, Privacy International & SOMO"


def test_japanese_titles_and_dates_are_understood(japanese):
    assert all(e.language == "ja" for e in japanese.entries)
    response = by_title(japanese, "セルブライトの回答")
    assert (response.kind, response.marker_companies) == (Kind.COMPANY_RESPONSE, ("セルブライト",))
    silent = by_title(japanese, "サン・コーポレーション")
    assert (silent.kind, silent.marker_companies) == (Kind.COMPANY_NON_RESPONSE, ("サン・コーポレーション",))
    report = by_title(japanese, "日本：")
    assert (report.source_title, report.source_date) == ("技能実習制度の実態調査", date(2021, 8, 2))
    assert report.published == datetime(2021, 8, 2, 0, 30, tzinfo=UTC)  # +0900 converted
    assert report.author == "東京新聞"  # a name without letter case is not a staff login


# --- the older Drupal site (windows-1252) ---------------------------------------------------


@pytest.fixture(scope="module")
def drupal() -> ParsedFeed:
    return parse(FIXTURES / "old-drupal-en.xml", feed_url="https://business-humanrights.org/en/rss.xml")


def test_old_site_body_author_wins_over_staff_login(drupal):
    tanzania = by_title(drupal, "Tanzania:")
    assert tanzania.author == "Guardian"
    assert tanzania.guid == "210455 at https://business-humanrights.org"
    assert (
        tanzania.title == "Tanzania: Villagers allege killings & injuries by police guarding Acacia’s North Mara mine"
    )
    assert (tanzania.source_title, tanzania.source_date) == (
        "Tanzanian villagers say police at gold mine killed and injured locals",
        date(2016, 3, 22),
    )
    assert (
        tanzania.excerpt_text.startswith("Villagers living near") and "“takes all allegations" in tanzania.excerpt_text
    )
    assert tanzania.marker_companies == ("Acacia", "Barrick Gold")
    assert "Related companies" not in tanzania.excerpt_text and "Author:" not in tanzania.excerpt_text


def test_old_site_items_share_keys_with_the_new_site_urls(drupal):
    from bhrdigest.ingest.identity import component_key

    slug = "tanzania-villagers-allege-killings-injuries-by-police-guarding-acacias-north-mara-mine"
    new_key = component_key(
        link=f"{SITE}/en/latest-news/{slug}/", guid=None, guid_unique=False, title="", description=""
    )
    assert by_title(drupal, "Tanzania:").key == new_key


def test_old_site_responses_and_markers_in_several_languages(drupal):
    acacia = by_title(drupal, "Response by Acacia")
    assert (acacia.kind, acacia.marker_companies, acacia.author) == (
        Kind.COMPANY_RESPONSE,
        ("Acacia",),
        "Acacia Mining",
    )
    colombia = by_title(drupal, "Colombia:")
    assert colombia.marker_companies == ("Glencore", "Anglo American", "BHP Billiton")
    assert "refers to" not in colombia.excerpt_text and colombia.excerpt_text.endswith("Cerrejón mine")
    copper = by_title(drupal, "Southern Copper")
    assert (copper.kind, copper.language, copper.marker_companies) == (
        Kind.COMPANY_NON_RESPONSE, "es", ("Southern Copper",))  # fmt: skip
    siemens = by_title(drupal, "Stellungnahme von Siemens")
    assert (siemens.kind, siemens.language, siemens.marker_companies) == (Kind.COMPANY_RESPONSE, "de", ("Siemens",))


def test_staff_logins_and_emails_are_never_authors():
    items = "".join(
        f"<item><title>Item {i}</title><link>https://example.org/{i}</link>"
        f'<dc:creator xmlns:dc="http://purl.org/dc/elements/1.1/">{creator}</dc:creator></item>'
        for i, creator in enumerate(["jsmith", "k.müller", "staff@business-humanrights.org", "Reuters", "東京新聞"])
    )
    feed = parse_feed(rss(items).encode(), feed_url="x", now=NOW)
    assert [e.author for e in feed.entries] == [None, None, None, "Reuters", "東京新聞"]


# --- every hazard at once ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hazards() -> ParsedFeed:
    return parse(FIXTURES / "hazards.xml")


def test_hazards_leave_no_entity_in_any_text(hazards):
    for entry in hazards.entries:
        for text in all_text(entry):
            for leftover in ("&amp;", "&nbsp;", "&quot;", "&hellip;", "&#", "\u00a0", "\r", "\n\n\n"):
                assert leftover not in text, (leftover, text)
        assert "\n" not in entry.title
    brasil = by_title(hazards, "Brasil:")
    assert brasil.title == "Brasil: Mineradora & parceiros acusados de poluir o rio Doce"
    assert brasil.excerpt_text == "Moradores relatam água contaminada & peixes mortos…"
    assert (brasil.source_title, brasil.source_date) == ("Rio Doce: comunidades denunciam", date(2020, 11, 5))
    assert hazards.title == "Hazards & traps — Business & Human Rights"


def test_hazards_hostile_description_is_harmless(hazards):
    hostile = by_title(hazards, "Hostile description")
    markup = hostile.excerpt_html.lower()
    for forbidden in ("<script", "document.cookie", "onerror", "onclick", "onload", "onmouseover",
                      "javascript:", "data:", "<svg", "<iframe", "<style", "style=", "<img"):  # fmt: skip
        assert forbidden not in markup, forbidden
    assert '<a href="https://example.org/ok" rel="noopener noreferrer nofollow">five</a>' in hostile.excerpt_html
    assert f'href="{SITE}/en/latest-news/related-item/"' in hostile.excerpt_html  # relative -> absolute
    assert hostile.excerpt_text == "Safe text\n\none two three four five six\n\nStyled bold"


def test_hazards_double_escaped_markup_and_cdata_read_cleanly(hazards):
    double = by_title(hazards, "Double-escaped markup")
    assert double.excerpt_text == "First paragraph & more.\n\nSecond paragraph."
    assert "alert" not in double.excerpt_html
    arabic = by_title(hazards, "المغرب:")
    assert arabic.language == "ar"
    assert arabic.excerpt_text == (
        "“Numeric refs” — and “curly” quotes with a non-breaking space here.\n\n"
        "يقول العمال إن الأجور لا تغطي تكاليف المعيشة."
    )
    chinese = by_title(hazards, "中国：")
    assert (chinese.language, chinese.excerpt_text) == ("zh", "工人表示，工厂拖欠工资已达三个月。")


def test_hazards_dates(hazards):
    assert by_title(hazards, "Double-escaped").published == datetime(2021, 7, 13, tzinfo=UTC)  # date only
    assert by_title(hazards, "المغرب:").published == datetime(2021, 7, 13, tzinfo=UTC)  # "13 July 2021"
    assert by_title(hazards, "中国：").published is None  # garbage
    assert by_title(hazards, "Empty body, future date").published is None  # year 2100
    assert by_title(hazards, "No body and no date").published is None
    assert by_title(hazards, "Brasil:").published == datetime(2020, 11, 5, 17, tzinfo=UTC)  # -0300


def test_hazards_url_variants_merge_and_reused_guids_do_not(hazards):
    mexico = [e for e in hazards.entries if e.title.startswith("México")]
    assert len(mexico) == 1
    assert mexico[0].title.endswith("(actualizado)")
    assert mexico[0].url == "https://business-humanrights.org/es/%C3%BAltimas-noticias/m%C3%A9xico-empresa-minera-enfrenta-demanda/"
    assert mexico[0].marker_companies == ("Grupo México", "Southern Copper")
    assert mexico[0].feed_categories == ("Mining", "Mexico")
    assert mexico[0].excerpt_text == "Versión actualizada."
    reused = [e for e in hazards.entries if e.guid == "reused-guid"]
    assert len({e.key for e in reused}) == 2
    assert [e.url for e in reused] == ["https://partner.example.org/news/first-story", "https://partner.example.org/news/second-story"]


def test_hazards_empty_bodies_titles_and_languages(hazards):
    assert by_title(hazards, "Empty body").excerpt_html == "" == by_title(hazards, "Empty body").excerpt_text
    assert by_title(hazards, "No body and no date").excerpt_text == ""
    assert by_title(hazards, "Line one").title == "Line one line two line three tabbed"
    orphan = by_title(hazards, "Tagged title")
    assert orphan.title == "Tagged title & escaped twice"
    assert orphan.url == "" and len(orphan.key) == 32
    assert by_title(hazards, "Un article").language == "fr"  # item xml:lang, the feed says en
    assert by_title(hazards, "Brasil:").language == "pt"
    assert hazards.language == "en"  # EN-GB


def test_hazards_french_responses(hazards):
    total = by_title(hazards, "Réponse de TotalEnergies")
    assert (total.kind, total.marker_companies) == (Kind.COMPANY_RESPONSE, ("TotalEnergies",))
    vinci = by_title(hazards, "Vinci")
    assert vinci.kind is Kind.COMPANY_NON_RESPONSE
    assert vinci.marker_companies == ("Vinci", "Qatari Diar", "Eiffage")
    assert vinci.excerpt_text == ""


def test_parsing_is_deterministic(hazards):
    assert parse(FIXTURES / "hazards.xml") == hazards


# --- encodings and sizes --------------------------------------------------------------------


def test_shift_jis_declared_in_the_prolog():
    xml = rss("<item><title>日本：「労働者」の権利</title><link>https://example.org/a</link></item>",
              prolog='<?xml version="1.0" encoding="shift_jis"?>')  # fmt: skip
    feed = parse_feed(xml.encode("shift_jis"), feed_url="x", now=NOW)
    assert feed.entries[0].title == "日本：「労働者」の権利"


def test_windows_1252_without_declaration_is_still_read():
    xml = rss("<item><title>Company’s “reply” — café</title><link>https://example.org/a</link></item>",
              prolog='<?xml version="1.0"?>')  # fmt: skip
    feed = parse_feed(xml.encode("cp1252"), feed_url="x", now=NOW)
    assert feed.entries[0].title == "Company’s “reply” — café"
    assert feed.warning and "1252" in feed.warning


def test_wrong_charset_header_does_not_garble_utf8():
    xml = rss("<item><title>Company’s “reply” — café</title><link>https://example.org/a</link></item>",
              prolog='<?xml version="1.0"?>')  # fmt: skip
    feed = parse_feed(xml.encode(), feed_url="x", content_type="application/rss+xml; charset=ISO-8859-1", now=NOW)
    assert feed.entries[0].title == "Company’s “reply” — café"


def test_a_megabyte_title_and_body_are_truncated():
    huge = "A" * 1_000_000
    xml = rss(f"<item><title>{huge}</title><description>&lt;p&gt;{'word ' * 200_000}&lt;/p&gt;</description>"
              "<link>https://example.org/a</link></item>")  # fmt: skip
    (entry,) = parse_feed(xml.encode(), feed_url="x", now=NOW).entries
    assert len(entry.title) <= 1_000 and entry.title.endswith("…")
    assert len(entry.excerpt_text) <= 20_000 and entry.excerpt_text.endswith("…")
    assert len(entry.excerpt_html) <= 20_100


# --- not a feed at all -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty body"),
        (b"  \n\t", "empty body"),
        (b"<!DOCTYPE html><html><head><title>Not found</title></head><body>404</body></html>", "HTML page"),
        (b'{"error": "rate limited"}', "not an RSS or Atom feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "not an RSS or Atom feed"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cut off', "malformed and yielded no items"),
    ],
)
def test_non_feeds_raise_feed_error_naming_the_feed(data, message):
    with pytest.raises(FeedError) as caught:
        parse_feed(data, feed_url="https://feeds.example/bhrrc", now=NOW)
    assert message in str(caught.value) and "https://feeds.example/bhrrc" in str(caught.value)


def test_valid_feed_without_items_is_empty_not_an_error():
    feed = parse_feed(rss("").encode(), feed_url="x", now=NOW)
    assert feed.entries == () and feed.warning is None


def test_malformed_feed_with_items_is_parsed_with_a_warning():
    broken = b'<rss version="2.0"><channel><title>A & B</title><item><title>One & two</title><link>https://example.org/1</link></item><item><title>Three'
    feed = parse_feed(broken, feed_url="https://feeds.example/broken", now=NOW)
    assert [e.title for e in feed.entries][:1] == ["One & two"]
    assert feed.warning and "https://feeds.example/broken" in feed.warning


def test_feedparser_never_reads_a_file_named_by_the_bytes(tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_text(rss("<item><title>secret</title><link>https://example.org/s</link></item>"))
    with pytest.raises(FeedError):
        parse_feed(str(secret).encode(), feed_url="x", now=NOW)


# --- the site's conventions, one by one --------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "kind", "company"),
    [
        ("Cellebrite's response", Kind.COMPANY_RESPONSE, "Cellebrite"),
        ("Siemens’ response to allegations", Kind.COMPANY_RESPONSE, "Siemens"),
        ("Israel: Cellebrite responds to activists' letter", Kind.COMPANY_RESPONSE, "Cellebrite"),
        ("Response by H&M to the open letter", Kind.COMPANY_RESPONSE, "H&M"),
        ("Respuesta de Grupo México", Kind.COMPANY_RESPONSE, "Grupo México"),
        ("Grupo México respuesta", Kind.COMPANY_RESPONSE, "Grupo México"),
        ("Réponse de TotalEnergies", Kind.COMPANY_RESPONSE, "TotalEnergies"),
        ("Stellungnahme von Siemens", Kind.COMPANY_RESPONSE, "Siemens"),
        ("Siemens Stellungnahme", Kind.COMPANY_RESPONSE, "Siemens"),
        ("Sun Corporation did not respond", Kind.COMPANY_NON_RESPONSE, "Sun Corporation"),
        ("Adidas failed to respond", Kind.COMPANY_NON_RESPONSE, "Adidas"),
        ("Shein declined to respond", Kind.COMPANY_NON_RESPONSE, "Shein"),
        ("Southern Copper no respondió", Kind.COMPANY_NON_RESPONSE, "Southern Copper"),
        ("Minera X no responde", Kind.COMPANY_NON_RESPONSE, "Minera X"),
        ("Non-réponse de Vinci", Kind.COMPANY_NON_RESPONSE, "Vinci"),
        ("Vinci n'a pas répondu", Kind.COMPANY_NON_RESPONSE, "Vinci"),
        ("BASF hat nicht geantwortet", Kind.COMPANY_NON_RESPONSE, "BASF"),
        ("Keine Stellungnahme von BASF", Kind.COMPANY_NON_RESPONSE, "BASF"),
        ("BASF: keine Stellungnahme", Kind.COMPANY_NON_RESPONSE, "BASF"),
        # No apostrophe: how staff often title a response.
        ("NSO Group response", Kind.COMPANY_RESPONSE, "NSO Group"),
        ("Hong Kong: Cathay Pacific response", Kind.COMPANY_RESPONSE, "Cathay Pacific"),
        ("Nestlé Response to allegations of forced labour", Kind.COMPANY_RESPONSE, "Nestlé"),
        ("Respuesta de la empresa Hochschild Mining", Kind.COMPANY_RESPONSE, "Hochschild Mining"),
        ("Réponse de l'entreprise Vinci", Kind.COMPANY_RESPONSE, "Vinci"),
        ("Resposta da Vale", Kind.COMPANY_RESPONSE, "Vale"),
        ("Risposta di Eni", Kind.COMPANY_RESPONSE, "Eni"),
        ("Ответ компании Газпром", Kind.COMPANY_RESPONSE, "Газпром"),
        ("トヨタ回答", Kind.COMPANY_RESPONSE, "トヨタ"),
        ("华为的回应", Kind.COMPANY_RESPONSE, "华为"),
        ("삼성전자 답변", Kind.COMPANY_RESPONSE, "삼성전자"),
        ("Sin respuesta de Minera X", Kind.COMPANY_NON_RESPONSE, "Minera X"),
        ("Vale não respondeu", Kind.COMPANY_NON_RESPONSE, "Vale"),
        ("Eni non ha risposto", Kind.COMPANY_NON_RESPONSE, "Eni"),
        ("华为未回应", Kind.COMPANY_NON_RESPONSE, "华为"),
        # Not companies, though the grammar is a response's.
        ("Community response to mine expansion", Kind.ARTICLE, None),
        ("Investor response", Kind.ARTICLE, None),
        ("Workers' response", Kind.ARTICLE, None),
        ("Government response to the crisis", Kind.ARTICLE, None),
        ("USA: Civil society urges SEC & Nasdaq to pause Cellebrite listing", Kind.ARTICLE, None),
        ("Operating from the Shadows: Inside a spyware vendor’s corporate structure", Kind.ARTICLE, None),
        ("Israel: Cellebrite says it does not sell to areas sanctioned by US", Kind.ARTICLE, None),
    ],
)
def test_titles_say_whether_a_company_responded(title, kind, company):
    assert classify_title(title) == (kind, company)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (
            "TWC Tech Holdings II Corp., Nasdaq, Sun Corporation",
            ("TWC Tech Holdings II Corp.", "Nasdaq", "Sun Corporation"),
        ),
        ("Glencore, Anglo American & BHP Billiton", ("Glencore", "Anglo American", "BHP Billiton")),
        ("Vale and BHP", ("Vale", "BHP")),
        ("Acacia (formerly African Barrick Gold) Barrick Gold", ("Acacia", "Barrick Gold")),
        ("Procter & Gamble, Unilever", ("Procter & Gamble", "Unilever")),
        ("Apple, Inc., Google", ("Apple, Inc.", "Google")),
        ("ABN Amro, ABN AMRO, Shell", ("ABN Amro", "Shell")),
    ],
)
def test_marker_lists_split_into_names(text, names):
    assert split_company_names(text) == names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13 July 2021", date(2021, 7, 13)),
        ("July 13, 2021", date(2021, 7, 13)),
        ("2 de junio de 2019", date(2019, 6, 2)),
        ("13 juillet 2021", date(2021, 7, 13)),
        ("13. Juli 2021", date(2021, 7, 13)),
        ("2021年7月13日", date(2021, 7, 13)),
        ("2021-07-13", date(2021, 7, 13)),
        ("31 February 2021", None),
        ("yesterday", None),
    ],
)
def test_human_dates(text, expected):
    assert parse_human_date(text) == expected


def test_marker_lines_in_all_their_forms():
    body = (
        "&lt;p&gt;Text.&lt;/p&gt;&lt;p&gt;[Refers to Vale, BHP]&lt;/p&gt;&lt;p&gt;Related companies:&lt;/p&gt;"
        "&lt;p&gt;Samarco&lt;/p&gt;&lt;p&gt;Read the full post here&lt;/p&gt;"
    )
    xml = rss(f"<item><title>Brazil: dam</title><link>https://example.org/a</link><description>{body}</description></item>")
    (entry,) = parse_feed(xml.encode(), feed_url="x", now=NOW).entries
    assert entry.marker_companies == ("Vale", "BHP", "Samarco")
    assert entry.excerpt_text == "Text."
    # [Refers to …] lists companies the story mentions; Related companies, those it is about.
    assert entry.mentioned_companies == ("Vale", "BHP")
    assert entry.mention_line == "[Refers to Vale, BHP]"


def test_a_response_title_names_its_subject_even_when_the_marker_lists_it_too():
    body = "&lt;p&gt;Vale said.&lt;/p&gt;&lt;p&gt;[Also referred to Vale, BHP]&lt;/p&gt;"
    xml = rss(f"<item><title>Vale response</title><link>https://example.org/a</link><description>{body}</description></item>")
    (entry,) = parse_feed(xml.encode(), feed_url="x", now=NOW).entries
    assert (entry.kind, entry.marker_companies, entry.mentioned_companies) == (
        Kind.COMPANY_RESPONSE, ("Vale", "BHP"), ("BHP",))


def test_refers_to_in_the_middle_of_a_sentence_is_prose_not_a_marker():
    body = "&lt;p&gt;The term (refers to agency workers) is defined in the law.&lt;/p&gt;"
    xml = rss(f"<item><title>UK: agency work</title><link>https://example.org/a</link><description>{body}</description></item>")
    (entry,) = parse_feed(xml.encode(), feed_url="x", now=NOW).entries
    assert entry.marker_companies == ()
    assert entry.excerpt_text == "The term (refers to agency workers) is defined in the law."


def test_english_occurrence_with_inline_japanese_does_not_translate_a_japanese_entry_into_itself():
    slug = "israel-cellebrite-says-it-does-not-sell"
    english_body = (
        "&lt;p&gt;Cellebrite said it does not comment on specific customers.&lt;/p&gt;"
        "&lt;p&gt;+ 日本語 - Hide&lt;/p&gt;&lt;p&gt;Author: Japan In-Depth&lt;/p&gt;"
        "&lt;p&gt;…設立総会を開いた…&lt;/p&gt;"
    )
    xml = rss(
        f"<item><title>イスラエル：セルブライト</title><link>{SITE}/ja/最新ニュース/{slug}/</link>"
        "<description>&lt;p&gt;日本語の本文。&lt;/p&gt;</description></item>"
        f"<item><title>Israel: Cellebrite says</title><link>{SITE}/en/latest-news/{slug}/</link>"
        f"<description>{english_body}</description></item>"
    )
    (entry,) = parse_feed(xml.encode(), feed_url="x", now=NOW).entries
    assert (entry.language, entry.title, entry.excerpt_text) == ("ja", "イスラエル：セルブライト", "日本語の本文。")
    (english,) = entry.translations
    assert (english.language, english.title) == ("en", "Israel: Cellebrite says")
    assert english.excerpt_text == "Cellebrite said it does not comment on specific customers."


def test_atom_feeds_are_read_too():
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">'
        "<title>Atom</title><id>urn:feed</id><updated>2021-08-02T10:00:00+02:00</updated>"
        '<entry><title type="html">Vinci n&amp;#8217;a pas r&amp;eacute;pondu</title>'
        f'<link href="{SITE}/fr/derni%C3%A8res-actualit%C3%A9s/vinci/"/><id>urn:1</id>'
        "<updated>2021-08-02T10:00:00+02:00</updated>"
        '<content type="html">&lt;p&gt;Texte &amp;amp; plus.&lt;/p&gt;</content><author><name>jdupont</name></author>'
        "</entry></feed>"
    )
    feed = parse_feed(atom.encode(), feed_url="x", now=NOW)
    (entry,) = feed.entries
    assert (feed.language, entry.language, entry.title) == ("fr", "fr", "Vinci n’a pas répondu")
    assert (entry.kind, entry.marker_companies) == (Kind.COMPANY_NON_RESPONSE, ("Vinci",))
    assert entry.published == datetime(2021, 8, 2, 8, tzinfo=UTC)
    assert (entry.excerpt_text, entry.author) == ("Texte & plus.", None)
