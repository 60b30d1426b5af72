import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhrdigest.digest.match import Matcher, Reason
from bhrdigest.errors import ConfigError
from bhrdigest.model import Component, Kind, Subscriber, Translation

NOW = datetime(2024, 5, 6, tzinfo=UTC)


def component(
    key, *, companies=(), countries=(), regions=(), topics=(), published=NOW, **extra
):
    fields = {
        "key": key,
        "url": f"https://www.business-humanrights.org/en/latest-news/{key}/",
        "title": f"Title {key}",
        "language": "en",
        "published": published,
        "author": None,
        "source_title": None,
        "source_date": None,
        "excerpt_html": "",
        "excerpt_text": "",
        "kind": Kind.ARTICLE,
        "companies": tuple(companies),
        "countries": tuple(countries),
        "regions": tuple(regions),
        "topics": tuple(topics),
    }
    return Component(**(fields | extra))


def subscriber(email="alex@example.org", **interests):
    return Subscriber(email=email, **interests)


def matched(matcher, components, email="alex@example.org"):
    """{component key: reasons} for one subscriber, in the matcher's order."""
    result = matcher.match(components)
    if email not in result:
        return {}
    return {m.component.key: m.reasons for m in result[email]}


HONG_KONG_STORY = component(
    "hk",
    companies=("HSBC", "Standard Chartered"),
    countries=("Hong Kong", "China"),
    regions=("Asia & Pacific",),
    topics=("Civic freedoms & human rights defenders",),
)


def test_followed_company_matches_and_says_which_company():
    matcher = Matcher([subscriber(companies=("HSBC",))])
    assert matched(matcher, [HONG_KONG_STORY]) == {"hk": (Reason("company", "HSBC"),)}


def test_followed_topic_matches_and_says_which_topic():
    matcher = Matcher([subscriber(topics=("Civic freedoms & human rights defenders",))])
    assert matched(matcher, [HONG_KONG_STORY]) == {
        "hk": (Reason("topic", "Civic freedoms & human rights defenders"),)
    }


@pytest.mark.parametrize("place", ["Hong Kong", "China", "Asia & Pacific"])
def test_region_covers_its_countries_and_a_country_its_territories(place):
    matcher = Matcher([subscriber(places=(place,))])
    assert matched(matcher, [HONG_KONG_STORY]) == {"hk": (Reason("place", place),)}


def test_territory_does_not_cover_its_country():
    mainland = component("cn", countries=("China",), regions=("Asia & Pacific",))
    matcher = Matcher([subscriber(places=("Hong Kong",))])
    assert matched(matcher, [mainland]) == {}


def test_unfollowed_component_does_not_reach_the_subscriber():
    other = component(
        "x", companies=("Shell",), countries=("Nigeria",), regions=("Africa",)
    )
    matcher = Matcher([subscriber(companies=("HSBC",), places=("Asia & Pacific",))])
    assert matcher.match([other]) == {}


def test_every_matching_interest_is_a_reason_company_then_place_then_topic():
    matcher = Matcher(
        [
            subscriber(
                companies=("Standard Chartered", "HSBC"),
                places=("Asia & Pacific", "Hong Kong"),
                topics=("Civic freedoms & human rights defenders",),
            )
        ]
    )
    assert matched(matcher, [HONG_KONG_STORY])["hk"] == (
        Reason("company", "HSBC"),
        Reason("company", "Standard Chartered"),
        Reason("place", "Hong Kong"),
        Reason("place", "Asia & Pacific"),
        Reason("topic", "Civic freedoms & human rights defenders"),
    )


def test_match_all_needs_every_facet_the_subscriber_filled_in():
    hsbc_only = component("a", companies=("HSBC",), countries=("United Kingdom",))
    hsbc_on_labour = component("b", companies=("HSBC",), topics=("Labour rights",))
    matcher = Matcher(
        [subscriber(companies=("HSBC",), topics=("Labour rights",), match_all=True)]
    )
    # places left empty: ignored, not required
    assert list(matched(matcher, [hsbc_only, hsbc_on_labour])) == ["b"]


