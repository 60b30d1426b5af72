"""Company names found in text: literal, word-bounded, any case or accents; and at scale."""

from __future__ import annotations

import random
import string

from bhrdigest.ingest.tagging.companies import CompanyIndex
from bhrdigest.model import Company

CATALOGUE = CompanyIndex(
    [
        Company("Shell", ("Royal Dutch Shell",)),
        Company("Apple"),
        Company("ABN AMRO"),
        Company("Nestlé"),
        Company("Coca-Cola"),
        Company("HSBC", ("HSBC Holdings", "Hongkong and Shanghai Banking Corporation", "滙豐")),
        Company("Mandarin Oriental Hotel Group", ("Mandarin Oriental hotel",)),
        Company("Standard Chartered"),
        Company("Standard Bank"),
        Company("Cellebrite", ("セレブライト",)),
        Company("AT&T"),
        Company("Acacia Mining", ("Acacia", "African Barrick Gold")),
    ]
)


def test_a_short_name_is_not_found_inside_a_longer_word():
    assert CATALOGUE.find("Shellfish farmers and pineapple growers") == []
    assert CATALOGUE.find("Shell-owned platforms; Apple's suppliers") == ["Shell", "Apple"]


def test_case_accents_and_punctuation_do_not_matter():
    assert CATALOGUE.find("abn amro and nestle") == ["ABN AMRO", "Nestlé"]
    assert CATALOGUE.find("ABN Amro, NESTLÉ, Coca Cola") == ["ABN AMRO", "Nestlé", "Coca-Cola"]
    assert CATALOGUE.find("AT and T was sued; so was AT&T") == ["AT&T"]
    assert CATALOGUE.find("ＨＳＢＣ（香港）") == ["HSBC"]  # full-width letters


def test_a_possessive_still_names_the_company():
    assert CATALOGUE.find("Cellebrite’s response") == ["Cellebrite"]


def test_a_variant_matches_only_when_the_catalogue_lists_it():
    assert CATALOGUE.find("the Mandarin Oriental Hotel Group said") == ["Mandarin Oriental Hotel Group"]
    assert CATALOGUE.find("[Also referred to Mandarin Oriental hotel]") == ["Mandarin Oriental Hotel Group"]
    assert CATALOGUE.find("guests of the Mandarin Oriental") == []


def test_cjk_aliases_match_inside_running_text():
    assert CATALOGUE.find("香港の滙豐銀行とセレブライト社") == ["HSBC", "Cellebrite"]


def test_names_come_in_order_of_first_appearance_without_repeats():
    text = "Standard Chartered and HSBC. HSBC Holdings later joined Standard Bank."
    assert CATALOGUE.find(text) == ["Standard Chartered", "HSBC", "Standard Bank"]


def test_the_longest_name_wins_where_two_start_together():
    catalogue = CompanyIndex([Company("Standard"), Company("Standard Chartered")])
    assert catalogue.find("Standard Chartered backed the law") == ["Standard Chartered"]
    assert catalogue.find("the Standard reported") == ["Standard"]


def test_lookup_gives_the_canonical_name_for_any_spelling_of_a_name_or_alias():
    assert CATALOGUE.lookup("hsbc holdings") == "HSBC"
    assert CATALOGUE.lookup("Nestle") == "Nestlé"
    assert CATALOGUE.lookup("Abn Amro") == "ABN AMRO"
    assert CATALOGUE.lookup("African Barrick Gold") == "Acacia Mining"
    assert CATALOGUE.lookup("HSBC Bank") is None
    assert CATALOGUE.lookup("") is None


def test_a_canonical_name_wins_over_another_companys_alias():
    catalogue = CompanyIndex([Company("Meta", ("Facebook",)), Company("Facebook")])
    assert catalogue.lookup("Facebook") == "Facebook"


def test_suggest_offers_the_nearest_names_for_a_misspelling():
    assert CATALOGUE.suggest("Celebrite")[0] == "Cellebrite"
    assert CATALOGUE.suggest("HSBC Holding") == ["HSBC"]
    assert CATALOGUE.suggest("Standard Charterd", n=1) == ["Standard Chartered"]
    assert CATALOGUE.suggest("Qwxyz Zzqv") == []
    assert CATALOGUE.suggest("") == []


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))


def test_a_catalogue_of_twenty_thousand_companies_tags_thousands_of_texts_correctly():
    rng = random.Random(20_000)
    vocabulary = sorted({_word(rng) for _ in range(12_000)})
    company_words, filler = vocabulary[:8_000], vocabulary[8_000:]
    companies, seen = [], set()
    while len(companies) < 20_000:
        name = " ".join(w.capitalize() for w in rng.sample(company_words, rng.randint(1, 3)))
        if name.casefold() not in seen:
            seen.add(name.casefold())
            companies.append(Company(name, (f"{name} Holdings", f"{name} Group")))
    index = CompanyIndex(companies)

    for _ in range(2_000):
        named = rng.sample(companies, 3)
        words = [rng.choice(filler) for _ in range(150)]
        for slot, company in zip(sorted(rng.sample(range(0, 150, 3), 3)), named, strict=True):
            words[slot] = rng.choice([company.name, *company.aliases])
        assert index.find(" ".join(words)) == [c.name for c in named]
