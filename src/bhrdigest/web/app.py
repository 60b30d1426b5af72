"""The web application: routes; the context every page shares is context.py's WebContext.

    create_app(config, engine, secret)  ->  the ASGI app, in its RequestFrame (web/frame.py)

Routes: `GET|POST /u/{token}` (unsubscribe), `GET|POST /p/{token}` (preferences),
`GET|POST /signup`, `GET /signup/embed`, `GET|POST /signup/confirm/{token}` (sign-up: web/signup.py),
`GET /healthz`, `POST /hooks/…` (bounce webhooks, when configured); plus the paths of
`sender.unsubscribe_url` and `sender.preferences_url` when they differ. Pages link to each
other by those configured URLs, or relatively (`../p/…`) when none is set, and carry their
stylesheet inline (allowed by its hash), so they work at any path, behind a proxy that
serves them under a prefix too. For the same reason a path with a trailing slash too many
is redirected relatively (`/p/TOKEN/` -> `../TOKEN`): no Host header a client sends ends up in a Location.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match, Route

from bhrdigest.bundled import bundled_path
from bhrdigest.config.load import Config
from bhrdigest.errors import ConfigError
from bhrdigest.signup.notices import signup_page_url
from bhrdigest.web import pages, signup
from bhrdigest.web.context import Limits, WebContext, not_found
from bhrdigest.web.frame import RequestFrame
from bhrdigest.web.webhooks import Webhooks

MAX_BODY = 64 * 1024  # a preferences form is a few KB; anything bigger is not a person
DEFAULT_LIMITS = Limits()


def create_app(
    config: Config,
    engine: sa.Engine,
    secret: str | None,
    *,
    templates_dir: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    trusted_proxies: int = 1,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    webhooks: Webhooks | None = None,
    deliver_notices: Callable[[list[int]], Awaitable[object]] | None = None,
) -> RequestFrame:
    """The ASGI app for `bhrdigest web`, behind `trusted_proxies` proxies (a platform router is one);
    with `webhooks`, the bounce webhooks of the relays configured there (web/webhooks.py);
    `deliver_notices` sends the sign-up emails a request queued, after its response (web/signup.py)."""
    if not secret:
        raise ConfigError(
            "BHRDIGEST_SECRET is not set: the web pages check the unsubscribe and preferences "
            "links with it. Set it to the same long random string `send` uses."
        )
    context = WebContext(config, engine, secret, templates_dir=templates_dir or bundled_path("templates/web"),
                         limits=limits, clock=clock, wall_clock=wall_clock, deliver_notices=deliver_notices)
    unsubscribe_paths = _paths("/u/{token}", config.sender.unsubscribe_url)
    preferences_paths = _paths("/p/{token}", config.sender.preferences_url)
    confirm_paths = _paths("/signup/confirm/{token}", (signup_page_url(config) or "") + "/confirm/{token}")
    routes = [
        Route("/healthz", pages.healthz, methods=["GET"]),
        *(Route(path, pages.unsubscribe, methods=["GET", "POST"]) for path in unsubscribe_paths),
        *(Route(path, pages.preferences, methods=["GET", "POST"]) for path in preferences_paths),
        *(webhooks.routes() if webhooks else ()),
        Route("/signup", signup.signup, methods=["GET", "POST"]),
        Route("/signup/embed", signup.embed, methods=["GET"]),
        *(Route(path, signup.confirm, methods=["GET", "POST"]) for path in confirm_paths),
    ]

    async def on_404(request: Request, _exc: Exception) -> Response:
        return _without_trailing_slash(request, routes) or not_found()

    app = Starlette(routes=routes, exception_handlers={404: on_404})
    app.router.redirect_slashes = False  # Starlette's would copy the Host header into Location
    app.state.web = context
    return RequestFrame(app, trusted_proxies=trusted_proxies, max_body=MAX_BODY)


def _paths(default: str, configured_url: str | None) -> list[str]:
    """The default path, and the configured URL's path when it differs and ends in {token}."""
    path = urlsplit(configured_url.replace("{token}", "TOKEN")).path if configured_url else ""
    path = path.replace("TOKEN", "{token}")
    return [default] + ([path] if path.endswith("/{token}") and path != default else [])


def _without_trailing_slash(request: Request, routes: list[Route]) -> Response | None:
    """A redirect from `/p/TOKEN/` to `../TOKEN`, relative: right under any host and any prefix."""
    path = request.scope["path"]
    if not path.endswith("/") or path.endswith("//"):
        return None
    stripped = {**request.scope, "path": path[:-1]}
    if all(route.matches(stripped)[0] is Match.NONE for route in routes):
        return None
    query = request.scope["query_string"].decode("latin-1")
    return RedirectResponse("../" + path[:-1].rsplit("/", 1)[-1] + (f"?{query}" if query else ""))