def test_match_any_takes_either_facet():
    hsbc_only = component("a", companies=("HSBC",))
    labour_only = component("b", topics=("Labour rights",))
    matcher = Matcher([subscriber(companies=("HSBC",), topics=("Labour rights",))])
    assert set(matched(matcher, [hsbc_only, labour_only])) == {"a", "b"}


def test_match_all_with_several_places_needs_only_one_of_them():
    kenya = component("k", countries=("Kenya",), topics=("Labour rights",))
    matcher = Matcher(
        [
            subscriber(
                places=("Kenya", "Brazil"), topics=("Labour rights",), match_all=True
            )
        ]
    )
    assert list(matched(matcher, [kenya])) == ["k"]


def test_backdated_component_matches_like_a_new_one():
    fresh = component("new", companies=("HSBC",), published=NOW)
    backdated = component(
        "old", companies=("HSBC",), published=NOW - timedelta(days=400)
    )
    undated = component("undated", companies=("HSBC",), published=None)
    matcher = Matcher([subscriber(companies=("HSBC",))])
    assert set(matched(matcher, [fresh, backdated, undated])) == {
        "new",
        "old",
        "undated",
    }


def test_language_never_filters_a_match():
    japanese_only = component("ja", companies=("HSBC",), language="ja")
    with_translation = component(
        "tr", companies=("HSBC",), translations=(Translation("ja", "HSBC：タイトル"),)
    )
    matcher = Matcher([subscriber(companies=("HSBC",), languages=("fr",))])
    assert set(matched(matcher, [japanese_only, with_translation])) == {"ja", "tr"}


def test_list_is_ordered_company_place_topic_then_newest_first_undated_last():
    components = [
        component("topic-new", topics=("Labour rights",), published=NOW),
        component("place-old", countries=("Kenya",), published=NOW - timedelta(days=3)),
        component("company-undated", companies=("HSBC",), published=None),
        component(
            "company-old", companies=("HSBC",), published=NOW - timedelta(days=9)
        ),
        component("company-new", companies=("HSBC",), published=NOW),
        component("place-new", countries=("Kenya",), published=NOW),
    ]
    matcher = Matcher(
        [subscriber(companies=("HSBC",), places=("Kenya",), topics=("Labour rights",))]
    )
    assert list(matched(matcher, components)) == [
        "company-new",
        "company-old",
        "company-undated",
        "place-new",
        "place-old",
        "topic-new",
    ]


def test_results_are_keyed_by_lower_cased_email_and_looked_up_case_blind():
    matcher = Matcher([subscriber(email="Alex@Example.ORG", companies=("HSBC",))])
    result = matcher.match([HONG_KONG_STORY])
    assert list(result) == ["alex@example.org"]
    assert result["ALEX@example.org"][0].component.key == "hk"


def test_subscriber_following_nothing_gets_nothing():
    matcher = Matcher([subscriber()])
    assert matcher.match([HONG_KONG_STORY]) == {}


def test_same_address_twice_is_a_configuration_error():
    with pytest.raises(ConfigError, match="alex@example.org is listed twice"):
        Matcher([subscriber(companies=("HSBC",)), subscriber(email="ALEX@example.org")])


def test_each_lookup_gives_a_list_the_caller_may_change():
    matcher = Matcher([subscriber(companies=("HSBC",))])
    result = matcher.match([HONG_KONG_STORY])
    result["alex@example.org"].clear()
    assert len(result["alex@example.org"]) == 1


def test_subscribers_with_the_same_interests_get_the_same_matches():
    same = {"companies": ("HSBC",), "places": ("Kenya",)}
    matcher = Matcher(
        [subscriber("a@example.org", **same), subscriber("b@example.org", **same)]
    )
    result = matcher.match([HONG_KONG_STORY])
    assert result["a@example.org"] == result["b@example.org"] != []
    assert matcher.profile_count == 1


def test_component_listed_twice_is_matched_once():
    matcher = Matcher([subscriber(companies=("HSBC",))])
    assert (
        len(matcher.match([HONG_KONG_STORY, HONG_KONG_STORY])["alex@example.org"]) == 1
    )


# ----------------------------------------------------- against a naive reference

