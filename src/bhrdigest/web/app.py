"""The web application: routes and the request frame (security headers, a token-free
access log); the context every page shares is context.py's WebContext.

    create_app(config, engine, secret)  ->  a Starlette ASGI app

Routes: `GET|POST /u/{token}` (unsubscribe), `GET|POST /p/{token}` (preferences),
`GET /healthz`; plus the paths of `sender.unsubscribe_url` and `sender.preferences_url`
when they differ. Pages link to each other by those configured URLs, or relatively
(`../p/…`) when none is set, and carry their stylesheet inline (allowed by its hash),
so they work at any path, behind a proxy that serves them under a prefix too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from bhrdigest.config.load import Config
from bhrdigest.errors import ConfigError
from bhrdigest.web import pages
from bhrdigest.web.context import Limits, WebContext, not_found

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a preferences form is a few KB; anything bigger is not a person
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
_TOKEN_SEGMENT = re.compile(r"/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}(?=/|$)")


def bundled_templates() -> Path:
    """templates/web shipped with the project."""
    here = Path(__file__).resolve()
    for base in (here.parents[1] / "_bundled", here.parents[3]):
        if (base / "templates" / "web" / "preferences.html.j2").exists():
            return base / "templates" / "web"
    raise ConfigError("cannot find the bundled templates/web/ folder; reinstall bhrdigest")


def create_app(
    config: Config,
    engine: sa.Engine,
    secret: str | None,
    *,
    templates_dir: Path | None = None,
    limits: Limits = Limits(),
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> RequestFrame:
    """The ASGI app for `bhrdigest web`."""
    if not secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is not set: the web pages check the unsubscribe and preferences "
            "links with it. Set it to the same long random string `send` uses."
        )
    context = WebContext(config, engine, secret, templates_dir=templates_dir or bundled_templates(),
                         limits=limits, clock=clock, wall_clock=wall_clock)
    unsubscribe_paths = _paths("/u/{token}", config.sender.unsubscribe_url)
    preferences_paths = _paths("/p/{token}", config.sender.preferences_url)
    routes = [
        Route("/healthz", pages.healthz, methods=["GET"]),
        *(Route(path, pages.unsubscribe, methods=["GET", "POST"]) for path in unsubscribe_paths),
        *(Route(path, pages.preferences, methods=["GET", "POST"]) for path in preferences_paths),
    ]

    async def on_404(_request: Request, _exc: Exception) -> Response:
        return not_found()

    app = Starlette(routes=routes, exception_handlers={404: on_404}, max_body_size=MAX_BODY)
    app.state.web = context
    return RequestFrame(app)


def _paths(default: str, configured_url: str | None) -> list[str]:
    """The default path, and the configured URL's path when it differs and ends in {token}."""
    path = urlsplit(configured_url.replace("{token}", "TOKEN")).path if configured_url else ""
    path = path.replace("TOKEN", "{token}")
    return [default] + ([path] if path.endswith("/{token}") and path != default else [])


class RequestFrame:
    """Security headers on every response, and one log line per request without its token."""

    def __init__(self, app: Starlette):
        self.app = app
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_framed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in _FRAME_HEADERS if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_framed)
        finally:
            path = _TOKEN_SEGMENT.sub("/{token}", scope.get("path", ""))
            log.info("web %s %s %d %.0fms", scope.get("method"), path, status,
                     (time.perf_counter() - started) * 1000)
