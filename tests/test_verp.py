"""Every digest's envelope sender names its recipient (VERP), so a bounce says who bounced.

Proved where it matters: the MAIL FROM the relay (aiosmtpd on loopback) receives, and the
`Return-Path:` of the .eml files a dry run or the outbox writes.
"""

from __future__ import annotations

import base64
import email
import email.policy
from pathlib import Path

import dkim
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from smtpserver import SmtpServer

from bhrdigest.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
SECRET = "test-secret-of-enough-length-0123456789"


def make_cli(tmp_path: Path, bounce_line: str):
    config = tmp_path / "subscriptions.yaml"
    config.write_text(f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "https://digest.example.org/u/{{token}}"
  list_id: weekly.bhrdigest.example.org
{bounce_line}
feeds:
  - url: "{SAMPLE}"
companies:
  Cellebrite: {{}}
subscribers:
  - email: alex@example.org
    companies: [Cellebrite]
  - email: Sam.Lee+bhr@example.net
    regions: [Americas]
""", encoding="utf-8")
    env = {"BHRDIGEST_CONFIG": str(config), "DATABASE_URL": f"sqlite:///{tmp_path / 'bhrdigest.db'}",
           "BHRDIGEST_OUTBOX": str(tmp_path / "outbox"), "SMTP_URL": "", "BHRDIGEST_SECRET": "", "DYNO": ""}

    def invoke(*args: str, extra_env: dict[str, str] | None = None):
        return CliRunner().invoke(main, list(args), env=env | (extra_env or {}), catch_exceptions=False)

    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("fetch").exit_code == 0
    return invoke


@pytest.fixture
def verp_cli(tmp_path):
    return make_cli(tmp_path, "  bounce_address: bounces@bounce.example.org")


def test_each_digest_goes_out_with_its_recipients_verp_envelope_sender(verp_cli):
    with SmtpServer() as server:
        result = verp_cli("send", "--yes", extra_env={"SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}",
                                                       "BHRDIGEST_SECRET": SECRET})
        received = {r.rcpt_tos[0]: r for r in server.messages}
    assert result.exit_code == 0, result.output
    assert received["alex@example.org"].mail_from == "bounces+alex=example.org@bounce.example.org"
    assert received["sam.lee+bhr@example.net"].mail_from == "bounces+sam.lee+bhr=example.net@bounce.example.org"
    # The receiving server writes Return-Path from MAIL FROM; the message itself carries none.
    alex = email.message_from_bytes(received["alex@example.org"].content, policy=email.policy.default)
    assert alex["Return-Path"] is None and alex["From"] == "Resource Centre <updates@example.org>"


def test_a_dry_run_shows_the_return_path_in_each_eml_file(verp_cli, tmp_path):
    folder = tmp_path / "dry"
    result = verp_cli("send", "--dry-run", "--outbox", str(folder))
    assert result.exit_code == 0, result.output
    eml = (folder / "alex_example.org.eml").read_bytes()
    assert eml.startswith(b"Return-Path: <bounces+alex=example.org@bounce.example.org>\r\n")


def test_the_outbox_records_the_return_path_too(verp_cli, tmp_path):
    result = verp_cli("send", "--yes", "--outbox", str(tmp_path / "outbox"))
    assert result.exit_code == 0, result.output
    paths = {email.message_from_bytes(p.read_bytes())["Return-Path"] for p in (tmp_path / "outbox").glob("*.eml")}
    assert paths == {"<bounces+alex=example.org@bounce.example.org>",
                     "<bounces+sam.lee+bhr=example.net@bounce.example.org>"}


def test_without_a_bounce_address_the_envelope_sender_is_the_from_address(tmp_path):
    cli = make_cli(tmp_path, "")
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env={"SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}",
                                                 "BHRDIGEST_SECRET": SECRET})
        senders = {r.mail_from for r in server.messages}
    assert result.exit_code == 0, result.output
    assert senders == {"updates@example.org"}


def test_a_dkim_signed_digest_still_verifies_as_the_relay_receives_it(verp_cli):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with SmtpServer() as server:
        result = verp_cli("send", "--yes", extra_env={
            "SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}", "BHRDIGEST_SECRET": SECRET,
            "DKIM_PRIVATE_KEY": pem, "DKIM_SELECTOR": "bhr2026"})
        received = server.messages[0]
    assert result.exit_code == 0, result.output
    assert received.mail_from.startswith("bounces+")
    # Signed with Return-Path in the message, sent without it: the signature must hold.
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(received.content, dnsfunc=lambda name, timeout=5: record)


def test_a_test_send_to_staff_bounces_to_staffs_verp_address_not_the_subscribers(verp_cli):
    with SmtpServer() as server:
        result = verp_cli("send", "--only", "alex@example.org", "--to", "me@example.net", extra_env={
            "SMTP_URL": f"smtp+plain://127.0.0.1:{server.port}", "BHRDIGEST_SECRET": SECRET})
        senders = [(r.mail_from, r.rcpt_tos) for r in server.messages]
    assert result.exit_code == 0, result.output
    # Were the test to bounce, it must never suppress alex.
    assert senders == [("bounces+me=example.net@bounce.example.org", ("me@example.net",))]
