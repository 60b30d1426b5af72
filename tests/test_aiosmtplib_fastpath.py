"""The quick checks in front of aiosmtplib's expressions (mail/aiosmtplib_fastpath.py):
installed by a starting sender, never on import, and only over an aiosmtplib that still
calls what they replace and behaves as they assume; otherwise aiosmtplib as shipped."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import subprocess
import sys
import types

import aiosmtplib
import aiosmtplib.protocol
import aiosmtplib.smtp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtpserver import SmtpServer
from test_smtp import collect, digest, plain

from bhrdigest.mail import aiosmtplib_fastpath as fastpath
from bhrdigest.mail.smtp import SmtpSender

NAMES = ("normalize_message_line_endings", "PERIOD_REGEX")


@pytest.fixture
def shipped():
    """aiosmtplib as shipped for the test (the next sender to start installs the checks again)."""
    fastpath.uninstall()
    yield
    fastpath.uninstall()


@pytest.fixture
def server():
    with SmtpServer() as running:
        yield running


def test_importing_the_product_leaves_aiosmtplib_alone_until_a_sender_starts():
    script = """
import aiosmtplib.protocol as protocol, aiosmtplib.smtp as smtp
shipped = (protocol.normalize_message_line_endings, smtp.normalize_message_line_endings, protocol.PERIOD_REGEX)
import bhrdigest.cli.main, bhrdigest.digest.run, bhrdigest.mail.smtp, bhrdigest.ops.doctor
from bhrdigest.mail.target import parse_smtp_url
print(shipped == (protocol.normalize_message_line_endings, smtp.normalize_message_line_endings, protocol.PERIOD_REGEX))
bhrdigest.mail.smtp.SmtpSender(parse_smtp_url("smtp+plain://127.0.0.1:2525"))
print(shipped == (protocol.normalize_message_line_endings, smtp.normalize_message_line_endings, protocol.PERIOD_REGEX))
"""
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["True", "False"], ran.stderr  # untouched on import; replaced once sending


def test_the_installed_aiosmtplib_is_one_the_quick_checks_can_stand_in_for(shipped, caplog):
    caplog.set_level(logging.WARNING)
    protocol_before = [getattr(aiosmtplib.protocol, name) for name in NAMES]

    assert fastpath.install() is True, caplog.text
    assert [getattr(aiosmtplib.protocol, name) for name in NAMES] != protocol_before
    assert aiosmtplib.smtp.normalize_message_line_endings is aiosmtplib.protocol.normalize_message_line_endings
    assert caplog.records == []
    fastpath.uninstall()
    assert [getattr(aiosmtplib.protocol, name) for name in NAMES] == protocol_before


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60) | st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"x", b" "]),
                                         max_size=30).map(b"".join))
def test_the_quick_checks_change_no_byte_that_the_installed_aiosmtplib_would_not(message):
    """Whatever the message, the bytes are what the installed aiosmtplib's expressions give."""
    fastpath.uninstall()
    line_endings, period = aiosmtplib.protocol.normalize_message_line_endings, aiosmtplib.protocol.PERIOD_REGEX
    assert fastpath.install()
    try:
        assert aiosmtplib.protocol.normalize_message_line_endings(message) == line_endings(message)
        assert aiosmtplib.protocol.PERIOD_REGEX.sub(b"..", message) == period.sub(b"..", message)
    finally:
        fastpath.uninstall()


async def test_aiosmtplib_calls_what_the_quick_checks_replace_when_it_sends(server, monkeypatch):
    crlf, dotted = digest(1), digest(2)
    crlf.policy = email.policy.SMTP  # flattened with CR LF, as digests are
    dotted.clear_content()
    dotted.set_content(".leading dot\n..two dots\n")
    async with SmtpSender(plain(server), connections=1) as sender:  # installs the quick checks
        seen: list[tuple[str, bytes]] = []
        installed_line_endings, installed_period = (getattr(aiosmtplib.protocol, name) for name in NAMES)

        def line_endings(message: bytes) -> bytes:
            seen.append(("line endings", message))
            return installed_line_endings(message)

        class Period:
            def sub(self, replacement: bytes, message: bytes) -> bytes:
                seen.append(("dot-stuffing", message))
                return installed_period.sub(replacement, message)

        for module in (aiosmtplib.protocol, aiosmtplib.smtp):
            monkeypatch.setattr(module, NAMES[0], line_endings)
        monkeypatch.setattr(aiosmtplib.protocol, NAMES[1], Period())
        results = await collect(sender, [crlf, dotted], concurrency=1)

    assert [r.status for r in results] == ["sent", "sent"]
    for message in (crlf, dotted):
        flat = message.as_bytes()
        assert seen.count(("line endings", flat)) == 2  # for SIZE, then for DATA
        assert ("dot-stuffing", re.sub(rb"\r?\n", b"\r\n", flat)) in seen  # then DATA's dots
    received = {email.message_from_bytes(m.content)["Message-ID"]: m.content for m in server.messages}
    assert received[crlf["Message-ID"]] == crlf.as_bytes()
    assert received[dotted["Message-ID"]] == dotted.as_bytes().replace(b"\n", b"\r\n")


def changed_aiosmtplib(case: str) -> tuple[types.ModuleType, types.ModuleType]:
    """Copies of aiosmtplib's two modules, as a later release might have changed them."""
    protocol, smtp = types.ModuleType("aiosmtplib.protocol"), types.ModuleType("aiosmtplib.smtp")
    protocol.SMTPProtocol = aiosmtplib.protocol.SMTPProtocol
    protocol.PERIOD_REGEX = aiosmtplib.protocol.PERIOD_REGEX
    protocol.normalize_message_line_endings = smtp.normalize_message_line_endings = (
        aiosmtplib.protocol.normalize_message_line_endings
    )
    if case == "renamed":
        del protocol.PERIOD_REGEX
    elif case == "bound at import":
        protocol.SMTPProtocol = type("SMTPProtocol", (), {"execute_data_command": lambda self, message: message})
    elif case == "other expression":
        protocol.PERIOD_REGEX = re.compile(rb"(?m)^\.(?!\r\n)")
    elif case == "other line endings":  # say, trailing blank lines trimmed: a CR LF message changes
        protocol.normalize_message_line_endings = smtp.normalize_message_line_endings = (
            lambda message: re.sub(rb"\r\n|\r|\n", b"\r\n", message).rstrip(b"\r\n") + b"\r\n"
        )
    return protocol, smtp


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("renamed", "aiosmtplib.protocol.PERIOD_REGEX is gone"),
        ("bound at import", "execute_data_command no longer reads"),
        ("other expression", "PERIOD_REGEX is not the (?m)^\\."),
        ("other line endings", "changed what they do"),
    ],
)
def test_a_changed_aiosmtplib_is_left_as_shipped_with_one_log_line(shipped, caplog, case, said):
    caplog.set_level(logging.WARNING)
    protocol, smtp = changed_aiosmtplib(case)
    before = dict(vars(protocol)), dict(vars(smtp))

    assert fastpath.install(protocol, smtp) is False
    assert fastpath.install(protocol, smtp) is False  # a second sender says nothing more

    assert (dict(vars(protocol)), dict(vars(smtp))) == before
    assert [r.getMessage() for r in caplog.records] == [
        f"aiosmtplib {aiosmtplib.__version__}: {r.getMessage().split(': ', 1)[1]}" for r in caplog.records
    ]
    assert len(caplog.records) == 1 and said in caplog.records[0].getMessage()
    assert caplog.records[0].getMessage().endswith("sending with aiosmtplib as shipped")
