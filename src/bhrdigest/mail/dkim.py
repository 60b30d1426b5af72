"""Optional DKIM signing of digests with dkimpy, for relays that do not sign.

Off unless DKIM_PRIVATE_KEY is set: leave it unset when the relay signs (most
transactional-mail services do), or mail would carry two signatures for no gain.

    DKIM_PRIVATE_KEY  the PEM RSA private key itself (literal "\\n" escapes accepted,
                      for platforms whose settings take one line)
    DKIM_SELECTOR     the selector: the public key is published at
                      <selector>._domainkey.<domain> as "v=DKIM1; k=rsa; p=…"
    DKIM_DOMAIN       the signing domain (d=); default: the domain of sender.from

List-Unsubscribe and List-Unsubscribe-Post are signed (Gmail and Yahoo require it for
one-click unsubscribe), and over-signed with From and Subject: each is named once more
than it occurs, so a copy added on the way breaks the signature instead of riding on it.
Relaxed/relaxed canonicalisation survives the re-folding relays do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr

from bhrdigest.errors import ConfigError

SIGNED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                  "List-Unsubscribe-Post", "MIME-Version", "Content-Type")
OVERSIGNED = ("From", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post")


@dataclass(frozen=True, slots=True)
class DkimSigner:
    selector: str
    domain: str
    private_key: bytes = field(repr=False)

    def sign(self, message: EmailMessage) -> EmailMessage:
        """Add a DKIM-Signature header to `message` (in place) and return it.

        Call it last: any header changed afterwards breaks the signature. Send the
        result as `message.as_bytes()`, as every digest is sent.
        """
        import dkim

        present = [name for name in SIGNED_HEADERS if name in message]
        names = [*present, *(name for name in OVERSIGNED if name in message)]
        try:
            signature = dkim.sign(
                message.as_bytes(),
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.private_key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[name.lower().encode("ascii") for name in names],
            )
        except dkim.DKIMException as exc:
            raise ConfigError(
                f"DKIM signing failed: {exc}; check DKIM_PRIVATE_KEY, DKIM_SELECTOR and DKIM_DOMAIN"
            ) from exc
        name, _, value = signature.decode("ascii").partition(":")
        message.set_raw(name, value.strip())  # kept as folded by dkimpy (the policy never refolds raw headers)
        return message


def load_signer(env: Mapping[str, str], *, from_addr: str) -> DkimSigner | None:
    """The signer the environment asks for, or None when DKIM_PRIVATE_KEY is unset."""
    key_text = (env.get("DKIM_PRIVATE_KEY") or "").strip()
    if not key_text:
        return None
    selector = (env.get("DKIM_SELECTOR") or "").strip()
    if not selector or not all(part.replace("-", "").isalnum() for part in selector.split(".")):
        raise ConfigError("DKIM_PRIVATE_KEY is set but DKIM_SELECTOR is missing or not a DNS label "
                          "(such as bhr2026): it names the DNS record <selector>._domainkey.<domain>")
    domain = (env.get("DKIM_DOMAIN") or parseaddr(from_addr)[1].rpartition("@")[2]).strip().lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = ""
    if not domain or "." not in domain:
        raise ConfigError("DKIM_DOMAIN is not a domain name; set it to the domain that publishes the DKIM key")
    key = key_text.replace("\\n", "\n").encode("ascii", "replace")
    if b"PRIVATE KEY-----" not in key:
        raise ConfigError("DKIM_PRIVATE_KEY is not a PEM private key (-----BEGIN … PRIVATE KEY-----)")
    signer = DkimSigner(selector, domain, key)
    signer.sign(_probe(from_addr))  # a bad key is reported now, not at the first digest
    return signer


def _probe(from_addr: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_addr or "probe@example.org"
    message["Subject"] = "DKIM key check"
    message.set_content("check\n")
    return message
