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
import functools
import hashlib
from datetime import datetime
from email.generator import NLCRE, BytesGenerator  # type: ignore[attr-defined]  # NLCRE: not in typeshed
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage
from io import BytesIO
from typing import TYPE_CHECKING, BinaryIO

from bhrdigest.errors import ConfigError
from bhrdigest.model import Subscriber

if TYPE_CHECKING:
    from bhrdigest.digest.build import RenderedDigest

# refold_source="none": headers we set raw (set_raw) go out exactly as given,
# on one line. Headers set normally are still folded at 78 and RFC 2047
# encoded where needed (non-ASCII names and subjects).
POLICY = email.policy.SMTP.clone(refold_source="none")

# Never a line of a quoted-printable or base64 body ("==" occurs in neither but as the
# last padding of base64, and no base64 line starts "--"), so one boundary serves every
# digest, and the email package need not search each body for a free one.
BOUNDARY = "==bhrdigest-alternative=="

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
    reply_to: str | None = None,
    language: str | None = None,
    return_path: str | None = None,
    message_id_value: str | None = None,
) -> EmailMessage:
    """The digest email for one subscriber (deterministic: the same input, the same bytes).

    `return_path`: the envelope sender (a VERP bounce address), written as `Return-Path:`
    so the outbox shows it; the SMTP sender sends it as MAIL FROM, not as a header.
    `message_id_value`: for an email that is no run's digest (a sign-up notice), its own Message-ID.
    `rendered`: anything with `html` and `text` (a notice too).
    """
    if now.tzinfo is None:
        raise ValueError(
            "build_message needs a timezone-aware `now` for the Date header"
        )
    msg = DigestMessage(policy=POLICY)
    if return_path:
        msg.set_raw("Return-Path", f"<{return_path}>")  # raw: an address, never folded or encoded
    # Headers the same in every digest of a run are parsed once (see _header).
    msg["From"] = _header("From", from_addr)
    msg["To"] = Address(
        display_name=subscriber.name.strip(), addr_spec=subscriber.email.strip()
    )
    msg["Subject"] = _header("Subject", subject)
    msg["Date"] = _header("Date", email.utils.format_datetime(now))
    msg["Message-ID"] = message_id_value or message_id(run_id, subscriber.email, domain)
    msg["List-Id"] = _header("List-Id", f"<{list_id}>")
    # RFC 3834: machine-sent, so vacation responders and the like do not answer it.
    msg["Auto-Submitted"] = _header("Auto-Submitted", "auto-generated")
    if reply_to:
        msg["Reply-To"] = _header("Reply-To", reply_to)
    if language:
        msg["Content-Language"] = _header("Content-Language", language)
    _set_unsubscribe_headers(msg, unsubscribe_url, unsubscribe_mailto)
    msg["MIME-Version"] = _header("MIME-Version", "1.0")
    msg["Content-Type"] = _header("Content-Type", f'multipart/alternative; boundary="{BOUNDARY}"')
    # Plain text first: clients show the last part they can render, and
    # text-only readers (and spam filters) read the first.
    # typeshed wants parts of the parent's own class; any EmailMessage is a part.
    msg.attach(_text_part(rendered.text, "plain"))  # type: ignore[arg-type]
    msg.attach(_text_part(rendered.html, "html"))  # type: ignore[arg-type]
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
    _, body = _encoded(content)
    return len(body) + body.count("\n")  # each LF becomes CRLF


class DigestMessage(EmailMessage):
    """An EmailMessage that flattens its pre-encoded bodies in one piece.

    The email package writes a body line by line, which was most of the cost of
    sending a digest; the bytes are the same (see _BodyAtOnceGenerator).
    """

    def as_bytes(self, unixfrom: bool = False, policy: email.policy.Policy | None = None) -> bytes:
        out = BytesIO()
        generator = _BodyAtOnceGenerator(out, mangle_from_=False, policy=self.policy if policy is None else policy)
        generator.flatten(self, unixfrom=unixfrom)
        return out.getvalue()

    __bytes__ = as_bytes


class _BodyAtOnceGenerator(BytesGenerator):
    # Set by the base class (typeshed leaves its private attributes out); flatten() sets the policy.
    _NL: str
    _fp: BinaryIO
    policy: email.policy.Policy

    def _write_lines(self, lines: str) -> None:
        # The base class splits on NLCRE and writes line, NL, line, NL…: the same bytes.
        if not lines:
            return
        self.write(lines.replace("\n", self._NL) if "\r" not in lines else NLCRE.sub(self._NL, lines))

    def _write_headers(self, msg: EmailMessage) -> None:
        # As the base class, but a header shared by every digest of a run is folded once.
        for name, value in msg.raw_items():
            shared = _SHARED.get(id(value))
            if shared is None or shared[0] is not value:
                self._fp.write(self.policy.fold_binary(name, value))
                continue
            folded = shared[1].get(self.policy)
            if folded is None:
                folded = shared[1][self.policy] = self.policy.fold_binary(name, value)
            self._fp.write(folded)
        self.write(self._NL)


