"""Topics: BHRRC's big issues, older issues under them, and topics from subscriptions.yaml."""

from __future__ import annotations

import pytest

from bhrdigest.ingest.tagging.topics import (
    BIG_ISSUES,
    BUILTIN_TOPICS,
    TOPIC_ALIASES,
    TOPIC_PARENTS,
    TopicIndex,
    all_topic_names,
    lookup_topic,
)

LABOUR = "Labour rights"
TECH = "Technology & human rights"
CIVIC = "Civic freedoms & human rights defenders"
LEGAL = "Corporate legal accountability"
RESOURCES = "Natural resources & just transition"
CONFLICT = "Conflict & security"

BUILTIN = TopicIndex({})


def test_the_six_big_issues_are_built_in_and_every_older_issue_sits_under_one():
    assert BIG_ISSUES == (LABOUR, RESOURCES, TECH, CIVIC, LEGAL, CONFLICT)
    assert set(BIG_ISSUES) <= set(BUILTIN_TOPICS)
    assert set(TOPIC_PARENTS) == set(BUILTIN_TOPICS) - set(BIG_ISSUES)
    assert set(TOPIC_PARENTS.values()) <= set(BIG_ISSUES)
    assert set(TOPIC_ALIASES.values()) <= set(BUILTIN_TOPICS)


@pytest.mark.parametrize(
    ("text", "topics"),
    [
        ("HSBC backs a controversial national security law for Hong Kong", (CIVIC,)),
        ("Uyghur forced labour in cotton supply chains", ("Forced labour & modern slavery", LABOUR)),
        ("Child labor found at cocoa farms", ("Child labour", LABOUR)),
        ("Cellebrite was used to hack into phones; spyware sales", (TECH, "Surveillance")),
        ("Villagers file lawsuits against the mining company", (LEGAL, RESOURCES)),
        ("Soldiers and security forces guard the mine site", (CONFLICT,)),
        ("Indigenous peoples say free, prior and informed consent was never sought", ("Indigenous peoples", RESOURCES)),
        ("Trabajo forzoso en la minería", ("Forced labour & modern slavery", LABOUR, RESOURCES)),
        ("Klage wegen Zwangsarbeit", (LEGAL, "Forced labour & modern slavery", LABOUR)),
        ("新疆の強制労働", ("Forced labour & modern slavery", LABOUR)),
    ],
)
def test_keywords_find_topics_with_their_big_issue(text, topics):
    assert BUILTIN.find(text) == topics


def test_keywords_are_word_bounded_and_case_insensitive():
    assert BUILTIN.find("a warehouse software update") == ()
    assert BUILTIN.find("WAR CRIMES alleged") == (CONFLICT,)


def test_a_plural_finds_a_keyword():
    assert BUILTIN.find("three activists arrested") == (CIVIC,)
    assert BUILTIN.find("armies deployed") == (CONFLICT,)


def test_yaml_topics_extend_built_in_topics_by_any_of_their_names():
    index = TopicIndex({"Tech & human rights": ["ProtonVPN", "user information"]})
    assert index.find("ProtonVPN donates revenue") == (TECH,)
    assert BUILTIN.find("ProtonVPN donates revenue") == ()


def test_yaml_topics_add_new_topics_found_by_their_keywords():
    index = TopicIndex({"Surveillance exports": ["export licence", "dual-use"]})
    assert index.find("Dual-use goods need an export licence") == ("Surveillance exports",)
    assert index.lookup("surveillance EXPORTS") == "Surveillance exports"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Technology & human rights", TECH),
        ("technology and human rights", TECH),
        ("Tech & human rights", TECH),
        ("Labor rights", LABOUR),
        ("Forced labor", "Forced labour & modern slavery"),
        ("modern slavery", "Forced labour & modern slavery"),
        ("Civic freedoms", CIVIC),
        ("Human rights defenders", "Human rights defenders"),
    ],
)
def test_lookup_topic_accepts_names_and_aliases_in_any_case(name, canonical):
    assert lookup_topic(name) == canonical


def test_lookup_topic_knows_yaml_topics_only_when_given_them():
    extra = {"Surveillance exports": ("spyware",)}
    assert lookup_topic("Surveillance exports") is None
    assert lookup_topic("surveillance exports", extra) == "Surveillance exports"
    assert lookup_topic("Astrology", extra) is None


def test_all_topic_names_lists_built_in_then_new_yaml_topics_once():
    names = all_topic_names({"Surveillance exports": ("spyware",), "Technology": ("VPN",)})
    assert names[: len(BUILTIN_TOPICS)] == list(BUILTIN_TOPICS)
    assert names[len(BUILTIN_TOPICS) :] == ["Surveillance exports"]
