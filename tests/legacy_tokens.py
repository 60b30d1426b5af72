"""Subscriber tokens as releases before opaque tokens made them: `<base64url email>.<mac>`.

Written out here (not kept in bhrdigest.signing, which makes no such token any more) so
tests can hold links already sent in old digests against the web.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

PURPOSES = {"u": b"bhrdigest-unsubscribe-v1\x00", "p": b"bhrdigest-preferences-v1\x00"}


def legacy_token(secret: str, email: str, list_id: str, kind: str = "u") -> str:
    address = email.strip().lower()
    message = PURPOSES[kind] + list_id.encode() + b"\x00" + address.encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16]
    return f"{_b64(address.encode())}.{_b64(mac)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
