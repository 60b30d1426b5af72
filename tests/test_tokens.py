import re
from datetime import UTC, datetime, timedelta

import pytest
from legacy_tokens import legacy_token

from bhrdigest.errors import ConfigError
from bhrdigest.signing import (
    LEGACY_TOKENS_UNTIL,
    check_csrf,
    make_csrf,
    make_preferences_token,
    make_token,
    read_legacy_preferences_token,
    read_legacy_token,
    read_preferences_token,
    read_token,
)

SECRET = "a-long-random-secret-for-tests"
LIST_ID = "weekly.digest.example.org"
BEFORE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # while old links are honoured
LAST_DAY = datetime.combine(LEGACY_TOKENS_UNTIL, datetime.max.time(), tzinfo=UTC)


def test_token_reads_back_to_the_address_id():
    token = make_token(SECRET, 1234, LIST_ID)
    assert read_token(SECRET, token, LIST_ID) == 1234
    assert read_preferences_token(SECRET, make_preferences_token(SECRET, 1234, LIST_ID), LIST_ID) == 1234


def test_token_carries_no_address_and_is_short():
    token = make_token(SECRET, 100_000, LIST_ID)
    assert re.fullmatch(r"[0-9a-z]+\.[A-Za-z0-9_-]{22}", token)
    assert token.startswith("255s.")  # 100,000 in base 36
    assert len(make_token(SECRET, 1, LIST_ID)) == 24  # one digit, a dot, 16 bytes of MAC


def test_every_single_character_change_is_refused():
    token = make_token(SECRET, 100_000, LIST_ID)
    for position, original in enumerate(token):
        if original == ".":
            continue
        for replacement in ("A", "z", "-", "0", "1"):
            if replacement == original:
                continue
            tampered = token[:position] + replacement + token[position + 1 :]
            assert read_token(SECRET, tampered, LIST_ID) is None, (position, replacement)


def test_token_for_another_id_cannot_be_forged_by_swapping_the_payload():
    alex, sam = make_token(SECRET, 7, LIST_ID), make_token(SECRET, 8, LIST_ID)
    assert read_token(SECRET, sam.split(".")[0] + "." + alex.split(".")[1], LIST_ID) is None


def test_one_id_has_one_spelling():
    mac = make_token(SECRET, 35, LIST_ID).split(".")[1]
    for spelling in ("0z", "Z", "00z"):  # the same number, written otherwise
        assert read_token(SECRET, f"{spelling}.{mac}", LIST_ID) is None


def test_token_is_refused_under_another_secret_or_list():
    token = make_token(SECRET, 7, LIST_ID)
    assert read_token("another-secret", token, LIST_ID) is None
    assert read_token(SECRET, token, "other.list.example.org") is None


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "abc.", ".abc", "!!!.@@@", "YWxleA.ünïcode", "a.b.c", "YWxleA==.AAAA", "0.AAAA", "-1.AAAA",
     "ü.AAAAAAAAAAAAAAAAAAAAAA"],
)
def test_malformed_tokens_are_refused_not_raised(garbage):
    assert read_token(SECRET, garbage, LIST_ID) is None
    assert read_legacy_token(SECRET, garbage, LIST_ID, now=BEFORE) is None


def test_empty_secret_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigError, match="BHRDIGEST_SECRET"):
        make_token("", 7, LIST_ID)


def test_a_token_made_for_one_use_opens_no_other():
    unsubscribe = make_token(SECRET, 7, LIST_ID)
    preferences = make_preferences_token(SECRET, 7, LIST_ID)
    assert read_preferences_token(SECRET, unsubscribe, LIST_ID) is None
    assert read_token(SECRET, preferences, LIST_ID) is None
    # A form token for subject LIST_ID issued at 1,000,000 (base 36 "lfls") MACs the same two
    # parts as an unsubscribe token for that id would: only the purpose differs.
    issued, _, mac = make_csrf(SECRET, LIST_ID, now=int("lfls", 36)).partition(".")
    assert read_token(SECRET, f"lfls.{mac}", LIST_ID) is None
    assert read_token(SECRET, make_token(SECRET, int(issued), LIST_ID), LIST_ID) == int(issued)  # the shape is right


