"""A rendered digest as an email: multipart/alternative, plain text first.

Send the result as ``msg.as_bytes()`` (for example with
``SMTP.sendmail(from, [to], msg.as_bytes())``). Do not re-flatten it with
another policy (``aiosmtplib.send_message`` does, with the default policy):
that would fold List-Unsubscribe into RFC 2047 encoded words, which mail
providers do not decode, and one-click unsubscribe would break.

Bodies are encoded here rather than by the email package: whichever of
quoted-printable and base64 is shorter (QP for mostly-ASCII mail, base64
for Japanese or Arabic), both done in C (binascii), lines <= 76 characters.
`encoded_size` uses the same encoders, so the renderer can keep the whole
message under the size cap before any message exists.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING

from bhrdigest.components import Subscriber
from bhrdigest.errors import ConfigError

if TYPE_CHECKING:
    from bhrdigest.digests import RenderedDigest

# refold_source="none": headers we set raw (set_raw) go out exactly as given,
# on one line. Headers set normally are still folded at 78 and RFC 2047
# encoded where needed (non-ASCII names and subjects).
POLICY = email.policy.SMTP.clone(refold_source="none")

# Headers of a digest stay well under this; the renderer counts it in the cap.
HEADER_ALLOWANCE = 2_500
_MAX_HEADER_LINE = 998  # RFC 5322 hard limit, including the name


def build_message(
    rendered: RenderedDigest,
    *,
    subscriber: Subscriber,
    from_addr: str,
    subject: str,
    run_id: int,
    list_id: str,
    unsubscribe_url: str | None,
    unsubscribe_mailto: str | None,
    now: datetime,
    domain: str,
) -> EmailMessage:
    """The digest email for one subscriber (deterministic but for the MIME boundary)."""
    if now.tzinfo is None:
        raise ValueError(
            "build_message needs a timezone-aware `now` for the Date header"
        )
    msg = EmailMessage(policy=POLICY)
    msg["From"] = from_addr
    msg["To"] = Address(
        display_name=subscriber.name.strip(), addr_spec=subscriber.email.strip()
    )
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(now)
    msg["Message-ID"] = message_id(run_id, subscriber.email, domain)
    msg["List-Id"] = f"<{list_id}>"
    _set_unsubscribe_headers(msg, unsubscribe_url, unsubscribe_mailto)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = "multipart/alternative"
    # Plain text first: clients show the last part they can render, and
    # text-only readers (and spam filters) read the first.
    msg.attach(_text_part(rendered.text, "plain"))
    msg.attach(_text_part(rendered.html, "html"))
    return msg


def message_id(run_id: int, address: str, domain: str) -> str:
    """`<digest-RUN-HASH@domain>`: the same run and subscriber, the same id."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]
    return f"<digest-{run_id}-{digest}@{domain}>"


def list_unsubscribe_value(
    unsubscribe_url: str | None, unsubscribe_mailto: str | None
) -> str:
    """`<https://…>, <mailto:…?subject=unsubscribe>` (either may be absent)."""
    targets = []
    if unsubscribe_url:
        targets.append(f"<{unsubscribe_url}>")
    if unsubscribe_mailto:
        mailto = unsubscribe_mailto.removeprefix("mailto:")
        if "?" not in mailto:
            mailto += "?subject=unsubscribe"
        targets.append(f"<mailto:{mailto}>")
    return ", ".join(targets)


def encoded_size(content: str) -> int:
    """Bytes one text part's body takes on the wire (CRLF line ends)."""
    _, body = _encode_body(content.encode("utf-8"))
    return len(body) + body.count("\n")  # each LF becomes CRLF


def _set_unsubscribe_headers(
    msg: EmailMessage, unsubscribe_url: str | None, unsubscribe_mailto: str | None
) -> None:
    value = list_unsubscribe_value(unsubscribe_url, unsubscribe_mailto)
    if not value:
        return
    if any(ch in value for ch in "\r\n") or not value.isascii():
        raise ConfigError(
            "sender.unsubscribe_url / unsubscribe_mailto: must be ASCII on one line "
            "(percent-encode anything else)"
        )
    if len("List-Unsubscribe: ") + len(value) > _MAX_HEADER_LINE:
        raise ConfigError(
            f"sender.unsubscribe_url: the List-Unsubscribe header would be {len(value)} "
            f"characters; it must fit on one {_MAX_HEADER_LINE}-character line: shorten the URL"
        )
    # Raw: never folded, never turned into =?utf-8?q?…?= encoded words.
    msg.set_raw("List-Unsubscribe", value)
    if unsubscribe_url and unsubscribe_url.startswith("https://"):
        # RFC 8058 one-click only applies to an https URI.
        msg.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")


def _text_part(content: str, subtype: str) -> EmailMessage:
    cte, body = _encode_body(content.encode("utf-8"))
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(body)
    return part


def _encode_body(data: bytes) -> tuple[str, str]:
    """(Content-Transfer-Encoding, ASCII body with LF line ends), the shorter one."""
    data = data.replace(b"\r\n", b"\n")
    qp = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    b64 = base64.encodebytes(data)  # 76-character lines
    if len(qp) <= len(b64):
        return "quoted-printable", qp.decode("ascii")
    return "base64", b64.decode("ascii")
