"""End to end, as a mail provider sees it: a digest arrives over SMTP, its
List-Unsubscribe URL is POSTed with the one-click body (RFC 8058) over https, and the
next `send` skips that subscriber, though the YAML still lists them. No address is in
any URL the digest carries: its links name the reader by an opaque token."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import httpx
from click.testing import CliRunner
from mailurls import assert_no_address_in, urls_in
from smtpserver import SmtpServer, make_test_tls
from webserver import LiveServer

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.store.db import connect
from bhrdigest.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "latest-news-en.xml"
SECRET = "e2e-test-secret-0123456789abcdef0123456789"


def write_config(folder: Path, web_url: str, feed: Path) -> Path:
    path = folder / "subscriptions.yaml"
    path.write_text(
        f"""sender:
  from: "Resource Centre <updates@example.org>"
  unsubscribe_url: "{web_url}/u/{{token}}"
  preferences_url: "{web_url}/p/{{token}}"
  unsubscribe_mailto: "unsubscribe@example.org"
  list_id: weekly.bhrdigest.example.org
feeds:
  - url: {feed}
companies:
  Cellebrite: {{}}
  Nasdaq: {{}}
  Sun Corporation: {{}}
subscribers:
  - email: alex@example.org
    name: Alex
    companies: [Cellebrite]
  - email: kim@example.org
    topics: [Technology & human rights]
""",
        encoding="utf-8",
    )
    return path


def next_weeks_feed() -> str:
    """The sample again under new addresses: new components on the same companies and topics."""
    return SAMPLE.read_text(encoding="utf-8").replace("/latest-news/", "/latest-news/week-2-")


def test_one_click_unsubscribe_from_a_received_digest_stops_the_next_send(database_url, tmp_path):
    web = LiveServer(tls=make_test_tls(tmp_path / "tls"))  # https: one-click needs an https URL
    feed = tmp_path / "feed.xml"
    feed.write_bytes(SAMPLE.read_bytes())
    config_path = write_config(tmp_path, web.url, feed)
    engine = connect(database_url, create=True)
    app = create_app(load_config(config_path), engine, SECRET)

    with SmtpServer() as smtp, web.serve(app):
        env = {"BHRDIGEST_CONFIG": str(config_path), "DATABASE_URL": database_url, "BHRDIGEST_SECRET": SECRET,
               "SMTP_URL": f"smtp+plain://127.0.0.1:{smtp.port}", "TELEGRAM_BOT_TOKEN": "", "DYNO": ""}

        def cli(*args: str):
            result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        # 1. This week's digests go out over SMTP: one to each subscriber.
        cli("fetch")
        cli("send", "--yes")
        received = {m.rcpt_tos[0]: email.message_from_bytes(m.content, policy=email.policy.default)
                    for m in smtp.messages}
        assert sorted(received) == ["alex@example.org", "kim@example.org"]

        # 2. Alex's mail provider reads List-Unsubscribe from the message as received...
        message = received["alex@example.org"]
        raw = next(m.content for m in smtp.messages if m.rcpt_tos == ("alex@example.org",))
        header = re.search(rb"^List-Unsubscribe: .*\r\n(.)", raw, re.M)
        assert not header.group(1).isspace()  # one line: never folded, never encoded
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = re.search(r"<(https://[^>]+)>", message["List-Unsubscribe"]).group(1)
        assert url.startswith(f"{web.url}/u/")
        for address, mail in received.items():  # opaque tokens: no address in any link or header URL
            urls = urls_in(mail)
            assert sum(u.startswith((f"{web.url}/u/", f"{web.url}/p/")) for u in urls) >= 3, urls
            assert_no_address_in(urls, address)

        # 3. ...and POSTs the one-click body to it: unsubscribed at once, no page to click.
        response = httpx.post(url, data={"List-Unsubscribe": "One-Click"}, verify=web.tls.client_context())
        assert response.status_code == 200
        views = {v["email"]: v for v in map(json.loads, cli("subscribers", "--json").splitlines())}
        assert views["alex@example.org"]["status"] == "unsubscribed"
        assert views["alex@example.org"]["unsubscribe_reason"] == "one-click"
        assert views["alex@example.org"]["in_yaml"] is True

        # 4. Next week brings new components on Alex's company and Kim's topic; the next
        #    send goes to Kim only.
        feed.write_text(next_weeks_feed(), encoding="utf-8")
        assert "new=0" not in cli("fetch")
        cli("send", "--yes")
        second_week = [m.rcpt_tos for m in smtp.messages[len(received):]]
        assert second_week == [("kim@example.org",)]
    engine.dispose()