@pytest.mark.parametrize("junk", [" ", "\t", "\n", "\r\n"])
def test_a_token_with_whitespace_around_it_is_refused_not_stripped(junk):
    token = make_token(SECRET, 7, LIST_ID)
    assert read_token(SECRET, token + junk, LIST_ID) is None
    assert read_token(SECRET, junk + token, LIST_ID) is None


# --- links already sent: the email-bearing form, until LEGACY_TOKENS_UNTIL ---------------


def test_links_and_forms_signed_by_earlier_releases_still_work_until_the_documented_date():
    # Made by earlier releases: links in digests already sent, forms already open.
    secret, list_id = "s3cret", "weekly.example.org"
    unsubscribe = "YWxleEBleGFtcGxlLm9yZw.3FjcuakHm8d2o_S7Mjr5xQ"
    preferences = "YWxleEBleGFtcGxlLm9yZw.lkfBwlRApU3VKvFWIo2IRQ"
    form = "1795000000.P18itipn9PING6Pqe4O0OA"

    assert legacy_token(secret, "Alex@Example.org", list_id) == unsubscribe  # the helper is the old maker
    assert read_legacy_token(secret, unsubscribe, list_id, now=BEFORE) == "alex@example.org"
    assert read_legacy_preferences_token(secret, preferences, list_id, now=LAST_DAY) == "alex@example.org"
    assert read_legacy_token(secret, unsubscribe, list_id, now=LAST_DAY + timedelta(microseconds=1)) is None
    assert read_legacy_preferences_token(secret, preferences, list_id, now=LAST_DAY + timedelta(days=400)) is None
    assert make_csrf(secret, "alex@example.org\x00weekly.example.org", now=1795000000) == form
    assert check_csrf(secret, "alex@example.org\x00weekly.example.org", form, now=1795000000 + 60)


def test_the_documented_date_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert LEGACY_TOKENS_UNTIL.isoformat() in readme


def test_an_old_form_token_is_read_in_utc():
    token = legacy_token(SECRET, "alex@example.org", LIST_ID)
    from zoneinfo import ZoneInfo

    # 1 July 01:00 in Paris is still 30 June in UTC.
    paris = datetime(LEGACY_TOKENS_UNTIL.year, 7, 1, 1, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert read_legacy_token(SECRET, token, LIST_ID, now=paris) == "alex@example.org"


def test_old_and_new_forms_never_pass_for_each_other():
    old = legacy_token(SECRET, "alex@example.org", LIST_ID)
    new = make_token(SECRET, 7, LIST_ID)
    assert read_token(SECRET, old, LIST_ID) is None
    assert read_legacy_token(SECRET, new, LIST_ID, now=BEFORE) is None
    # An id spelt like an old payload, under the old MAC, is no current token either.
    assert read_legacy_token(SECRET, legacy_token(SECRET, "alex@example.org", LIST_ID, "p"), LIST_ID,
                             now=BEFORE) is None


def test_non_ascii_old_form_address_is_still_read():
    token = legacy_token(SECRET, "山田@example.jp", LIST_ID)
    assert read_legacy_token(SECRET, token, LIST_ID, now=BEFORE) == "山田@example.jp"


def test_tampered_old_form_tokens_are_refused():
    token = legacy_token(SECRET, "alex@example.org", LIST_ID)
    for position, original in enumerate(token):
        if original == ".":
            continue
        replacement = "A" if original != "A" else "B"
        tampered = token[:position] + replacement + token[position + 1 :]
        assert read_legacy_token(SECRET, tampered, LIST_ID, now=BEFORE) is None, position
