"""What every page shares: the configuration, the database, the signing secret, the
templates and the rate limits (`WebContext`), and the plain responses pages refuse with.

app.py builds the context and routes requests to pages.py; both read this module, so
neither imports the other.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from bhrdigest.config.load import Config
from bhrdigest.config.preferences import Choices
from bhrdigest.i18n import chrome_for
from bhrdigest.model import Subscriber
from bhrdigest.signing import (
    make_preferences_token,
    make_token,
    read_legacy_preferences_token,
    read_legacy_token,
    read_preferences_token,
    read_token,
)
from bhrdigest.store.addresses import address_ids, email_of
from bhrdigest.store.subscribers import find_subscriber
from bhrdigest.web.ratelimit import RateLimiter, retry_after


@dataclass(frozen=True, slots=True)
class Limits:
    """Token buckets: per client address (pages, bad tokens) and per subscriber (every hit)."""

    client_burst: int = 60
    client_per_second: float = 1.0
    subscriber_burst: int = 20
    subscriber_per_second: float = 0.2
    signup_burst: int = 5  # requests to join from one client; then one every 2 minutes
    signup_per_second: float = 1 / 120


@dataclass(frozen=True, slots=True)
class SignupDesk:
    """The sign-up pages' own: the per-client limit on requests to join, and what sends the
    emails they queue right after the response (None: the worker sends them)."""

    client_limit: RateLimiter
    deliver: Callable[[list[int]], Awaitable[object]] | None = None


class WebContext:
    """What the pages share: configuration, database, signing secret, templates, limits."""

    def __init__(self, config: Config, engine: sa.Engine, secret: str, *, templates_dir: Path,
                 limits: Limits, clock: Callable[[], float], wall_clock: Callable[[], float],
                 deliver_notices: Callable[[list[int]], Awaitable[object]] | None = None):
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
        self.signup = SignupDesk(RateLimiter(burst=limits.signup_burst, per_second=limits.signup_per_second,
                                             clock=clock), deliver_notices)
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
            extensions=["jinja2.ext.i18n"],
        )
        self.templates.newstyle_gettext = True  # type: ignore[attr-defined]  # as the digest's (i18n.py)

    def __repr__(self) -> str:  # never the secret
        return f"WebContext(list_id={self.list_id!r}, subscribers={len(self.subscribers)})"

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_clock(), UTC)

    def find(self, email: str) -> Subscriber | None:
        """The subscriber `email` names: the YAML's, else the database's (imports arrive while we run)."""
        return find_subscriber(self.engine, self.subscribers, self.choices, email)

    def page(self, template: str, /, *, status: int = 200, reader_languages: Sequence[str] = (),
             **context: object) -> HTMLResponse:
        """`template` in the first of `reader_languages` that has a catalogue's wording, else English."""
        chrome = chrome_for(reader_languages)
        html = self.templates.get_template(template).render(css=self.css, **chrome.template_globals(), **context)
        return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": self.policy})

    def token(self, kind: str, address_id: int) -> str:
        """The unsubscribe ("u") or preferences ("p") token of the address `address_id`."""
        make = make_token if kind == "u" else make_preferences_token
        return make(self.secret, address_id, self.list_id)

    def link(self, kind: str, address_id: int) -> str:
        """The unsubscribe ("u") or preferences ("p") URL of `address_id`: as configured, else relative."""
        configured = self.config.sender.unsubscribe_url if kind == "u" else self.config.sender.preferences_url
        token = self.token(kind, address_id)
        return configured.replace("{token}", token) if configured else f"../{kind}/{token}"

    def address_id(self, email: str) -> int:
        """The id the links of `email` carry, given it if it has none. It reads the database: call it in a thread."""
        return address_ids(self.engine, [email])[email.strip().lower()]

    def holder(self, kind: str, token: str) -> tuple[int, str] | None:
        """(address id, email) of a genuine unsubscribe ("u") or preferences ("p") token, else None.

        A token names an address id; one of the old form (the address itself, signed) is
        honoured until signing.LEGACY_TOKENS_UNTIL. It reads the database: call it in a thread."""
        read, read_legacy = (read_token, read_legacy_token) if kind == "u" else (read_preferences_token,
                                                                                  read_legacy_preferences_token)
        address_id = read(self.secret, token, self.list_id)
        if address_id is not None:
            email = email_of(self.engine, address_id)
            return (address_id, email) if email is not None else None
        email = read_legacy(self.secret, token, self.list_id, now=self.now())
        return (self.address_id(email), email) if email is not None else None

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
