"""The web application: routes, and the context every page shares.

    create_app(config, engine, secret)  ->  the ASGI app, in its RequestFrame (web/frame.py)

Routes: `GET|POST /u/{token}` (unsubscribe), `GET|POST /p/{token}` (preferences),
`GET /healthz`; plus the paths of `sender.unsubscribe_url` and `sender.preferences_url`
when they differ. Pages link to each other by those configured URLs, or relatively
(`../p/…`) when none is set, and carry their stylesheet inline (allowed by its hash),
so they work at any path, behind a proxy that serves them under a prefix too. For the
same reason a path with a trailing slash too many is redirected relatively
(`/p/TOKEN/` -> `../TOKEN`): no Host header a client sends ends up in a Location.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match, Route

from bhrdigest.config.load import Config
from bhrdigest.config.preferences import Choices
from bhrdigest.errors import ConfigError
from bhrdigest.signing import make_preferences_token, make_token
from bhrdigest.web.frame import RequestFrame
from bhrdigest.web.ratelimit import RateLimiter, retry_after

MAX_BODY = 64 * 1024  # a preferences form is a few KB; anything bigger is not a person


@dataclass(frozen=True, slots=True)
class Limits:
    """Token buckets: per client address (pages, bad tokens) and per subscriber (every hit)."""

    client_burst: int = 60
    client_per_second: float = 1.0
    subscriber_burst: int = 20
    subscriber_per_second: float = 0.2


class WebContext:
    """What the pages share: configuration, database, signing secret, templates, limits."""

    def __init__(self, config: Config, engine: sa.Engine, secret: str, *, templates_dir: Path,
                 limits: Limits, clock: Callable[[], float], wall_clock: Callable[[], float]):
        self.config = config
        self.engine = engine
        self.secret = secret  # kept out of repr below
        self.list_id = config.sender.list_id
        self.subscribers = {s.email.lower(): s for s in config.subscribers}
        self.choices = Choices(config.catalogue)
        self.client_limit = RateLimiter(burst=limits.client_burst, per_second=limits.client_per_second, clock=clock)
        self.subscriber_limit = RateLimiter(burst=limits.subscriber_burst, per_second=limits.subscriber_per_second,
                                            clock=clock)
        self.wall_clock = wall_clock
        self.css = (templates_dir / "web.css").read_text(encoding="utf-8")
        css_hash = base64.b64encode(hashlib.sha256(self.css.encode("utf-8")).digest()).decode("ascii")
        # No script, no outside resource; the one inline stylesheet allowed by its hash.
        self.policy = (f"default-src 'none'; style-src 'sha256-{css_hash}'; form-action 'self'; "
                       "frame-ancestors 'none'; base-uri 'none'")
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def __repr__(self) -> str:  # never the secret
        return f"WebContext(list_id={self.list_id!r}, subscribers={len(self.subscribers)})"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_clock(), UTC)

    def page(self, template: str, /, *, status: int = 200, **context: object) -> HTMLResponse:
        html = self.templates.get_template(template).render(css=self.css, **context)
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": self.policy})

    def link(self, kind: str, email: str) -> str:
        """The unsubscribe ("u") or preferences ("p") URL of `email`: as configured, else relative."""
        if kind == "u":
            token, configured = make_token(self.secret, email, self.list_id), self.config.sender.unsubscribe_url
        else:
            token = make_preferences_token(self.secret, email, self.list_id)
            configured = self.config.sender.preferences_url
        return configured.replace("{token}", token) if configured else f"../{kind}/{token}"

    def limited(self, request: Request, email: str | None) -> float:
        """Seconds to wait, or 0: the client's bucket, then the subscriber's."""
        wait = self.client_limit.take(client_address(request))
        if not wait and email is not None:
            wait = self.subscriber_limit.take(email)
        return wait

    def refused(self, request: Request) -> Response:
        """A forged, tampered or unknown token: the plain 404 of any unknown path.

        It costs the client a token, so guessing is throttled too."""
        wait = self.client_limit.take(client_address(request))
        return too_many(wait) if wait else not_found()


def client_address(request: Request) -> str:
    # The address the trusted proxies report (RequestFrame), else the connection's peer.
    return request.client.host if request.client else "unknown"


def not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def too_many(wait: float) -> Response:
    seconds = retry_after(wait)
    return PlainTextResponse(f"Too many requests: try again in {seconds} seconds.", status_code=429,
                             headers={"Retry-After": seconds})


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
    trusted_proxies: int = 1,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> RequestFrame:
    """The ASGI app for `bhrdigest web`, behind `trusted_proxies` proxies (a platform router is one)."""
    from bhrdigest.web import pages

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