# Headers made by _header, by id: (the header, its folded bytes by policy). Each entry
# holds its header, so an id here is never another object's.
_SHARED: dict[int, tuple[BaseHeader, dict[email.policy.Policy, bytes]]] = {}


@functools.lru_cache(maxsize=256)
def _header(name: str, value: str) -> BaseHeader:
    """A parsed header, shared by every message that carries the same value (and folded
    once for all of them when they are flattened)."""
    header = POLICY.header_factory(name, value)
    if len(_SHARED) >= 1024:  # one Date a run: bounded in a long-lived process
        _SHARED.clear()
    _SHARED[id(header)] = (header, {})
    return header


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
    cte, body = _encoded(content)
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = _header("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _header("Content-Transfer-Encoding", cte)
    part.set_payload(body)
    return part


@functools.lru_cache(maxsize=16)
def _encoded(content: str) -> tuple[str, str]:
    # The renderer sizes the parts it renders, then the same strings are encoded for
    # the message: remembering the last few encodes each digest's parts once.
    return _encode_body(content.encode("utf-8"))


def _encode_body(data: bytes) -> tuple[str, str]:
    """(Content-Transfer-Encoding, ASCII body with LF line ends), the shorter one."""
    if b"\r" in data:  # rendered templates have none; a scan costs a tenth of replace()
        data = data.replace(b"\r\n", b"\n")
    qp = _quoted_printable(data)
    # base64's length is known without encoding: 4 characters per 3 bytes, 76 a line.
    lines = -(-len(data) // 57)
    if len(qp) <= 4 * -(-len(data) // 3) + lines:
        return "quoted-printable", qp.decode("ascii")
    return "base64", base64.encodebytes(data).decode("ascii")


# Quoted-printable encodes each line on its own (soft breaks at 76, trailing blanks, a
# lone "."), so a body's encoding is its lines' encodings joined. A run's digests share
# most of their lines (the same items, header and footer): each distinct line is encoded
# once, and binascii.b2a_qp, which costs about 7 ns a byte, runs on the few new ones.
_QP_LINES: dict[bytes, bytes] = {}
_QP_LINES_KEPT = 50_000  # lines (~10 MB); personal lines (names, links) fill it, then it restarts
_QP_WIDTH = 76


def _quoted_printable(data: bytes) -> bytes:
    """binascii.b2a_qp(data, istext=True) a line at a time, but with no line starting with "."
    (see _encode_line)."""
    if b"\r" in data:  # b2a_qp takes CR LF for a line end, and CR LF line ends from the first line
        return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    lines = data.split(b"\n")
    last = lines.pop()  # after the last newline: no line end of its own
    if len(_QP_LINES) > _QP_LINES_KEPT:
        _QP_LINES.clear()
    encoded = []
    for line in lines:
        known = _QP_LINES.get(line)
        if known is None:
            known = _QP_LINES[line] = _encode_line(line + b"\n")
        encoded.append(known)
    if last:
        encoded.append(_encode_line(last))
    return b"".join(encoded)


def _encode_line(line: bytes) -> bytes:
    """One line, quoted-printable; where b2a_qp would start an encoded line with ".", the
    line is wrapped again with that "." written =2E.

    SMTP doubles a "." that starts a line (dot-stuffing): with none, the sender has nothing
    to rewrite in a 75 KB message (soft breaks put a "." first on some line of 92% of digests).
    """
    encoded = binascii.b2a_qp(line, quotetabs=False, istext=True, header=False)
    if not encoded.startswith(b".") and b"\n." not in encoded:
        return encoded
    ending = b"\n" if encoded.endswith(b"\n") else b""
    flat = encoded.removesuffix(ending).replace(b"=\n", b"")  # the line's escapes, soft breaks undone
    wrapped, current, at = [], b"", 0
    while at < len(flat):
        size = 3 if flat[at] == 0x3D else 1  # "=XX" or one character
        token = flat[at : at + size]
        at += size
        if len(current) + len(token) > _QP_WIDTH - 1:  # leave room for the soft break's "="
            wrapped.append(current + b"=\n")
            current = b""
        current += b"=2E" if token == b"." and not current else token
    return b"".join(wrapped) + current + ending
