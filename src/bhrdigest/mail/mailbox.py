"""The bounce mailbox: messages read over IMAP or from a Maildir folder, and removed once handled.

    imaps://USER:PASSWORD@imap.example.org/INBOX     implicit TLS (port 993)
    imap://USER:PASSWORD@imap.example.org/INBOX      STARTTLS required (port 143)
    imap+plain://USER:PASSWORD@127.0.0.1:1143/INBOX  no TLS: loopback only (tests)
    maildir:/var/mail/bounces  or a plain path       a Maildir folder

Only messages the caller has handled are removed; everything else stays where a person can
read it. IMAP removal is \\Deleted + EXPUNGE at close, so a crash before the end removes
nothing (the same report read twice is recorded once: store/bounces.py keys on it).
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import ssl
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Protocol
from urllib.parse import unquote, urlsplit

from bhrdigest.errors import ConfigError, TransientDeliveryError

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_MAX_MESSAGE_BYTES = 2_000_000  # a bounce quotes the digest at most; a bigger message is not one


class Mailbox(Protocol):
    def messages(self) -> Iterator[tuple[str, Message]]: ...
    def remove(self, key: str) -> None: ...
    def close(self) -> None: ...


def open_mailbox(url: str, *, timeout: float = 30.0) -> Mailbox:
    """Connect to the mailbox `url` names; ConfigError for a bad URL, TransientDeliveryError when down."""
    parts = urlsplit(url)
    if parts.scheme in ("imap", "imaps", "imap+plain"):
        return ImapMailbox(url, timeout=timeout)
    if parts.scheme == "maildir" or not parts.scheme:
        return MaildirMailbox(Path(unquote(parts.path if parts.scheme else url)))
    raise ConfigError(f"bounce mailbox: unknown scheme {parts.scheme!r}: use imaps://, imap://, or maildir:PATH")


def describe_mailbox(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


class MaildirMailbox:
    def __init__(self, path: Path):
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise ConfigError(f"bounce mailbox {path} is not a Maildir folder (it needs cur/ and new/)")
        self._box = mailbox.Maildir(path, create=False)

    def messages(self) -> Iterator[tuple[str, Message]]:
        for key in list(self._box.keys()):
            with self._box.get_file(key) as handle:
                data = handle.read(_MAX_MESSAGE_BYTES + 1)
            yield key, _parse(data)

    def remove(self, key: str) -> None:
        self._box.discard(key)

    def close(self) -> None:
        self._box.close()

    def __enter__(self) -> MaildirMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImapMailbox:
    def __init__(self, url: str, *, timeout: float = 30.0):
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not host or not parts.username:
            raise ConfigError(
                f"bounce mailbox {describe_mailbox(url)}: give a host and a user, e.g. imaps://USER:PASSWORD@host/INBOX"
            )
        if parts.scheme == "imap+plain" and host not in _LOOPBACK:
            raise ConfigError(
                f"bounce mailbox {describe_mailbox(url)}: imap+plain:// sends the password in clear; only for loopback"
            )
        self._folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self._deleted = False
        shown = describe_mailbox(url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(
                f"bounce mailbox {shown}: the port is not a number (percent-encode the password)"
            ) from None
        try:
            if parts.scheme == "imaps":
                self._imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port or 993, timeout=timeout,
                                                              ssl_context=ssl.create_default_context())
            else:
                self._imap = imaplib.IMAP4(host, port or 143, timeout=timeout)
                if parts.scheme == "imap":
                    self._imap.starttls(ssl.create_default_context())
            self._imap.login(unquote(parts.username), unquote(parts.password or ""))
            status, _ = self._imap.select(_quoted(self._folder))
        except imaplib.IMAP4.error as exc:
            raise ConfigError(f"bounce mailbox {shown} refused us: {_plain(exc)}") from None
        except (OSError, ssl.SSLError) as exc:  # TimeoutError is an OSError
            raise TransientDeliveryError(f"bounce mailbox {shown} did not answer: {exc}") from None
        if status != "OK":
            raise ConfigError(f"bounce mailbox {shown}: no folder {self._folder!r}")

    def messages(self) -> Iterator[tuple[str, Message]]:
        _, data = self._imap.uid("SEARCH", "ALL")
        for uid in (data[0] or b"").decode("ascii").split():
            _, size_data = self._imap.uid("FETCH", uid, "(RFC822.SIZE)")
            if _size(size_data) > _MAX_MESSAGE_BYTES:
                yield uid, _parse(b"Subject: (too large to be a bounce)\r\n\r\n")
                continue
            _, fetched = self._imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), b"")
            yield uid, _parse(raw)

    def remove(self, key: str) -> None:
        self._imap.uid("STORE", key, "+FLAGS.SILENT", r"(\Deleted)")
        self._deleted = True

    def close(self) -> None:
        try:
            if self._deleted:
                self._imap.expunge()
            self._imap.close()
            self._imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass  # the server went away: \Deleted flags stay, and EXPUNGE happens next time

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _parse(data: bytes) -> Message:
    return email.message_from_bytes(data[:_MAX_MESSAGE_BYTES], policy=email.policy.compat32)


def _size(data: list) -> int:
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
    _, _, rest = text.partition("RFC822.SIZE ")
    digits = "".join(c for c in rest if c.isdigit())
    return int(digits) if digits else 0


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else exc
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
