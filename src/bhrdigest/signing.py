"""Signed subscriber tokens: short, URL-safe, tamper-evident.

A token is ``<base64url(email)>.<base64url(mac)>`` where the MAC is
HMAC-SHA256(secret, list_id + email) cut to 16 bytes (128 bits: far beyond
guessing, and short enough that the List-Unsubscribe header stays on one
line). The email travels in the token so the web endpoint needs no lookup
table; it is not secret (the subscriber already knows it).

Tokens do not expire: an unsubscribe link in a year-old digest must still
work (RFC 8058 asks that one-click links keep working).

Two purposes, two MACs: `make_token` for one-click unsubscribe and
`make_preferences_token` for the preferences page. Each MAC covers its
purpose, so neither token opens the other's page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from bhrdigest.errors import ConfigError

_MAC_BYTES = 16
# Binds the MAC to its purpose, so a MAC made for something else with the
# same secret can never pass as an unsubscribe token.
_PURPOSE = b"bhrdigest-unsubscribe-v1\x00"
_PREFERENCES = b"bhrdigest-preferences-v1\x00"


def make_token(secret: str, email: str, list_id: str) -> str:
    """The unsubscribe token for `email` on `list_id` (email lower-cased)."""
    return _make(secret, email, list_id, _PURPOSE)


def read_token(secret: str, token: str, list_id: str) -> str | None:
    """The lower-cased email a token was made for, or None if it is not genuine.

    Malformed, truncated, tampered tokens and tokens for another list or
    purpose all give None; the MAC is compared in constant time.
    """
    return _read(secret, token, list_id, _PURPOSE)


def make_preferences_token(secret: str, email: str, list_id: str) -> str:
    """The preferences-page token for `email` on `list_id`: not an unsubscribe token."""
    return _make(secret, email, list_id, _PREFERENCES)


def read_preferences_token(secret: str, token: str, list_id: str) -> str | None:
    """The email a preferences token was made for, or None (see `read_token`)."""
    return _read(secret, token, list_id, _PREFERENCES)


def _make(secret: str, email: str, list_id: str, purpose: bytes) -> str:
    address = _normalise(email)
    payload = _b64encode(address.encode("utf-8"))
    return f"{payload}.{_b64encode(_mac(secret, address, list_id, purpose))}"


def _read(secret: str, token: str, list_id: str, purpose: bytes) -> str | None:
    # No strip(): a token with anything around it is not the token we sent.
    payload, dot, mac_part = token.rpartition(".")
    if not dot or not payload or not mac_part:
        return None
    try:
        address = _b64decode(payload).decode("utf-8")
        given_mac = _b64decode(mac_part)
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if address != _normalise(address):
        return None
    if not hmac.compare_digest(given_mac, _mac(secret, address, list_id, purpose)):
        return None
    return address


def _mac(secret: str, address: str, list_id: str, purpose: bytes) -> bytes:
    if not secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is empty: set it to a long random string to sign unsubscribe links"
        )
    message = purpose + list_id.encode("utf-8") + b"\x00" + address.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()[
        :_MAC_BYTES
    ]


def _normalise(email: str) -> str:
    return email.strip().lower()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    raw = text.encode("ascii")  # non-ASCII raises UnicodeEncodeError (a ValueError)
    padded = raw + b"=" * (-len(raw) % 4)
    # validate=True: refuse characters outside the alphabet instead of skipping them.
    data = base64.b64decode(padded, altchars=b"-_", validate=True)
    # One token, one spelling: a changed last character that decodes to the
    # same bytes (unused low bits) is still a tampered token.
    if _b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data
