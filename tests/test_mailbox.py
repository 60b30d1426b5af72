"""Mailbox conventions, end to end: what a Spanish reader's mail client receives over SMTP,
and how `check` treats the sender's footer settings."""

from __future__ import annotations

from pathlib import Path

from smtpserver import SmtpServer
from test_cli import SAMPLE, cli, received_by, smtp_env, write_config  # noqa: F401 (cli: the fixture)

ANA = """
  - email: ana@example.org
    name: Ana
    languages: [es, en]
    companies: [Cellebrite]
"""
FOOTER = """  reply_to: equipo@example.org
  postal_address: "Business & Human Rights Resource Centre, 7 Example Street, London, UK"
  privacy_url: https://www.example.org/privacy
  view_url: https://www.example.org/weekly-update
"""


def with_footer(path: Path, footer: str = FOOTER) -> Path:
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  list_id:", footer + "  list_id:", 1), encoding="utf-8")
    return path


def test_a_spanish_reader_gets_a_spanish_auto_submitted_digest_with_reply_to_and_footer(cli, tmp_path):
    config = with_footer(write_config(tmp_path, [str(SAMPLE)], ANA))
    assert cli("fetch").exit_code == 0
    with SmtpServer() as server:
        result = cli("send", "--yes", extra_env=smtp_env(server) | {"BHRDIGEST_CONFIG": str(config)})
        (message,) = received_by(server)["ana@example.org"]
    assert result.exit_code == 0, result.output
    assert message["Subject"] == "Empresas y derechos humanos: su boletín semanal"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Reply-To"] == "equipo@example.org"
    assert message["Content-Language"] == "es"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Estimado/a Ana:" in text and "7 Example Street, London, UK" in text
    assert "Aviso de privacidad: https://www.example.org/privacy" in text
    assert 'href="https://www.example.org/weekly-update"' in html and '<html lang="es" dir="ltr">' in html


def test_check_refuses_a_bad_reply_to_or_privacy_link_naming_the_field(cli, tmp_path):
    bad = "  reply_to: not an address\n  privacy_url: http://www.example.org/privacy\n"
    config = with_footer(write_config(tmp_path, [str(SAMPLE)]), bad)
    result = cli("--config", str(config), "check")
    assert result.exit_code == 1
    assert "sender.reply_to" in result.output and "sender.privacy_url" in result.output
    assert "https://" in result.output and "Traceback" not in result.output


def test_check_warns_when_the_postal_address_or_privacy_notice_is_missing(cli, tmp_path):
    plain = write_config(tmp_path, [str(SAMPLE)])
    warned = cli("--config", str(plain), "check")
    assert warned.exit_code == 0, warned.output
    assert "sender.postal_address is not set" in warned.output and "sender.privacy_url is not set" in warned.output
    complete = cli("--config", str(with_footer(plain)), "check")
    assert complete.exit_code == 0 and "warning" not in complete.output