COMPANIES = ["HSBC", "Shell", "Cellebrite", "Nestlé", "Sun Corporation"]
COUNTRIES = {
    "Hong Kong": ("China",),
    "China": (),
    "Israel": (),
    "Kenya": (),
    "Brazil": (),
}
REGION_OF = {
    "Hong Kong": "Asia & Pacific",
    "China": "Asia & Pacific",
    "Israel": "Middle East & North Africa",
    "Kenya": "Africa",
    "Brazil": "Americas",
}
PLACES = list(COUNTRIES) + sorted(set(REGION_OF.values()))
TOPICS = ["Labour rights", "Technology & human rights", "Conflict & security"]


def naive_match(subscribers, components):
    """Every subscriber against every component: slow, obviously right."""
    result = {}
    for sub in subscribers:
        found = []
        for comp in components:
            facets = [
                ("company", comp.companies, sub.companies),
                ("mention", comp.mentions, sub.companies),
                ("place", comp.countries + comp.regions, sub.places),
                ("topic", comp.topics, sub.topics),
            ]
            reasons = tuple(
                Reason(facet, name)
                for facet, tags, followed in facets
                for name in dict.fromkeys(tags)
                if name in followed
            )
            as_company = {"mention": "company"}  # match: all: a mention names the company too
            hit = {as_company.get(r.facet, r.facet) for r in reasons}
            wanted = {as_company.get(facet, facet) for facet, _, followed in facets if followed}
            if not reasons or (sub.match_all and not wanted <= hit):
                continue
            found.append((comp, reasons))
        if found:
            order = ["company", "mention", "place", "topic"]
            found.sort(
                key=lambda f: (
                    order.index(f[1][0].facet),
                    (0, -f[0].published.timestamp()) if f[0].published else (1, 0),
                    f[0].key,
                )
            )
            result[sub.email.lower()] = [(c.key, r) for c, r in found]
    return result


def indexed_match(subscribers, components):
    result = Matcher(subscribers).match(components)
    return {
        email: [(m.component.key, m.reasons) for m in result[email]] for email in result
    }


def random_component(rng, key):
    countries = rng.sample(list(COUNTRIES), rng.randint(0, 2))
    with_parents = list(dict.fromkeys(c for x in countries for c in (x, *COUNTRIES[x])))
    companies = rng.sample(COMPANIES, rng.randint(0, 3))
    return component(
        key,
        companies=companies[:2],
        mentions=tuple(companies[2:]) if rng.random() < 0.5 else (),  # only mentioned
        first_seen=NOW - timedelta(days=rng.randint(0, 60)),  # some published long before
        title=f"Title {rng.random()}",
        countries=with_parents,
        regions=sorted({REGION_OF[c] for c in with_parents}),
        topics=rng.sample(TOPICS, rng.randint(0, 2)),
        published=None
        if rng.random() < 0.2
        else NOW - timedelta(days=rng.randint(0, 500)),
    )


def random_subscriber(rng, number):
    return Subscriber(
        email=f"Reader{number}@Example.org",
        companies=tuple(rng.sample(COMPANIES, rng.choice([0, 0, 1, 2]))),
        places=tuple(rng.sample(PLACES, rng.choice([0, 0, 1, 2]))),
        topics=tuple(rng.sample(TOPICS, rng.choice([0, 1]))),
        match_all=rng.random() < 0.3,
    )


def test_indexed_matching_equals_naive_matching_on_seeded_random_data():
    rng = random.Random(20240506)
    components = [random_component(rng, f"c{i}") for i in range(300)]
    subscribers = [random_subscriber(rng, i) for i in range(400)]
    expected = naive_match(subscribers, components)
    assert expected  # the data does produce matches
    assert indexed_match(subscribers, components) == expected


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    sizes=st.tuples(st.integers(0, 25), st.integers(0, 25)),
)
def test_indexed_matching_equals_naive_matching_on_any_data(seed, sizes):
    rng = random.Random(seed)
    components = [random_component(rng, f"c{i}") for i in range(sizes[0])]
    subscribers = [random_subscriber(rng, i) for i in range(sizes[1])]
    assert indexed_match(subscribers, components) == naive_match(
        subscribers, components
    )
