"""Everything bhrdigest signs with BHRDIGEST_SECRET: short, URL-safe, tamper-evident.

One MAC for all (`_mac`): HMAC-SHA256(secret, purpose + part + NUL + part) cut to 16
bytes (128 bits: far beyond guessing, and short enough that the List-Unsubscribe header
stays on one line). The purpose string is the only thing that differs between uses, so a
MAC made for one use never passes for another:

    unsubscribe   make_token / read_token                      <id>.<mac>, no expiry
    preferences   make_preferences_token / read_preferences_token   the same shape
    form (CSRF)   make_csrf / check_csrf                       <unix time>.<mac>, 12 hours
    sign-up       make_confirmation_token / read_confirmation_token   <id>.<unix time>.<mac>, expiring
    Telegram link make_telegram_link / read_telegram_link      base64url(id, expiry, mac), 7 days
    old links     read_legacy_token / read_legacy_preferences_token   <email>.<mac>,
                  read (never made) until LEGACY_TOKENS_UNTIL

Subscriber tokens are opaque: they carry the address's compact id (store/addresses.py)
in base 36, never the address, so no address ends up in a URL, a proxy's log or a
browser's history; the web reads the id back to the address. They do not expire: an
unsubscribe link in a year-old digest must still work (RFC 8058 asks that one-click
links keep working). Until LEGACY_TOKENS_UNTIL the web also honours the tokens of
earlier releases, which carried the address itself (base64url) under their own purpose
strings (v1): a v1 MAC never passes as a v2 one, nor the other way round. A form token
covers the subscriber, the list and when the form was served: it is valid only for that
subscriber's form and only for `CSRF_MAX_AGE` seconds, so no cookie is needed and a
forged page cannot make one without the secret.

A Telegram link token goes in a `t.me/<bot>?start=<token>` deep link, whose payload
Telegram limits to 64 characters of A-Z a-z 0-9 _ -: so it is one base64url run of
binary (address id, expiry, MAC), 32 characters, with no separator. It carries the
address's compact id (store/addresses.py), never the address, and expires after
`TELEGRAM_LINK_MAX_AGE`: a link copied out of a page cannot be used for ever.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from datetime import UTC, date, datetime
from typing import NamedTuple

from bhrdigest.errors import ConfigError

_MAC_BYTES = 16
# One per use, and the only place they are written: changing one invalidates every
# token of that use already sent.
_UNSUBSCRIBE = b"bhrdigest-unsubscribe-v2\x00"
_PREFERENCES = b"bhrdigest-preferences-v2\x00"
_CSRF = b"bhrdigest-csrf-v1\x00"
_CONFIRM = b"bhrdigest-signup-confirm-v1\x00"
_TELEGRAM_LINK = b"bhrdigest-telegram-link-v1\x00"
# The email-bearing tokens of earlier releases: read only, until LEGACY_TOKENS_UNTIL.
_UNSUBSCRIBE_V1 = b"bhrdigest-unsubscribe-v1\x00"
_PREFERENCES_V1 = b"bhrdigest-preferences-v1\x00"

# The last day (UTC) a link carrying the address (made before opaque tokens) still works:
# six months of digests after the change. README "Unsubscribing" says the same date.
LEGACY_TOKENS_UNTIL = date(2027, 6, 30)

CSRF_MAX_AGE = 12 * 3600  # a form left open over a working day still saves
_CLOCK_SKEW = 300
_CONFIRMATION = re.compile(r"([1-9][0-9]{0,17})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})", re.ASCII)
TELEGRAM_LINK_MAX_AGE = 7 * 24 * 3600  # a week to open Telegram and press Start
_LINK_HEAD = struct.Struct(">II")  # address id, expiry (unix seconds): 8 bytes
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID = re.compile(r"[1-9a-z][0-9a-z]{0,12}")  # canonical base 36: no leading zero, lower case


def make_token(secret: str, address_id: int, list_id: str) -> str:
    """The unsubscribe token of the address with id `address_id` on `list_id`."""
    return _make(secret, address_id, list_id, _UNSUBSCRIBE)


def read_token(secret: str, token: str, list_id: str) -> int | None:
    """The address id a token was made for, or None if it is not genuine.

    Malformed, truncated, tampered tokens and tokens for another list or
    purpose all give None; the MAC is compared in constant time.
    """
    return _read(secret, token, list_id, _UNSUBSCRIBE)


def make_preferences_token(secret: str, address_id: int, list_id: str) -> str:
    """The preferences-page token of `address_id` on `list_id`: not an unsubscribe token."""
    return _make(secret, address_id, list_id, _PREFERENCES)


def read_preferences_token(secret: str, token: str, list_id: str) -> int | None:
    """The address id a preferences token was made for, or None (see `read_token`)."""
    return _read(secret, token, list_id, _PREFERENCES)


def read_legacy_token(secret: str, token: str, list_id: str, *, now: datetime) -> str | None:
    """The lower-cased email an old-form unsubscribe token carries; None after LEGACY_TOKENS_UNTIL."""
    return _read_legacy(secret, token, list_id, _UNSUBSCRIBE_V1, now)


def read_legacy_preferences_token(secret: str, token: str, list_id: str, *, now: datetime) -> str | None:
    """The email an old-form preferences token carries; None after LEGACY_TOKENS_UNTIL."""
    return _read_legacy(secret, token, list_id, _PREFERENCES_V1, now)


def make_csrf(secret: str, subject: str, *, now: float) -> str:
    """A form token for `subject` (the subscriber's list and address) issued at `now`."""
    issued = str(int(now))
    return f"{issued}.{_b64encode(_mac(secret, _CSRF, subject, issued))}"


def check_csrf(secret: str, subject: str, value: str | None, *, now: float, max_age: int = CSRF_MAX_AGE) -> bool:
    """True for a genuine form token of `subject` issued at most `max_age` seconds ago."""
    issued, dot, mac = (value or "").partition(".")
    if not dot or not issued.isdigit() or len(issued) > 12:
        return False
    expected = _b64encode(_mac(secret, _CSRF, subject, issued)).encode("ascii")
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected):
        return False
    return -_CLOCK_SKEW <= now - int(issued) <= max_age


