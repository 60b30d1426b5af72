"""Compact address ids: stable, case-folded, never renumbered."""

from __future__ import annotations

from bhrdigest.store import addresses, db


def test_ids_are_stable_case_folded_and_created_only_when_asked(tmp_path):
    engine = db.connect(f"sqlite:///{tmp_path / 'a.db'}", create=True)
    assert addresses.known_ids(engine, ["Alex@Example.org"]) == {}

    first = addresses.address_ids(engine, ["Alex@Example.org", "sam@example.org", "alex@example.org"])
    assert set(first) == {"alex@example.org", "sam@example.org"}
    assert len(set(first.values())) == 2

    again = addresses.address_ids(engine, [" ALEX@example.org ", "kim@example.org"])
    assert again["alex@example.org"] == first["alex@example.org"]
    assert again["kim@example.org"] not in first.values()
    assert addresses.known_ids(engine, ["sam@EXAMPLE.org", "nobody@example.org"]) == {
        "sam@example.org": first["sam@example.org"]
    }
    assert addresses.email_of(engine, first["sam@example.org"]) == "sam@example.org"
    assert addresses.email_of(engine, 10_000) is None


def test_an_id_survives_a_reopen(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    ids = addresses.address_ids(db.connect(url, create=True), ["alex@example.org"])
    assert addresses.known_ids(db.connect(url), ["alex@example.org"]) == ids
