"""DKIM signing of a real digest message, checked with dkimpy's own verifier."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bhrdigest.digest.message import build_message
from bhrdigest.errors import ConfigError
from bhrdigest.mail.dkim import load_signer
from bhrdigest.model import Subscriber

FROM = "Resource Centre <updates@example.org>"
UNSUBSCRIBE = "https://digest.example.org/u/YWxleEBleGFtcGxlLm9yZw.c91qoq7hj8u61x9M9qw7UA"


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return SimpleNamespace(pem=pem, record=b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


def digest_message():
    rendered = SimpleNamespace(text="Your weekly update\n\n1. Cellebrite's response\n",
                               html="<p>Your weekly update</p><p>Cellebrite&#39;s response</p>")
    return build_message(
        rendered, subscriber=Subscriber("alex@example.org", name="Alex"), from_addr=FROM,
        subject="Business & human rights: your weekly update", run_id=7, list_id="weekly.bhrdigest.example.org",
        unsubscribe_url=UNSUBSCRIBE, unsubscribe_mailto="unsubscribe@example.org",
        now=datetime(2026, 11, 28, 9, 0, tzinfo=UTC), domain="example.org",
    )


def verify(data: bytes, key) -> bool:
    def dns(name, timeout=5):
        assert name == b"bhr2026._domainkey.example.org."
        return key.record

    return dkim.verify(data, dnsfunc=dns)


def test_a_signed_digest_verifies_and_covers_one_click_unsubscribe(key):
    signer = load_signer({"DKIM_PRIVATE_KEY": key.pem, "DKIM_SELECTOR": "bhr2026"}, from_addr=FROM)
    data = signer.sign(digest_message()).as_bytes()
    assert verify(data, key)
    signature = re.search(rb"DKIM-Signature: (.*?)\r\n(?=\S)", data, re.S).group(1)
    signed = re.sub(rb"\s+", b"", re.search(rb"h=([^;]*);", signature).group(1)).split(b":")
    assert {b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"} <= set(signed)
    assert signed.count(b"list-unsubscribe") == 2  # over-signed: a second copy cannot be added
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>".encode() in data  # still one unfolded line


def test_a_list_unsubscribe_added_or_changed_in_transit_breaks_the_signature(key):
    signer = load_signer({"DKIM_PRIVATE_KEY": key.pem, "DKIM_SELECTOR": "bhr2026"}, from_addr=FROM)
    data = signer.sign(digest_message()).as_bytes()
    changed = data.replace(UNSUBSCRIBE.encode(), b"https://evil.example/u/x")
    added = data.replace(b"MIME-Version:", b"List-Unsubscribe: <https://evil.example/>\r\nMIME-Version:", 1)
    assert not verify(changed, key)
    assert not verify(added, key)


def test_a_key_with_escaped_newlines_from_a_one_line_setting_works(key):
    one_line = key.pem.strip().replace("\n", "\\n")
    signer = load_signer({"DKIM_PRIVATE_KEY": one_line, "DKIM_SELECTOR": "bhr2026", "DKIM_DOMAIN": "Example.ORG"},
                         from_addr=FROM)
    assert signer.domain == "example.org"
    assert verify(signer.sign(digest_message()).as_bytes(), key)


def test_signing_is_off_when_no_key_is_set_for_relays_that_sign():
    assert load_signer({}, from_addr=FROM) is None
    assert load_signer({"DKIM_PRIVATE_KEY": "  ", "DKIM_SELECTOR": "x"}, from_addr=FROM) is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DKIM_SELECTOR": ""}, "DKIM_SELECTOR"),
        ({"DKIM_SELECTOR": "bad selector"}, "DKIM_SELECTOR"),
        ({"DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY": "not a key"}, "DKIM_PRIVATE_KEY"),
        ({"DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
         "DKIM_PRIVATE_KEY"),
        ({"DKIM_SELECTOR": "s1", "DKIM_DOMAIN": "localhost"}, "DKIM_DOMAIN"),
    ],
)
def test_a_bad_dkim_setting_is_named_before_any_digest_goes_out(key, env, names):
    with pytest.raises(ConfigError, match=names) as caught:
        load_signer({"DKIM_PRIVATE_KEY": key.pem, **env}, from_addr=FROM)
    assert "PRIVATE KEY-----\nMII" not in str(caught.value)


def test_the_private_key_never_appears_in_repr(key):
    signer = load_signer({"DKIM_PRIVATE_KEY": key.pem, "DKIM_SELECTOR": "bhr2026"}, from_addr=FROM)
    assert "PRIVATE" not in repr(signer) and "MII" not in repr(signer)
