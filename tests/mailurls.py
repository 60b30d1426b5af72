"""Every URL a received digest carries: in its HTML part, its text part and its headers."""

from __future__ import annotations

import base64
import html
import re
from email.message import EmailMessage
from urllib.parse import unquote

_URL = re.compile(r"""(?:https?|mailto):[^\s"'<>]+""")


def urls_in(message: EmailMessage) -> list[str]:
    found = []
    for part in ("html", "plain"):
        body = message.get_body((part,))
        assert body is not None, f"no {part} part"
        found += _URL.findall(html.unescape(body.get_content()))
    for name in ("List-Unsubscribe", "List-Help", "List-Subscribe", "Archived-At"):
        found += _URL.findall(str(message.get(name, "")))
    return found


def assert_no_address_in(urls: list[str], email: str) -> None:
    """`email` is in none of `urls`, however spelt: plain, percent-encoded or base64url."""
    spelled = base64.urlsafe_b64encode(email.encode()).rstrip(b"=").decode()
    local = email.split("@")[0]
    for url in urls:
        assert local not in unquote(url).lower() and spelled[:8] not in url, url
