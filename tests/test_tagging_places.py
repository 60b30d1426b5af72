"""Places: every spelling staff and feeds use, title prefixes, running text, expansion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bhrdigest.ingest.tagging import places_data
from bhrdigest.ingest.tagging.places import (
    BHRRC_REGIONS,
    _gazetteer,
    all_place_names,
    countries_in,
    expand_places,
    find_places,
    lookup_place,
    split_prefix,
)

DRC = "Democratic Republic of the Congo"
OPT = "Occupied Palestinian Territories"
MENA = "Middle East & North Africa"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Israel", "Israel"),
        ("israel", "Israel"),
        ("So. Africa", "South Africa"),
        ("Dem. Rep. of Congo", DRC),
        ("DRC", DRC),
        ("OPT", OPT),
        ("Palestine", OPT),
        ("UK", "United Kingdom"),
        ("UAE", "United Arab Emirates"),
        ("S. Korea", "South Korea"),
        ("USA", "USA"),
        ("US", "USA"),
        ("U.S.", "USA"),
        ("United States of America", "USA"),
        ("EU", "European Union"),
        ("Middle East & No. Africa", MENA),
        ("Middle East and North Africa", MENA),
        ("México", "Mexico"),
        ("Brasil", "Brazil"),
        ("Südafrika", "South Africa"),
        ("Sudafrica", "South Africa"),
        ("España", "Spain"),
        ("Deutschland", "Germany"),
        ("Côte d'Ivoire", "Côte d'Ivoire"),
        ("Cote d’Ivoire", "Côte d'Ivoire"),
        ("Ivory Coast", "Côte d'Ivoire"),
        ("Burma", "Myanmar"),
        ("イスラエル", "Israel"),
        ("中国", "China"),
        ("香港", "Hong Kong"),
        ("日本", "Japan"),
        ("アメリカ", "USA"),
        ("米国", "USA"),
        ("ミャンマー", "Myanmar"),
        ("缅甸", "Myanmar"),
        ("ＵＳＡ", "USA"),
        ("Israel & OPT", "Israel & Occupied Palestinian Territories"),
        ("Morocco/Western Sahara", "Morocco / Western Sahara"),
        ("Jordan", "Jordan"),
        ("Georgia", "Georgia"),
    ],
)
def test_lookup_place_accepts_every_spelling_in_use(spelling, canonical):
    place = lookup_place(spelling)
    assert place is not None, spelling
    assert place.name == canonical


@pytest.mark.parametrize("not_a_place", ["Bahrain Watch", "Operating from the Shadows", "Cellebrite", "", "  "])
def test_lookup_place_rejects_what_is_not_a_place(not_a_place):
    assert lookup_place(not_a_place) is None


def test_place_kinds_and_parents_describe_the_taxonomy():
    assert lookup_place("Asia & Pacific").kind == "region"
    assert lookup_place("China").kind == "country"
    hong_kong = lookup_place("Hong Kong")
    assert (hong_kong.kind, hong_kong.parents, hong_kong.regions) == ("territory", ("China",), ("Asia & Pacific",))


def test_every_canonical_name_looks_up_to_itself_and_no_spelling_is_shared():
    names = all_place_names()
    assert set(BHRRC_REGIONS) <= set(names)
    assert len(names) == len(set(names)) > 230
    assert all(lookup_place(name).name == name for name in names)
    assert _gazetteer().conflicts == []


def test_every_country_sits_in_a_bhrrc_region_and_every_territory_under_a_country():
    for name, (regions, _) in places_data.COUNTRIES.items():
        assert regions[0] in BHRRC_REGIONS, name
        assert all(lookup_place(r) is not None for r in regions), name
    for name, (parents, regions, _) in places_data.TERRITORIES.items():
        assert all(lookup_place(p).kind == "country" for p in parents), name
        assert regions[0] in BHRRC_REGIONS, name


@pytest.mark.parametrize(
    ("title", "places", "rest"),
    [
        ("Israel: Cellebrite says it does not sell", ("Israel",), "Cellebrite says it does not sell"),
        ("イスラエル：セレブライト社の回答", ("Israel",), "セレブライト社の回答"),
        ("Hong Kong: Tiktok withdraws", ("Hong Kong",), "Tiktok withdraws"),
        ("So. Africa: Miners strike", ("South Africa",), "Miners strike"),
        ("Ukraine, Serbia & Hungary: Report", ("Ukraine", "Serbia", "Hungary"), "Report"),
        ("Israel/OPT & DRC: Contracts", ("Israel", OPT, DRC), "Contracts"),
        ("Israel/OPT & Dem. Rep. of Congo: Govt. contracts", ("Israel", OPT, DRC), "Govt. contracts"),
        ("Bosnia & Herzegovina, Serbia: Dams", ("Bosnia and Herzegovina", "Serbia"), "Dams"),
        ("Trinidad and Tobago: Oil", ("Trinidad and Tobago",), "Oil"),
        ("Morocco / Western Sahara: Phosphate", ("Morocco", "Western Sahara"), "Phosphate"),
        ("México y Guatemala: Minería", ("Mexico", "Guatemala"), "Minería"),
        ("Jordan: Garment workers", ("Jordan",), "Garment workers"),
        ("EU: Due diligence directive", ("European Union",), "Due diligence directive"),
        ("Middle East & No. Africa: Migrant workers", (MENA,), "Migrant workers"),
    ],
)
def test_split_prefix_reads_place_prefixes(title, places, rest):
    assert split_prefix(title) == (places, rest)


@pytest.mark.parametrize(
    "title",
    [
        "Operating from the Shadows: Inside a spyware vendor's corporate structure",
        "Bahrain Watch: Report on spyware",
        "Cellebrite's response",
        "Sun Corporation did not respond",
        "Israel & Bahrain Watch: joint report",
        "Meeting at 10:30",
        "",
    ],
)
def test_split_prefix_leaves_titles_without_a_place_prefix_unchanged(title):
    assert split_prefix(title) == ((), title)


def test_find_places_is_word_bounded():
    assert find_places("A woman from Nigeria spoke.") == ("Nigeria",)
    assert find_places("Niger and Nigeria") == ("Niger", "Nigeria")
    assert find_places("South Sudan and Sudan") == ("South Sudan", "Sudan")


def test_find_places_needs_a_proper_noun_for_words_with_other_meanings():
    assert find_places("a turkey dinner on fine china, near a chad of paper") == ()
    assert find_places("Workers in Turkey, China and Chad") == ("Turkey", "China", "Chad")


def test_find_places_reads_capitals_only_abbreviations_only_in_capitals():
    assert find_places("let us know") == ()
    assert find_places("Us and them") == ()
    assert find_places("sanctioned by the US and the U.K.") == ("USA", "United Kingdom")


def test_find_places_skips_spellings_too_ambiguous_for_running_text():
    assert find_places("Michael Jordan visited a plant in Georgia") == ()


def test_find_places_does_not_read_sums_of_money_as_places():
    assert find_places("raise over HK$1,000,000 (about US$130,000)") == ()


def test_find_places_prefers_the_longest_name():
    assert find_places("Dem. Rep. of Congo and Rep. of the Congo") == (DRC, "Republic of the Congo")
    assert find_places("Papua New Guinea, Equatorial Guinea") == ("Papua New Guinea", "Equatorial Guinea")
    assert find_places("a plant in New Mexico") == ("USA",)


def test_find_places_reads_cjk_names_inside_running_text():
    assert find_places("まず、香港の自決を掲げる政党") == ("Hong Kong",)
    assert find_places("イスラエルの人権弁護士") == ("Israel",)
    assert find_places("タイトルとタイムライン") == ()


def test_find_places_reads_a_composite_place_as_its_members():
    assert find_places("Israel and the Occupied Palestinian Territories") == ("Israel", OPT)


def test_find_places_ignores_regions_in_running_text():
    assert find_places("companies operating across Asia and Europe") == ()


def test_expand_places_adds_parents_and_regions():
    assert expand_places(["Hong Kong"]) == (("Hong Kong", "China"), ("Asia & Pacific",))


@pytest.mark.parametrize(
    ("country", "regions"),
    [
        ("Sudan", ("Africa", MENA)),
        ("Turkey", ("Europe & Central Asia", MENA)),
        ("Iran", (MENA, "Asia & Pacific")),
    ],
)
def test_expand_places_gives_every_region_of_a_country_in_several(country, regions):
    assert expand_places([country]) == ((country,), regions)


def test_expand_places_adds_groupings_so_that_following_them_covers_members():
    _, regions = expand_places(["Germany"])
    assert regions == ("Europe & Central Asia", "European Union")
    countries, regions = expand_places(["Israel"])
    assert countries == ("Israel",)
    assert "Israel & Occupied Palestinian Territories" in regions


def test_expand_places_of_a_composite_gives_its_members():
    countries, regions = expand_places(["Israel & Occupied Palestinian Territories"])
    assert countries == ("Israel", OPT)
    assert regions == (MENA, "Israel & Occupied Palestinian Territories")


def test_expand_places_keeps_a_region_without_its_countries():
    assert expand_places(["European Union"]) == ((), ("European Union", "Europe & Central Asia"))


def test_expand_places_gives_a_territory_its_own_region_not_its_parents():
    countries, regions = expand_places(["French Polynesia"])
    assert countries == ("French Polynesia", "France")
    assert regions == ("Asia & Pacific",)


def test_expand_places_ignores_unknown_names():
    assert expand_places(["Atlantis", "Chile"]) == (("Chile",), ("Americas",))


def test_countries_in_a_region_include_territories_and_not_other_regions():
    asia = countries_in("Asia & Pacific")
    assert {"China", "Hong Kong", "Japan", "Iran"} <= set(asia)
    assert "Germany" not in asia and "European Union" not in countries_in("Europe & Central Asia")
    assert countries_in("Israel & OPT") == ("Israel", OPT)
    assert countries_in("China") == ("China", "Hong Kong", "Macau", "Xinjiang")
    assert countries_in("Atlantis") == ()


@given(
    st.one_of(
        st.text(max_size=80),
        st.tuples(
            st.sampled_from(all_place_names()), st.sampled_from([":", "：", " : ", " & ", "/"]), st.text(max_size=30)
        ).map("".join),
    )
)
def test_split_prefix_only_ever_removes_a_leading_prefix(title):
    places, rest = split_prefix(title)
    assert rest == title if not places else title.endswith(rest) and len(rest) < len(title)
    assert all(lookup_place(p) is not None for p in places)
