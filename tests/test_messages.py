import binascii
import email
import re
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bhrdigest.digest.build import RenderedDigest
from bhrdigest.digest.message import _quoted_printable, build_message, message_id
from bhrdigest.errors import ConfigError
from bhrdigest.model import Subscriber
from bhrdigest.signing import make_token

NOW = datetime(2024, 5, 6, 7, 30, tzinfo=UTC)
LIST_ID = "weekly.digest.example.org"
TOKEN = make_token("secret-for-tests", 1, LIST_ID)  # address id 1
UNSUBSCRIBE_URL = f"https://digest.example.org/u/{TOKEN}"

RENDERED = RenderedDigest(
    html='<!DOCTYPE html><html><body><p style="color:#222">Cellebrite’s response — '
    + "x" * 300
    + "</p></body></html>\n",
    text="Cellebrite’s response\n\nWhy: company Cellebrite\n"
    + "long line " * 40
    + "\n",
    item_count=1,
)
ALEX = Subscriber(email="alex@example.org", name="Alex")


def build(rendered=RENDERED, subscriber=ALEX, **overrides):
    arguments = {
        "subscriber": subscriber,
        "from_addr": "Business & Human Rights Resource Centre <updates@example.org>",
        "subject": "Business & human rights: your weekly update",
        "run_id": 42,
        "list_id": LIST_ID,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "unsubscribe_mailto": "unsubscribe@example.org",
        "now": NOW,
        "domain": "digest.example.org",
    }
    return build_message(rendered, **(arguments | overrides))


def parsed(message):
    return email.message_from_bytes(message.as_bytes(), policy=policy.default)


def content(part):
    """A text part's content; MIME text travels with CRLF line ends."""
    return part.get_content().replace("\r\n", "\n")


