"""Secrets out of everything we show: messages, log records, `status`, `doctor`.

    display_url(url)      a URL as we may show it: `https://user:***@host/feed`
    redact_text(text)     any text with URL passwords, Telegram bot tokens and the
                          secrets registered here masked
    register_secret(v)    a value (TELEGRAM_BOT_TOKEN, BHRDIGEST_SECRET…) never to show

Callers redact where text leaves for a person (the CLI's error line, the logging
handler, status and doctor reports); the Telegram client also redacts at its edge,
because an error page from a proxy may quote the request URL, token included.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://user:password@ — the password runs to the last @ before the path, so an
# unencoded @ inside it is masked too rather than half shown.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]*):([^\s/]*)@")
_URL_USER_ONLY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+)@")
# A Telegram bot token: the bot id, a colon, ~35 characters of key.
_BOT_TOKEN = re.compile(r"(?<![0-9])[0-9]{5,15}:[A-Za-z0-9_-]{30,}")
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever redact_text runs, for the rest of the process."""
    if value and len(value.strip()) >= 6:  # a short value would mask ordinary words
        _secrets.add(value.strip())


def display_url(url: str) -> str:
    """`url` with its password (or a lone user part, often a token) masked."""
    shown = _URL_PASSWORD.sub(rf"\1\2:{MASK}@", url, count=1)
    if shown == url:
        shown = _URL_USER_ONLY.sub(rf"\1{MASK}@", url, count=1)
    return shown


def redact_text(text: str) -> str:
    """`text` with every URL password, bot token and registered secret masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _BOT_TOKEN.sub(MASK, text)
    text = _URL_PASSWORD.sub(rf"\1\2:{MASK}@", text)
    return text
