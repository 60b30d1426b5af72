"""Where digests go: SMTP_URL parsed into an SmtpTarget, the password kept out of repr.

    smtp://user:pass@host:587     STARTTLS (required once credentials leave loopback)
    smtps://user:pass@host:465    implicit TLS
    smtp+plain://127.0.0.1:2525   no TLS, loopback only (tests, a local relay)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from bhrdigest.errors import ConfigError

SECURITIES = ("starttls", "tls", "plain")
_SCHEMES = {"smtp": ("starttls", 587), "smtps": ("tls", 465), "smtp+plain": ("plain", 25)}


def _is_loopback(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SmtpTarget:
    """Where digests go.

    `security`: "starttls" (upgrade when offered), "tls" (implicit, smtps) or "plain".
    STARTTLS becomes mandatory with `require_starttls`, and whenever credentials would go
    to a host beyond loopback.
    """

    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    require_starttls: bool = False

    def __post_init__(self) -> None:
        if self.security not in SECURITIES:
            raise ValueError(f"security must be one of {SECURITIES}, not {self.security!r}")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def starttls_required(self) -> bool:
        """Credentials never cross a network in clear text; loopback is exempt (tests, local relays)."""
        if self.security != "starttls":
            return False
        return self.require_starttls or (self.username is not None and not _is_loopback(self.host))


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:587`, `smtps://user:pass@host:465` or `smtp+plain://127.0.0.1:2525`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(
            "SMTP_URL is not a valid URL: is the port a number? Percent-encode special "
            "characters in the user name and password (@ as %40, / as %2F, : as %3A)"
        ) from None  # the original error quotes the URL, password and all
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"SMTP_URL scheme {scheme!r} is not supported: use smtp:// (STARTTLS), "
            "smtps:// (implicit TLS) or smtp+plain:// (loopback only)"
        )
    security, default_port = _SCHEMES[scheme]
    host = parts.hostname
    if not host:
        raise ConfigError("SMTP_URL has no host name, e.g. smtp://user:pass@smtp.example.org:587")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("SMTP_URL must be scheme://[user:password@]host[:port] with nothing after the port")
    if security == "plain" and not _is_loopback(host):
        raise ConfigError(
            f"smtp+plain:// sends mail unencrypted and is allowed only to a loopback host, "
            f"not {host}: use smtp:// or smtps://"
        )
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and username is None:
        raise ConfigError("SMTP_URL has a password but no user name")
    return SmtpTarget(host, port or default_port, security, username, password)