def test_plain_text_part_comes_first_then_html_both_utf8():
    received = parsed(build())
    assert received.get_content_type() == "multipart/alternative"
    parts = list(received.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert content(parts[0]) == RENDERED.text
    assert content(parts[1]) == RENDERED.html


def test_every_line_on_the_wire_is_short_and_ascii():
    raw = build().as_bytes()
    assert raw.isascii()
    for line in raw.split(b"\r\n"):
        if line.startswith(b"List-Unsubscribe: "):
            assert len(line) <= 998
        else:
            assert len(line) <= 78, line


def test_bodies_use_quoted_printable_or_base64():
    received = parsed(build())
    assert {p["Content-Transfer-Encoding"] for p in received.iter_parts()} <= {
        "quoted-printable",
        "base64",
    }


def test_japanese_text_round_trips_and_stays_compact():
    rendered = RenderedDigest(
        html="<p>香港：国家安全法</p>" * 200,
        text="香港：国家安全法\n" * 200,
        item_count=1,
    )
    message = build(rendered)
    received = parsed(message)
    parts = list(received.iter_parts())
    assert content(parts[0]) == rendered.text
    assert content(parts[1]) == rendered.html
    # base64 (4/3) rather than quoted-printable (3x) for mostly non-ASCII text
    assert len(message.as_bytes()) < 1.5 * len((rendered.text + rendered.html).encode())


def test_headers_carry_sender_recipient_subject_and_date():
    received = parsed(build())
    assert received["From"].addresses[0].addr_spec == "updates@example.org"
    assert (
        received["From"].addresses[0].display_name
        == "Business & Human Rights Resource Centre"
    )
    assert str(received["To"]) == "Alex <alex@example.org>"
    assert received["Subject"] == "Business & human rights: your weekly update"
    assert received["Date"].datetime == NOW
    assert received["List-Id"] == f"<{LIST_ID}>"


def test_japanese_display_name_is_encoded_on_the_wire_and_decodes_back():
    taro = Subscriber(email="taro@example.jp", name="山田 太郎")
    message = build(subscriber=taro)
    raw = message.as_bytes()
    to_line = re.search(rb"^To: (.*(?:\r\n[ \t].*)*)", raw, re.MULTILINE).group(1)
    assert b"=?utf-8?" in to_line
    assert b"<taro@example.jp>" in to_line
    address = parsed(message)["To"].addresses[0]
    assert (address.display_name, address.addr_spec) == ("山田 太郎", "taro@example.jp")


def test_non_ascii_subject_decodes_back():
    received = parsed(
        build(subject="Derechos humanos y empresas: su actualización — 週刊")
    )
    assert received["Subject"] == "Derechos humanos y empresas: su actualización — 週刊"


def test_message_id_is_the_same_for_the_same_run_and_subscriber():
    first, again = parsed(build()), parsed(build(now=datetime(2030, 1, 1, tzinfo=UTC)))
    assert first["Message-ID"] == again["Message-ID"]
    assert re.fullmatch(
        r"<digest-42-[0-9a-f]{16}@digest\.example\.org>", first["Message-ID"]
    )
    assert (
        message_id(42, "ALEX@example.org", "digest.example.org") == first["Message-ID"]
    )


def test_message_id_differs_by_run_and_by_subscriber():
    sam = Subscriber(email="sam@example.org", name="Sam")
    ids = {
        parsed(build())["Message-ID"],
        parsed(build(run_id=43))["Message-ID"],
        parsed(build(subscriber=sam))["Message-ID"],
    }
    assert len(ids) == 3


def test_list_unsubscribe_is_one_unencoded_line_with_one_click_post():
    long_url = UNSUBSCRIBE_URL + "?campaign=" + "w" * 250  # longer than 78 characters
    raw = build(unsubscribe_url=long_url).as_bytes()
    expected = (
        f"List-Unsubscribe: <{long_url}>, "
        "<mailto:unsubscribe@example.org?subject=unsubscribe>\r\n"
    ).encode()
    assert expected in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    received = parsed(build(unsubscribe_url=long_url))
    assert (
        received["List-Unsubscribe"]
        == expected.decode()[len("List-Unsubscribe: ") : -2]
    )


def test_plain_http_unsubscribe_gets_no_one_click_header():
    raw = build(unsubscribe_url=f"http://127.0.0.1:8080/u/{TOKEN}").as_bytes()
    assert b"List-Unsubscribe: <http://127.0.0.1:8080/u/" in raw
    assert b"List-Unsubscribe-Post" not in raw


def test_mailto_only_and_no_unsubscribe_at_all():
    raw = build(unsubscribe_url=None).as_bytes()
    assert (
        b"List-Unsubscribe: <mailto:unsubscribe@example.org?subject=unsubscribe>\r\n"
        in raw
    )
    assert b"List-Unsubscribe-Post" not in raw
    bare = build(unsubscribe_url=None, unsubscribe_mailto=None).as_bytes()
    assert b"List-Unsubscribe" not in bare


def test_unsubscribe_url_with_a_line_break_is_refused():
    with pytest.raises(ConfigError, match="one line"):
        build(
            unsubscribe_url="https://digest.example.org/u/x\r\nBcc: victim@example.org"
        )


def test_unsubscribe_header_longer_than_a_line_is_refused():
    with pytest.raises(ConfigError, match="shorten the URL"):
        build(unsubscribe_url="https://digest.example.org/u/" + "x" * 1000)


def test_naive_date_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        build(now=datetime(2024, 5, 6, 7, 30))


def test_a_run_of_digests_flattens_to_the_bytes_the_email_package_writes():
    """Headers shared by a run are folded once (and bodies written at once): the bytes must
    be what the email package itself writes for each message, long subject and names included."""
    long_subject = "Business & human rights: your weekly update on " + "companies and places " * 6 + "— ça va"
    people = [ALEX, Subscriber(email="kim@example.org", name="Kim Tanaka-Fernández"), Subscriber(email="x@example.org")]
    for subscriber in people * 2:  # the second time round, the shared headers are already folded
        message = build(subscriber=subscriber, subject=long_subject)
        out = BytesIO()
        BytesGenerator(out, mangle_from_=False, policy=message.policy).flatten(message)
        assert message.as_bytes() == out.getvalue()
        assert email.message_from_bytes(message.as_bytes(), policy=policy.default)["Subject"] == long_subject


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet=" \t.=\r-xé—日\u00a0<>\"", max_size=200), max_size=12), st.booleans())
def test_bodies_are_quoted_printable_of_the_whole_body_with_no_line_starting_with_a_dot(lines, trailing_newline):
    """Lines are encoded one at a time and remembered (a run's digests share most of theirs),
    and a "." that would start a line is written =2E (SMTP would have to double it): the
    body must decode to exactly the text, in lines of at most 76, and where b2a_qp of the
    whole body starts no line with "." it must be that, byte for byte."""
    data = "\n".join(lines).encode("utf-8") + (b"\n" if trailing_newline else b"")
    whole = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    for _ in range(2):  # the second time from remembered lines
        encoded = _quoted_printable(data)
        if b"\r" in data:  # encoded whole (b2a_qp reads CR LF as a line end)
            assert encoded == whole
            continue
        assert binascii.a2b_qp(encoded) == data
        if not whole.startswith(b".") and b"\n." not in whole:
            assert encoded == whole
        else:
            assert not encoded.startswith(b".") and b"\n." not in encoded
            assert all(len(line) <= 76 for line in encoded.split(b"\n")), encoded
