"""A quicker path through aiosmtplib for messages that need no rewriting.

aiosmtplib passes every message through three regular expressions: line endings made
CR LF (twice: for SIZE, then for DATA) and dot-stuffing. On a 75 KB digest each costs
about 0.3 ms, a sixth of what a digest costs to send. A digest is flattened with CR LF
line ends, and its quoted-printable never starts a line with "." (digest/message.py), so
the quick checks here find at C speed that there is nothing to change, once a message,
and when there is, change it as the expressions would: the bytes sent are the same.

This replaces names inside aiosmtplib, so it is done with care:
- not on import: `install()` is called where a sender starts (SmtpSender), once a process;
- only when the names exist, aiosmtplib's code still reads them when it sends, and they
  still do what the quick checks assume (checked on the installed aiosmtplib, every time);
- otherwise one log line, and aiosmtplib runs as shipped (correct, a little slower).
`uninstall()` puts aiosmtplib back (the benchmarks time it as shipped).
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable
from types import ModuleType

import aiosmtplib
import aiosmtplib.protocol
import aiosmtplib.smtp

log = logging.getLogger(__name__)

_LINE_ENDINGS = "normalize_message_line_endings"
_PERIOD = "PERIOD_REGEX"
# Messages just found all CR LF: aiosmtplib checks the same bytes for SIZE, then for DATA.
_FOUND_CRLF: deque[bytes] = deque(maxlen=16)
# Inputs on which the installed functions must agree with the quick checks.
_PROBES = (b"", b"a", b".", b"a\r\n", b"a\n", b"a\r", b"a\r\nb", b"a\r\r\n", b"a\n\r\n", b"a\r\n\r\n",
           b".a\r\n.b\r\n", b"a\r\n.\r\n", b"a\n.b\n", b"..\r\n", b"x\r\n..y\r\n", b" \r\n")  # fmt: skip


class _Patch:
    """What was replaced, to put back; None while aiosmtplib runs as shipped."""

    originals: dict[tuple[ModuleType, str], object] | None = None
    refusal: str | None = None  # why the quick path was not installed (logged once)


def install(protocol: ModuleType = aiosmtplib.protocol, smtp: ModuleType = aiosmtplib.smtp) -> bool:
    """Put the quick checks in front of aiosmtplib's expressions; True when they are in place.

    `protocol` and `smtp` are aiosmtplib's modules (a test hands in others)."""
    if _Patch.originals is not None:
        return True
    problem = _why_not(protocol, smtp)
    if problem is not None:
        if problem != _Patch.refusal:
            log.warning("aiosmtplib %s: %s; sending with aiosmtplib as shipped",
                        getattr(aiosmtplib, "__version__", "?"), problem)
            _Patch.refusal = problem
        return False
    line_endings = _quick_line_endings(getattr(protocol, _LINE_ENDINGS))
    stuffing = _DotStuffing(getattr(protocol, _PERIOD))
    replacements = {(protocol, _LINE_ENDINGS): line_endings, (smtp, _LINE_ENDINGS): line_endings,
                    (protocol, _PERIOD): stuffing}  # fmt: skip
    _Patch.originals = {place: getattr(*place) for place in replacements}
    for (module, name), replacement in replacements.items():
        setattr(module, name, replacement)
    return True


def uninstall() -> None:
    """aiosmtplib as shipped again; the next `install` checks it afresh."""
    originals, _Patch.originals, _Patch.refusal = _Patch.originals, None, None
    for (module, name), original in (originals or {}).items():
        setattr(module, name, original)


def _why_not(protocol: ModuleType, smtp: ModuleType) -> str | None:
    """Why the quick checks cannot stand in for this aiosmtplib's, or None when they can."""
    for module, name in ((protocol, _LINE_ENDINGS), (protocol, _PERIOD), (smtp, _LINE_ENDINGS)):
        if not hasattr(module, name):
            return f"{module.__name__}.{name} is gone"
    line_endings, period = getattr(protocol, _LINE_ENDINGS), getattr(protocol, _PERIOD)
    if getattr(smtp, _LINE_ENDINGS) is not line_endings:
        return f"{smtp.__name__}.{_LINE_ENDINGS} is not {protocol.__name__}'s"
    # The names are looked up when a message is sent, not bound once at import.
    sender = getattr(getattr(protocol, "SMTPProtocol", None), "execute_data_command", None)
    read = set(getattr(getattr(sender, "__code__", None), "co_names", ()))
    if not {_LINE_ENDINGS, _PERIOD} <= read:
        return f"SMTPProtocol.execute_data_command no longer reads {_LINE_ENDINGS} and {_PERIOD}"
    if not isinstance(period, re.Pattern) or period.pattern != rb"(?m)^\." or period.flags != re.M:
        return f"{_PERIOD} is not the (?m)^\\. the dot-stuffing check stands in for"
    quick_line_endings, stuffing = _quick_line_endings(line_endings), _DotStuffing(period)
    for probe in _PROBES:
        if quick_line_endings(probe) != line_endings(probe) or stuffing.sub(b"..", probe) != period.sub(b"..", probe):
            return f"{_LINE_ENDINGS} or {_PERIOD} changed what they do (e.g. to {probe!r})"
    return None


def _quick_line_endings(original: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def normalize_message_line_endings(message: bytes) -> bytes:
        """aiosmtplib's, but a message already all CR LF, ending with one, is returned as is."""
        if any(message is found for found in _FOUND_CRLF):
            return message
        if message.endswith(b"\r\n") and message.count(b"\r") == message.count(b"\n") == message.count(b"\r\n"):
            _FOUND_CRLF.append(message)  # every CR is in a CR LF, and every LF
            return message
        return original(message)

    return normalize_message_line_endings


class _DotStuffing:
    """aiosmtplib's PERIOD_REGEX, `(?m)^\\.`, for its one use: `sub(b"..", message)`."""

    def __init__(self, original: re.Pattern[bytes]):
        self.original = original

    def sub(self, replacement: bytes, message: bytes) -> bytes:
        if replacement != b"..":
            return self.original.sub(replacement, message)
        if b"\n." in message:
            message = message.replace(b"\n.", b"\n..")
        return b"." + message if message.startswith(b".") else message
