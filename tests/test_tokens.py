import base64
import re

import pytest

from bhrdigest.errors import ConfigError
from bhrdigest.signing import (
    check_csrf,
    make_csrf,
    make_preferences_token,
    make_token,
    read_preferences_token,
    read_token,
)

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


def test_links_and_forms_signed_before_the_signing_module_was_merged_still_work():
    # Made by the releases before signing.py took web/csrf.py in: links in digests
    # already sent, and forms already open, must keep working.
    secret, list_id = "s3cret", "weekly.example.org"
    unsubscribe = "YWxleEBleGFtcGxlLm9yZw.3FjcuakHm8d2o_S7Mjr5xQ"
    preferences = "YWxleEBleGFtcGxlLm9yZw.lkfBwlRApU3VKvFWIo2IRQ"
    form = "1795000000.P18itipn9PING6Pqe4O0OA"

    assert make_token(secret, "Alex@Example.org", list_id) == unsubscribe
    assert read_token(secret, unsubscribe, list_id) == "alex@example.org"
    assert make_preferences_token(secret, "Alex@Example.org", list_id) == preferences
    assert read_preferences_token(secret, preferences, list_id) == "alex@example.org"
    assert make_csrf(secret, "alex@example.org\x00weekly.example.org", now=1795000000) == form
    assert check_csrf(secret, "alex@example.org\x00weekly.example.org", form, now=1795000000 + 60)


def test_a_token_made_for_one_use_opens_no_other():
    unsubscribe = make_token(SECRET, "alex@example.org", LIST_ID)
    preferences = make_preferences_token(SECRET, "alex@example.org", LIST_ID)
    assert read_preferences_token(SECRET, unsubscribe, LIST_ID) is None
    assert read_token(SECRET, preferences, LIST_ID) is None
    # A form token for subject LIST_ID, issued at 1000000, has a MAC over the same two
    # parts as an unsubscribe token for the "address" 1000000: only the purpose differs.
    issued, _, mac = make_csrf(SECRET, LIST_ID, now=1_000_000).partition(".")
    payload = base64.urlsafe_b64encode(issued.encode()).rstrip(b"=").decode()
    assert read_token(SECRET, f"{payload}.{mac}", LIST_ID) is None
    assert read_token(SECRET, make_token(SECRET, issued, LIST_ID), LIST_ID) == issued  # the shape is right


@pytest.mark.parametrize("junk", [" ", "\t", "\n", "\r\n"])
def test_a_token_with_whitespace_around_it_is_refused_not_stripped(junk):
    token = make_token(SECRET, "alex@example.org", LIST_ID)
    assert read_token(SECRET, token + junk, LIST_ID) is None
    assert read_token(SECRET, junk + token, LIST_ID) is None
