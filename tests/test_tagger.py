"""Tagger: an Entry from a feed becomes a Component a subscriber can be matched on."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bhrdigest.ingest.tagging import Tagger
from bhrdigest.ingest.tagging.places import lookup_place
from bhrdigest.model import Catalogue, Company, Entry, Kind, Translation

CATALOGUE = Catalogue(
    companies=(
        Company("HSBC", ("HSBC Holdings", "Hongkong and Shanghai Banking Corporation")),
        Company("Jardine Matheson", ("Jardine Matheson Group",)),
        Company("Mandarin Oriental Hotel Group", ("Mandarin Oriental hotel",)),
        Company("Cathay Pacific"),
        Company("Standard Chartered"),
        Company("Aviva Investors"),
        Company("Federated Hermes"),
        Company("Cellebrite", ("セレブライト",)),
        Company("WhatsApp"),
        Company("Acacia Mining", ("African Barrick Gold",)),
    ),
    topics={"Surveillance exports": ("phone hacking", "spyware")},
    regions={"Greater China": ("China", "Taiwan")},
)
TAGGER = Tagger(CATALOGUE)

# From the seed story page: the component of 2 July 2020.
HSBC_ENTRY = Entry(
    key="federated-hermes-raises-concerns",
    url="https://business-humanrights.org/en/latest-news/federated-hermes-raises-concerns/",
    title="Federated Hermes raises concerns over HSBC's public support of national security law in Hong Kong",
    language="en",
    published=datetime(2020, 7, 2, tzinfo=UTC),
    author="South China Morning Post (Hong Kong)",
    source_title="Asset manager Federated Hermes raises concerns over HSBC’s public support of national security law",
    source_date=date(2020, 6, 29),
    excerpt_html="<p>HSBC is facing more questions…</p>",
    excerpt_text=(
        "HSBC is facing more questions over its public support of a controversial national security law for "
        "Hong Kong. Federated Hermes is the latest organisation to raise concerns about HSBC’s backing of the "
        "legislation after Aviva Investors publicly rebuked the London-based lender and its rival Standard "
        "Chartered earlier… over the new law. Federated Hermes previously told the South China Morning Post "
        "that it actively screens for allegations of human rights violations… A HSBC spokeswoman declined to "
        "comment…"
    ),
    kind=Kind.ARTICLE,
    marker_companies=("Jardine Matheson Group", "Mandarin Oriental hotel", "Cathay Pacific"),
    guid="guid-1",
)


def entry(title: str, excerpt: str = "", **fields) -> Entry:
    fields = {"marker_companies": (), **fields}
    return dataclasses.replace(HSBC_ENTRY, title=title, excerpt_text=excerpt, **fields)


def test_a_company_only_mentioned_is_kept_apart_unless_the_text_names_it_too():
    mentioned = ("Jardine Matheson Group", "Mandarin Oriental hotel", "HSBC Holdings")
    component = TAGGER.tag(dataclasses.replace(HSBC_ENTRY, marker_companies=mentioned, mentioned_companies=mentioned,
                                               mention_line="[Also referred to Jardine Matheson Group, …]"))
    # The excerpt names HSBC itself: a subject. The other two are only mentioned.
    assert "HSBC" in component.companies
    assert component.mentions == ("Jardine Matheson", "Mandarin Oriental Hotel Group")
    assert component.mention_line == "[Also referred to Jardine Matheson Group, …]"


def test_seed_hsbc_component_is_tagged_with_its_companies_places_and_topic():
    component = TAGGER.tag(HSBC_ENTRY)
    assert component.companies == (
        "Jardine Matheson",
        "Mandarin Oriental Hotel Group",
        "Cathay Pacific",
        "Federated Hermes",
        "HSBC",
        "Aviva Investors",
        "Standard Chartered",
    )
    assert component.countries == ("Hong Kong", "China")
    assert component.regions == ("Asia & Pacific", "Greater China")
    assert component.topics == ("Civic freedoms & human rights defenders",)


def test_what_tagging_does_not_touch_passes_through_unchanged():
    component = TAGGER.tag(HSBC_ENTRY)
    for field in ("key", "url", "title", "language", "published", "author", "source_title", "source_date",
                  "excerpt_html", "excerpt_text", "kind", "translations", "guid"):
        assert getattr(component, field) == getattr(HSBC_ENTRY, field), field
    assert component.to_json()["countries"] == ["Hong Kong", "China"]


def test_a_translation_adds_the_places_and_companies_its_own_words_name():
    translated = entry(
        "Israel: Cellebrite says it does not sell to areas sanctioned by US",
        "Wong wrote that software developed by an Israeli company was used by the Hong Kong Police.",
        translations=(
            Translation(
                "ja",
                "イスラエル：セレブライト社、香港警察への輸出について",
                excerpt_text="まず、香港の自決を掲げる政党",
            ),
        ),
    )
    component = TAGGER.tag(translated)
    assert component.countries == ("Israel", "USA", "Hong Kong", "China")
    assert component.regions == (
        "Middle East & North Africa",
        "Israel & Occupied Palestinian Territories",
        "Americas",
        "Asia & Pacific",
        "Greater China",
    )
    assert component.companies == ("Cellebrite",)
    assert component.translations == translated.translations


def test_a_japanese_only_title_with_a_full_width_colon_is_placed():
    component = TAGGER.tag(entry("イスラエル：セレブライト社の回答", language="ja"))
    assert component.countries == ("Israel",)
    assert component.companies == ("Cellebrite",)


def test_a_multi_place_prefix_tags_each_place_and_its_region():
    component = TAGGER.tag(entry("Israel/OPT & Dem. Rep. of Congo: Govt. contracts with surveillance cos. questioned"))
    assert component.countries == ("Israel", "Occupied Palestinian Territories", "Democratic Republic of the Congo")
    assert component.regions == ("Middle East & North Africa", "Israel & Occupied Palestinian Territories", "Africa")
    assert component.topics == ("Technology & human rights", "Surveillance")


def test_a_prefix_that_is_not_a_place_tags_no_place():
    component = TAGGER.tag(entry("Operating from the Shadows: Inside a spyware vendor's corporate structure"))
    assert (component.countries, component.regions) == ((), ())
    assert component.topics == ("Technology & human rights", "Surveillance", "Surveillance exports")


def test_a_company_response_is_tagged_with_its_company():
    component = TAGGER.tag(entry("Cellebrite's response", kind=Kind.COMPANY_RESPONSE, marker_companies=("cellebrite",)))
    assert component.companies == ("Cellebrite",)
    assert component.kind is Kind.COMPANY_RESPONSE
    assert component.countries == ()


def test_an_unknown_marker_company_is_kept_as_written_and_not_repeated():
    component = TAGGER.tag(
        entry(
            "USA: Civil society urges SEC & Nasdaq to pause Cellebrite listing",
            "[Also referred to TWC Tech Holdings II Corp., Nasdaq, Sun Corporation]",
            marker_companies=(
                "TWC Tech Holdings II Corp.",
                "Nasdaq",
                "Sun  Corporation",
                "Whatsapp",
                "sun corporation",
            ),
        )
    )
    assert component.companies == ("TWC Tech Holdings II Corp.", "Nasdaq", "Sun Corporation", "WhatsApp", "Cellebrite")


def test_a_marker_with_a_former_name_resolves_through_the_catalogue():
    component = TAGGER.tag(
        entry(
            "Tanzania: Mine", marker_companies=("Acacia (formerly African Barrick Gold)", "Petra (ex Petra Diamonds)")
        )
    )
    assert component.companies == ("Acacia Mining", "Petra")


def test_feed_categories_add_places_topics_and_companies():
    component = TAGGER.tag(entry("A report", feed_categories=("Myanmar", "Forced labour", "HSBC Holdings", "misc")))
    assert component.countries == ("Myanmar",)
    assert component.regions == ("Asia & Pacific",)
    assert component.topics == ("Forced labour & modern slavery", "Labour rights")
    assert component.companies == ("HSBC",)


def test_an_empty_entry_is_tagged_with_nothing():
    component = TAGGER.tag(entry("", ""))
    assert (component.companies, component.countries, component.regions, component.topics) == ((), (), (), ())


def test_tagger_exposes_its_company_index_for_reuse():
    assert TAGGER.companies.lookup("hsbc holdings") == "HSBC"
    assert TAGGER.companies.suggest("Celebrite") == ["Cellebrite"]


@settings(max_examples=200, deadline=None)
@given(title=st.text(max_size=120), excerpt=st.text(max_size=300))
def test_any_text_is_tagged_consistently_without_failing(title, excerpt):
    component = TAGGER.tag(entry(title, excerpt, marker_companies=(title[:20],)))
    assert component.title == title
    # Every place comes with its containing countries and its regions; a country added
    # only as a territory's parent brings no regions (Sint Maarten is not in Europe).
    places = [lookup_place(country) for country in component.countries]
    parents = {parent for place in places for parent in place.parents}
    for place in places:
        assert set(place.parents) <= set(component.countries)
        assert place.name in parents or set(place.regions) <= set(component.regions)
    assert len(set(component.companies)) == len(component.companies)
