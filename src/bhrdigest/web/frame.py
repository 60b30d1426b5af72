"""The frame around every request, before and after the pages see it.

Before: the client and scheme are those the trusted proxies report (web/proxy.py), and a
body over `max_body` is refused before any page acts on it. After: security headers on
every response (HSTS when the request came over https), and one log line per request with
every token-shaped path segment cut out.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bhrdigest.web.proxy import behind_proxies

log = logging.getLogger(__name__)

_FRAME_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),  # pages set their own
    # same-origin: the token in our URLs never leaves in a Referer, yet our own form
    # posts still carry an Origin we can check (no-referrer would turn it into "null").
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"cache-control", b"no-store"),  # pages carry tokens and personal choices
]
# A year; no includeSubDomains: the organisation's other hosts are not ours to pin to https.
_HSTS = (b"strict-transport-security", b"max-age=31536000")
# A signature is 22 base64url characters; any segment holding such a run is a token, or part
# of one, whatever a client wrapped around it (`/p/<token>%09`).
_TOKEN_SHAPED = re.compile(r"[A-Za-z0-9_-]{16,}")


class BodyTooLarge(HTTPException):
    """More body than a page accepts: refused before any page acted on it."""

    def __init__(self, max_body: int):
        super().__init__(413, f"Request body too large (over {max_body // 1024} KB): nothing was changed.")


class RequestFrame:
    def __init__(self, app: ASGIApp, *, trusted_proxies: int, max_body: int):
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = behind_proxies(scope, self.trusted_proxies)
        started = time.perf_counter()
        status = 500
        extra = [*_FRAME_HEADERS, *([_HSTS] if scope["scheme"] == "https" else [])]
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLarge(self.max_body)  # the page reading the body stops here, before acting
            return message

        async def send_framed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = [*message.get("headers", []), *((n, v) for n, v in extra if n not in present)]
                message = {**message, "headers": headers}
            await send(message)

        try:
            if _declared_length(scope) > self.max_body:
                too_large = BodyTooLarge(self.max_body)
                await PlainTextResponse(too_large.detail, too_large.status_code)(scope, receive, send_framed)
            else:
                await self.app(scope, receive_limited, send_framed)
        finally:
            log.info("web %s %s %d %.0fms", scope.get("method"), loggable_path(scope.get("path", "")), status,
                     (time.perf_counter() - started) * 1000)


def loggable_path(path: str) -> str:
    """The path with every segment that holds a token, or could, shown as {token}."""
    return "/".join("{token}" if _TOKEN_SHAPED.search(segment) else segment for segment in path.split("/"))


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # unparseable: the server has refused it already
    return 0
