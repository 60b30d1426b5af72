"""Form tokens that stop another site from submitting a subscriber's preferences form.

A form token is `<issued unix time>.<HMAC>`, the HMAC covering a purpose string, the
subscriber's address and list, and the time: it is valid only for that subscriber's
form and only for `MAX_AGE` seconds. No cookie is needed (the page sets none), and a
forged page cannot make one without the secret. The pages also refuse a POST whose
Origin header names another site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

MAX_AGE = 12 * 3600  # a form left open over a working day still saves
_CLOCK_SKEW = 300
_PURPOSE = b"bhrdigest-csrf-v1\x00"


def make_csrf(secret: str, subject: str, *, now: float) -> str:
    issued = str(int(now))
    return f"{issued}.{_mac(secret, subject, issued)}"


def check_csrf(secret: str, subject: str, value: str | None, *, now: float, max_age: int = MAX_AGE) -> bool:
    issued, dot, mac = (value or "").partition(".")
    if not dot or not issued.isdigit() or len(issued) > 12:
        return False
    if not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(secret, subject, issued).encode("ascii")):
        return False
    age = now - int(issued)
    return -_CLOCK_SKEW <= age <= max_age


def _mac(secret: str, subject: str, issued: str) -> str:
    message = _PURPOSE + subject.encode("utf-8") + b"\x00" + issued.encode("ascii")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
