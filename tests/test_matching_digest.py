"""Matches.for_digest: only the matches a digest can show, the same digest as from
the whole list, and selections shared between subscribers only where that is right."""

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from test_matching import (
    NOW,
    component,
    random_component,
    random_subscriber,
    subscriber,
)

from bhrdigest.digest.build import build_digest
from bhrdigest.digest.match import Matcher, Reason


def digest_from_whole_list(matches, sub, max_items, exclude=()):
    found = [m for m in matches[sub.email] if m.component.key not in exclude]
    return build_digest(sub, found, max_items=max_items) if found else None


def digest_for(matches, sub, max_items, exclude=()):
    shown, total = matches.for_digest(sub.email, max_items, exclude=exclude)
    return build_digest(sub, shown, max_items=max_items, total=total) if shown else None


@pytest.mark.parametrize("seed", [20240506, 7, 99])
def test_digest_from_the_selection_equals_the_digest_from_the_whole_list(seed):
    rng = random.Random(seed)
    # Titles unrelated to keys: a digest orders a tie in date by title, the list by key.
    components = [replace(random_component(rng, f"c{i}"), title=f"{rng.random()}") for i in range(300)]
    # Few distinct interests, so many subscribers share a profile; dates repeat
    # (500 days, a fifth undated), so a section's cut often falls inside a tie.
    subscribers = [random_subscriber(rng, i) for i in range(300)]
    matches = Matcher(subscribers).match(components)
    keys = [c.key for c in components]
    checked = 0
    for round_ in range(2):  # twice: a shared selection must survive its readers' countdown
        for number, sub in enumerate(subscribers):
            if sub.email not in matches:
                continue
            max_items = 1 + (number + round_) % 7
            exclude = set(rng.sample(keys, 60)) if number % 3 == 0 else set()
            expected = digest_from_whole_list(matches, sub, max_items, exclude)
            assert digest_for(matches, sub, max_items, exclude) == expected, (sub.email, max_items)
            checked += 1
    assert checked > 300  # the data does produce digests


def test_same_interests_different_deliveries_each_get_their_own_selection():
    same = {"companies": ("HSBC",)}
    readers = [subscriber(f"r{i}@example.org", **same) for i in range(3)]
    stories = [component(f"s{i}", companies=("HSBC",), published=NOW - timedelta(days=i)) for i in range(6)]
    matches = Matcher(readers).match(stories)
    first, second, third = (r.email for r in readers)

    full, total = matches.for_digest(first, 3)
    assert [m.component.key for m in full] == ["s0", "s1", "s2"] and total == 6
    # Already had the two newest: the next three, and two fewer in all.
    after, total = matches.for_digest(second, 3, exclude={"s0", "s1"})
    assert [m.component.key for m in after] == ["s2", "s3", "s4"] and total == 4
    # Delivered keys that are not among the matches change nothing.
    same_again, total = matches.for_digest(third, 3, exclude={"elsewhere"})
    assert [m.component.key for m in same_again] == ["s0", "s1", "s2"] and total == 6
    # Looked up again after every reader had theirs: still the whole selection,
    # and a larger digest gets a larger one.
    assert matches.for_digest(first, 3) == (full, 6)
    assert [m.component.key for m in matches.for_digest(second, 5)[0]] == ["s0", "s1", "s2", "s3", "s4"]
    assert matches.for_digest(second, 3, exclude={f"s{i}" for i in range(6)}) == ((), 0)


def test_languages_do_not_change_what_a_digest_selects():
    readers = [
        subscriber("en@example.org", companies=("HSBC",), languages=("en",)),
        subscriber("ja@example.org", companies=("HSBC",), languages=("ja", "en")),
    ]
    stories = [component("ja-story", companies=("HSBC",), language="ja"), component("en-story", companies=("HSBC",))]
    matches = Matcher(readers).match(stories)
    assert matches.for_digest("en@example.org", 40) == matches.for_digest("ja@example.org", 40)
    assert {m.component.key for m in matches.for_digest("ja@example.org", 40)[0]} == {"ja-story", "en-story"}


def test_one_component_gives_each_reader_the_reasons_they_follow():
    story = component("hk", companies=("HSBC",), countries=("Hong Kong", "China"), regions=("Asia & Pacific",))
    readers = [
        subscriber("bank@example.org", companies=("HSBC",)),
        subscriber("both@example.org", companies=("HSBC",), places=("China",)),
        subscriber("region@example.org", places=("Asia & Pacific", "Hong Kong")),
    ]
    matches = Matcher(readers).match([story])
    reasons = {r.email: matches.for_digest(r.email, 40)[0][0].reasons for r in readers}
    assert reasons == {
        "bank@example.org": (Reason("company", "HSBC"),),
        "both@example.org": (Reason("company", "HSBC"), Reason("place", "China")),
        "region@example.org": (Reason("place", "Hong Kong"), Reason("place", "Asia & Pacific")),
    }
    assert matches["both@example.org"][0].reasons == reasons["both@example.org"]


def test_ties_in_date_at_the_cut_are_all_selected():
    same_day = [component(f"t{i}", topics=("Labour rights",), published=NOW - timedelta(days=1)) for i in range(4)]
    newest = component("new", topics=("Labour rights",), published=NOW)
    older = component("old", topics=("Labour rights",), published=NOW - timedelta(days=2))
    matches = Matcher([subscriber(topics=("Labour rights",))]).match([older, *same_day, newest])
    shown, total = matches.for_digest("alex@example.org", 2)
    # The digest sorts a tie by title, so every item dated like the last one that fits is a candidate.
    assert [m.component.key for m in shown] == ["new", "t0", "t1", "t2", "t3"] and total == 6
