"""Who sent a request, and over which scheme, when proxies stand in front of the app.

Each proxy appends the address it took the connection from to X-Forwarded-For, so with N
trusted proxies the client is the N-th address from the right; anything further left the
client wrote itself and may be anything. A platform router (Heroku's) is one proxy. The
scheme comes from X-Forwarded-Proto, read the same way. A header with fewer entries than
trusted proxies did not pass through all of them and is ignored: the connection's own
peer and scheme stand. (The rule of werkzeug's ProxyFix.)
"""

from __future__ import annotations

from starlette.types import Scope

_LONGEST_ADDRESS = 64  # an IPv6 address with a zone fits; longer is junk, and rate limits key on it


def forwarded(scope: Scope, trusted_proxies: int) -> tuple[str, str]:
    """The client address and scheme ("http" or "https") of an HTTP request."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    client = _from_trusted_hop(scope, b"x-forwarded-for", trusted_proxies)
    scheme = _from_trusted_hop(scope, b"x-forwarded-proto", trusted_proxies)
    return (client[:_LONGEST_ADDRESS] if client else peer,
            scheme if scheme in ("http", "https") else scope["scheme"])


def behind_proxies(scope: Scope, trusted_proxies: int) -> Scope:
    """The scope with the client and scheme the trusted proxies report."""
    client, scheme = forwarded(scope, trusted_proxies)
    return {**scope, "client": (client, 0), "scheme": scheme}


def _from_trusted_hop(scope: Scope, name: bytes, trusted_proxies: int) -> str | None:
    if trusted_proxies < 1:
        return None
    values = [value.strip() for header, line in scope["headers"] if header == name
              for value in line.decode("latin-1").split(",")]
    if len(values) < trusted_proxies:
        return None
    return values[-trusted_proxies] or None