def make_confirmation_token(secret: str, signup_id: int, *, now: float) -> str:
    """The link that confirms pending sign-up `signup_id`, issued at `now` (no address in it)."""
    issued = str(int(now))
    return f"{signup_id}.{issued}.{_b64encode(_mac(secret, _CONFIRM, str(signup_id), issued))}"


def read_confirmation_token(secret: str, token: str, *, now: float, max_age: int) -> int | None:
    """The sign-up id of a genuine confirmation token at most `max_age` seconds old, else None."""
    parts = _CONFIRMATION.fullmatch(token)
    if parts is None:
        return None
    signup_id, issued, mac = parts.groups()
    expected = _b64encode(_mac(secret, _CONFIRM, signup_id, issued)).encode("ascii")
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected):
        return None
    return int(signup_id) if -_CLOCK_SKEW <= now - int(issued) <= max_age else None


class TelegramLink(NamedTuple):
    """What a genuine Telegram link token says: whose subscription, and until when."""

    address_id: int
    expires: int  # unix seconds

    def expired(self, now: float) -> bool:
        return now > self.expires + _CLOCK_SKEW


def make_telegram_link(secret: str, address_id: int, list_id: str, *, now: float,
                       max_age: int = TELEGRAM_LINK_MAX_AGE) -> str:
    """The start-payload token linking a Telegram chat to `address_id`'s subscription."""
    expires = int(now) + max_age
    head = _LINK_HEAD.pack(address_id, expires)
    return _b64encode(head + _mac(secret, _TELEGRAM_LINK, list_id, f"{address_id}.{expires}"))


def read_telegram_link(secret: str, token: str, list_id: str) -> TelegramLink | None:
    """The id and expiry a token was made with, or None if it is not genuine (expired ones
    are genuine: the caller tells them apart, to say so)."""
    try:
        data = _b64decode(token)
    except (binascii.Error, ValueError):
        return None
    if len(data) != _LINK_HEAD.size + _MAC_BYTES:
        return None
    address_id, expires = _LINK_HEAD.unpack(data[: _LINK_HEAD.size])
    expected = _mac(secret, _TELEGRAM_LINK, list_id, f"{address_id}.{expires}")
    if not hmac.compare_digest(data[_LINK_HEAD.size :], expected):
        return None
    return TelegramLink(address_id, expires)


def _make(secret: str, address_id: int, list_id: str, purpose: bytes) -> str:
    if address_id < 1:
        raise ValueError(f"not an address id: {address_id}")
    payload = _base36(address_id)
    return f"{payload}.{_b64encode(_mac(secret, purpose, list_id, payload))}"


def _read(secret: str, token: str, list_id: str, purpose: bytes) -> int | None:
    # No strip(): a token with anything around it is not the token we sent.
    payload, _, mac = token.rpartition(".")
    if not _ID.fullmatch(payload) or not _mac_matches(secret, purpose, list_id, payload, mac):
        return None
    return int(payload, 36)


def _read_legacy(secret: str, token: str, list_id: str, purpose: bytes, now: datetime) -> str | None:
    if now.astimezone(UTC).date() > LEGACY_TOKENS_UNTIL:
        return None
    payload, _, mac = token.rpartition(".")
    address = _email_of_payload(payload)
    if address is None or not _mac_matches(secret, purpose, list_id, address, mac):
        return None
    return address


def _mac_matches(secret: str, purpose: bytes, list_id: str, signed: str, mac_part: str) -> bool:
    try:
        given = _b64decode(mac_part)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, _mac(secret, purpose, list_id, signed))


def _email_of_payload(payload: str) -> str | None:
    """The address an old-form token's payload spells, or None."""
    try:
        address = _b64decode(payload).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return address if address and address == _normalise(address) else None


def _base36(number: int) -> str:
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits


def _mac(secret: str, purpose: bytes, first: str, second: str) -> bytes:
    """The one MAC: `purpose` keeps each use's MACs apart; NUL keeps the parts apart."""
    if not secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is empty: set it to a long random string to sign unsubscribe links"
        )
    message = purpose + first.encode("utf-8") + b"\x00" + second.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()[:_MAC_BYTES]


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
