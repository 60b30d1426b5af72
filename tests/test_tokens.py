import re

import pytest

from bhrdigest.errors import ConfigError
from bhrdigest.signing import make_token, read_token

SECRET = "a-long-random-secret-for-tests"
LIST_ID = "weekly.digest.example.org"


def test_token_reads_back_to_the_lower_cased_email():
    token = make_token(SECRET, "Alex.Doe@Example.ORG", LIST_ID)
    assert read_token(SECRET, token, LIST_ID) == "alex.doe@example.org"


def test_token_is_url_safe_and_short():
    email = "someone.with.a.long.name@humanrights-organisation.example.org"
    token = make_token(SECRET, email, LIST_ID)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)
    # base64url of the address, a dot, 16 bytes of MAC (22 characters)
    assert len(token) <= len(email) * 4 // 3 + 2 + 1 + 22


def test_non_ascii_address_round_trips():
    token = make_token(SECRET, "山田@example.jp", LIST_ID)
    assert token.isascii()
    assert read_token(SECRET, token, LIST_ID) == "山田@example.jp"


def test_every_single_character_change_is_refused():
    token = make_token(SECRET, "alex@example.org", LIST_ID)
    for position, original in enumerate(token):
        if original == ".":
            continue
        for replacement in ("A", "z", "-", "0"):
            if replacement == original:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert read_token(SECRET, tampered, LIST_ID) is None, (
                position,
                replacement,
            )


def test_token_for_another_address_cannot_be_forged_by_swapping_the_payload():
    alex = make_token(SECRET, "alex@example.org", LIST_ID)
    sam = make_token(SECRET, "sam@example.org", LIST_ID)
    forged = sam.split(".")[0] + "." + alex.split(".")[1]
    assert read_token(SECRET, forged, LIST_ID) is None


def test_token_is_refused_under_another_secret_or_list():
    token = make_token(SECRET, "alex@example.org", LIST_ID)
    assert read_token("another-secret", token, LIST_ID) is None
    assert read_token(SECRET, token, "other.list.example.org") is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "abc",
        "abc.",
        ".abc",
        "!!!.@@@",
        "YWxleA.ünïcode",
        "a.b.c",
        "YWxleA==.AAAA",
    ],
)
def test_malformed_tokens_are_refused_not_raised(garbage):
    assert read_token(SECRET, garbage, LIST_ID) is None


def test_empty_secret_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigError, match="BHRDIGEST_SECRET"):
        make_token("", "alex@example.org", LIST_ID)


@pytest.mark.parametrize("junk", [" ", "\t", "\n", "\r\n"])
def test_a_token_with_whitespace_around_it_is_refused_not_stripped(junk):
    token = make_token(SECRET, "alex@example.org", LIST_ID)
    assert read_token(SECRET, token + junk, LIST_ID) is None
    assert read_token(SECRET, junk + token, LIST_ID) is None
