"""The outbox: digests written as .eml files instead of mailed.

Where `demo` and `send --dry-run` put what they render, and where a real run goes only
when staff ask for it (`send --outbox DIR`): never the silent fallback of a missing
SMTP_URL. Each message is one file, written atomically, named after its Message-ID
and recipient, so a run written twice is the same files.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from bhrdigest.errors import ConfigError
from bhrdigest.mail.sending import SendResult


class Outbox:
    """Writes each message as an .eml file, atomically, named after its Message-ID and recipient.

    `html_copies`: also write each message's HTML part beside it, to open in a browser.
    """

    down: str | None = None  # a folder never "goes down": each failed write is that message's failure

    def __init__(self, folder: Path, *, html_copies: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.html_copies = html_copies
        self.written: list[tuple[str, Path, int]] = []  # (recipient, .eml path, size)

    async def check(self) -> None:
        """The folder takes files (as SmtpSender.check: said before anything is sent)."""
        probe = self.folder / f".bhrdigest-check.{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"cannot write to the outbox folder {self.folder}: {exc.strerror}") from exc

    async def aclose(self) -> None:
        """Nothing to close (as SmtpSender.aclose)."""

    async def send(self, message: EmailMessage) -> SendResult:
        message_id = str(message.get("Message-ID", "")).strip()
        recipient = parseaddr(str(message.get("To", "")))[1]
        path = self.folder / f"{file_stem(message_id.partition('@')[0] or 'message')}.{file_stem(recipient)}.eml"
        data = message.as_bytes()
        try:
            write_atomically(path, data)
            if self.html_copies and (html := message.get_body(("html",))) is not None:
                write_atomically(path.with_suffix(".html"), bytes(html.get_payload(decode=True)))
        except OSError as exc:
            return SendResult(message_id, "failed", f"cannot write {path}: {exc.strerror}", 1)
        self.written.append((recipient, path, len(data)))
        return SendResult(message_id, "sent", None, 1)


def file_stem(message_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>"))[:120]


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
