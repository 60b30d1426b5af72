"""Sign-up with double opt-in, over real HTTP (uvicorn on loopback) with the emails going
through the real SMTP sink, on SQLite and PostgreSQL: the form, the confirmation link, the
welcome, no leak of who is subscribed, the limits, expiry, tampered links."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from smtpserver import SmtpServer
from test_web import CONFIG, SECRET, write_config
from webpages import forms
from webserver import FakeClock, LiveServer

from bhrdigest.bundled import bundled_path
from bhrdigest.config.load import Config, load_config
from bhrdigest.model import Subscriber
from bhrdigest.signing import make_confirmation_token, make_preferences_token
from bhrdigest.signup.notices import NoticeComposer, NoticeDelivery, open_sender
from bhrdigest.store import notices as ledger
from bhrdigest.store import signups as signup_store
from bhrdigest.store import subscribers as store
from bhrdigest.store.addresses import address_ids
from bhrdigest.store.roster import get_stored
from bhrdigest.web.app import Limits, create_app

SIGNUP_CONFIG = CONFIG.replace("  list_id:", "  bounce_address: bounces@example.org\n  list_id:")
NOTICES = bundled_path("templates/notices")


@dataclass
class Signups:
    client: httpx.Client
    engine: object
    config: Config
    smtp: SmtpServer
    clock: FakeClock  # per-client rate limits
    wall: FakeClock  # stored times, token ages, per-address limits

    def form(self, lang: str = "") -> dict:
        page = self.client.get("/signup" + (f"?lang={lang}" if lang else ""))
        assert page.status_code == 200, page.text
        (form,) = forms(page.text)
        return form.submission()

    def join(self, address: str, **fields) -> httpx.Response:
        data = {**self.form(), "email": address, "topic": ["Technology & human rights"], **fields}
        return self.client.post("/signup", data=data)

    def mail(self, count: int) -> list[email.message.EmailMessage]:
        """The first `count` messages the sink received (sent after the response: waited for)."""
        deadline = time.monotonic() + 10
        while len(self.smtp.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # and nothing more arrives
        return [email.message_from_bytes(m.content, policy=email.policy.default) for m in self.smtp.messages]

    def confirm_path(self, message) -> str:
        text = message.get_body(("plain",)).get_content()
        (link,) = re.findall(r"https://digest\.example\.org/signup/confirm/\S+", text)
        return urlsplit(link).path


@pytest.fixture
def make_signups(engine, tmp_path):
    with contextlib.ExitStack() as stack:

        def make(limits: Limits | None = None, *, deliver: bool = True) -> Signups:
            config = load_config(write_config(tmp_path, SIGNUP_CONFIG))
            smtp = stack.enter_context(SmtpServer())
            clock, wall = FakeClock(), FakeClock(time.time())
            delivery = NoticeDelivery(engine, NoticeComposer(config, SECRET, NOTICES),
                                      lambda: open_sender(f"smtp+plain://127.0.0.1:{smtp.port}", tmp_path / "out"))
            app = create_app(config, engine, SECRET, limits=limits or Limits(), clock=clock, wall_clock=wall,
                             deliver_notices=delivery if deliver else None)
            server = stack.enter_context(LiveServer().serve(app))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10,
                                                      headers={"user-agent": "TestBrowser/1.0"}))
            return Signups(client, engine, config, smtp, clock, wall)

        yield make


@pytest.fixture
def site(make_signups) -> Signups:
    return make_signups()


def effective(site: Signups) -> dict[str, Subscriber]:
    found = store.effective_subscribers(site.engine, site.config.subscribers, site.config.catalogue)
    return {s.email: s for s in found}


def test_a_sign_up_becomes_a_subscriber_only_once_its_email_link_is_followed(site):
    sent = site.join("Nour@Example.net", name="Nour", add_companies="Cellebrite DI", place=["Africa"])
    assert sent.status_code == 200 and "Check your inbox" in sent.text
    assert "nour@example.net" not in effective(site)  # nothing is mailed before the confirmation

    (confirmation,) = site.mail(1)
    assert confirmation["To"].addresses[0].addr_spec == "nour@example.net"  # one address, one spelling
    assert confirmation["Subject"] == "Please confirm your subscription to the weekly digest"
    assert confirmation["From"] == "Resource Centre <updates@example.org>"
    assert confirmation["List-Id"] == "<weekly.bhrdigest.example.org>"
    assert re.fullmatch(r"<signup-confirm-\d+\.[0-9a-f]{16}@example\.org>", confirmation["Message-ID"])
    assert "List-Unsubscribe" not in confirmation  # not subscribed: nothing to unsubscribe from
    assert site.smtp.messages[0].mail_from == "bounces+nour=example.net@example.org"  # VERP, as digests
    html = confirmation.get_body(("html",)).get_content()
    assert 'style="' in html  # CSS inlined, as in digests

    path = site.confirm_path(confirmation)
    for _ in range(2):  # a link scanner's GET confirms nothing
        page = site.client.get(path)
        assert page.status_code == 200 and "Confirm my subscription" in page.text
    assert "nour@example.net" not in effective(site)
    (form,) = forms(page.text)
    done = site.client.post(path, data=form.submission())
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert "https://digest.example.org/p/" in done.text

    nour = effective(site)["nour@example.net"]
    assert (nour.name, nour.companies, nour.places, nour.topics, nour.languages) == (
        "Nour", ("Cellebrite",), ("Africa",), ("Technology & human rights",), ("en",))
    assert get_stored(site.engine, "nour@example.net").source == "web"
    consent = signup_store.latest_consents(site.engine)["nour@example.net"]
    assert (consent.form, consent.requested_from, consent.confirmed_from) == (
        "page", signup_store.Client("127.0.0.1", "TestBrowser/1.0"), signup_store.Client("127.0.0.1",
                                                                                          "TestBrowser/1.0"))
    assert consent.requested_at <= consent.confirmed_at
    assert signup_store.pending_signups(site.engine) == []

    _, welcome = site.mail(2)
    assert welcome["Subject"] == "Welcome to the weekly digest"
    assert welcome["List-Unsubscribe"].startswith("<https://digest.example.org/u/")
    nour = address_ids(site.engine, ["nour@example.net"])["nour@example.net"]  # given when the welcome was sent
    token = make_preferences_token(SECRET, nour, site.config.sender.list_id)
    assert f"https://digest.example.org/p/{token}" in welcome.get_body(("plain",)).get_content()

    again = site.client.post(path, data=form.submission())  # the link is used up
    assert again.status_code == 404 and "This link does not work" in again.text
    assert len(site.mail(2)) == 2


def test_asking_to_join_never_tells_whether_the_address_is_subscribed(site):
    """New, pending and subscribed: the same page, byte for byte; only the email differs."""
    responses = [site.join("kai@example.org")]  # new
    site.wall.advance(11 * 60)
    responses.append(site.join("kai@example.org"))  # pending
    site.wall.advance(11 * 60)
    responses.append(site.join("alex@example.org"))  # subscribed (subscriptions.yaml)
    bodies = [r.text.replace("alex@example.org", "kai@example.org") for r in responses]
    assert bodies[0] == bodies[1] == bodies[2]
    assert {r.status_code for r in responses} == {200}
    assert len({tuple(sorted((k, v) for k, v in r.headers.items() if k not in ("date", "content-length")))
                for r in responses}) == 1

    subjects = [(m["To"].addresses[0].addr_spec, m["Subject"]) for m in site.mail(3)]
    assert subjects == [("kai@example.org", "Please confirm your subscription to the weekly digest"),
                        ("kai@example.org", "Please confirm your subscription to the weekly digest"),
                        ("alex@example.org", "You are already subscribed to the weekly digest")]
    already = site.mail(3)[2].get_body(("plain",)).get_content()
    assert "https://digest.example.org/p/" in already and "/signup/confirm/" not in already
    assert "alex@example.org" in effective(site)  # asking again changed nothing for Alex


def test_confirmations_are_limited_per_address_and_over_it_nothing_is_sent(site, caplog):
    first = site.join("lee@example.org")
    caplog.set_level("INFO", logger="bhrdigest.web.signup")
    second = site.join("lee@example.org")  # within 10 minutes
    assert first.text == second.text
    assert len(site.mail(1)) == 1
    assert "lee@example.org" not in caplog.text and "l***@example.org" in caplog.text
    for _ in range(5):
        site.wall.advance(11 * 60)
        site.clock.advance(11 * 60)  # the client's own limit is not what is tested here
        site.join("lee@example.org")
    assert len(site.mail(5)) == 5  # at most 5 a day
    site.wall.advance(24 * 3600)
    site.join("lee@example.org")
    assert len(site.mail(6)) == 6


def test_requests_to_join_are_limited_per_client(make_signups):
    site = make_signups(Limits(signup_burst=2, signup_per_second=0.001))
    pages = [site.join(f"reader{n}@example.org") for n in range(3)]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert "Check your inbox" in pages[2].text
    assert len(site.mail(3)) == 2
    assert [s.subscriber.email for s in signup_store.pending_signups(site.engine)] == [
        "reader0@example.org", "reader1@example.org"]


def test_a_tampered_or_expired_confirmation_link_gets_a_clear_page_and_changes_nothing(site):
    site.join("mo@example.org")
    path = site.confirm_path(site.mail(1)[0])
    for bad in (path[:-1] + ("A" if path[-1] != "A" else "B"), path + "x", "/signup/confirm/1.2.3",
                "/signup/confirm/" + make_confirmation_token("another-secret-0123456789", 1, now=site.wall())):
        for method in ("GET", "POST"):
            page = site.client.request(method, bad)
            assert page.status_code == 404 and "This link does not work" in page.text, bad
    site.wall.advance(signup_store.SIGNUP_DAYS * 86_400 + 1)
    expired = site.client.post(path)
    assert expired.status_code == 404 and "has expired" in expired.text
    assert "mo@example.org" not in effective(site)
    assert signup_store.latest_consents(site.engine) == {}


def test_unconfirmed_sign_ups_expire(engine):
    now = datetime(2026, 1, 5, tzinfo=UTC)
    client = signup_store.Client("192.0.2.1", "UA")
    old = signup_store.save_signup(engine, Subscriber("old@example.org", topics=("Labour rights",)), form="page",
                                   client=client, now=now - timedelta(days=signup_store.SIGNUP_DAYS, seconds=1))
    signup_store.save_signup(engine, Subscriber("new@example.org", topics=("Labour rights",)), form="embed",
                             client=client, now=now)
    assert signup_store.expire_signups(engine, now) == 1
    assert [p.subscriber.email for p in signup_store.pending_signups(engine)] == ["new@example.org"]
    assert signup_store.confirm_signup(engine, old, in_yaml=False, client=client, now=now) is None
    assert signup_store.expire_signups(engine, now) == 0


def test_the_honeypot_and_a_missing_form_token_store_nothing(site):
    bot = site.join("bot@example.org", website="http://spam.example")
    assert bot.status_code == 200 and "Check your inbox" in bot.text
    forged = site.client.post("/signup", data={"email": "victim@example.org", "topic": "Labour rights",
                                               "form": "page"})
    assert forged.status_code == 403 and "expired" in forged.text
    assert signup_store.pending_signups(site.engine) == [] and site.mail(0) == []


def test_the_embedded_form_signs_up_without_our_form_token(site):
    snippet = site.client.get("/signup/embed")
    assert snippet.status_code == 200 and 'action="https://digest.example.org/signup"' in snippet.text
    (form,) = forms(snippet.text)
    data = {**form.submission(), "email": "ana@example.org", "topic": "Labour rights"}
    response = site.client.post("/signup", data=data, headers={"origin": "https://www.example.org"})
    assert response.status_code == 200 and "Check your inbox" in response.text
    (pending,) = signup_store.pending_signups(site.engine)
    assert (pending.form, pending.subscriber.topics) == ("embed", ("Labour rights",))
    assert len(site.mail(1)) == 1


def test_the_form_says_what_to_fix_and_keeps_what_was_typed(site):
    page = site.client.post("/signup", data={**site.form(), "email": "not-an-address", "add_companies": "Celebrite",
                                             "name": "Zoë"})
    assert page.status_code == 400
    assert "is not an email address" in page.text and "did you mean &#39;Cellebrite&#39;" in page.text
    assert 'value="Zoë"' in page.text
    assert signup_store.pending_signups(site.engine) == []


def test_a_spanish_sign_up_gets_its_emails_and_pages_in_spanish(site):
    data = {**site.form(lang="es"), "email": "sofia@example.org", "language": "es", "topic": "Labour rights"}
    sent = site.client.post("/signup", data=data)
    assert 'lang="es"' in sent.text
    (confirmation,) = site.mail(1)
    assert confirmation["Content-Language"] == "es"
    assert confirmation["Subject"] != "Please confirm your subscription to the weekly digest"
    done = site.client.post(site.confirm_path(confirmation))
    assert 'lang="es"' in done.text
    assert effective(site)["sofia@example.org"].languages == ("es",)


def test_an_unsubscribed_reader_rejoins_only_through_the_link_and_a_bounced_one_not_at_all(site):
    store.suppress(site.engine, "kim@example.org", "one-click", now=datetime.now(UTC))
    store.suppress(site.engine, "gone@example.org", "hard-bounce", now=datetime.now(UTC))
    site.join("kim@example.org", topic=["Labour rights"])
    site.join("gone@example.org")
    (confirmation,) = site.mail(1)  # nothing to the bounced address
    assert confirmation["To"].addresses[0].addr_spec == "kim@example.org"
    assert "kim@example.org" not in effective(site)  # still unsubscribed until the link
    site.client.post(site.confirm_path(confirmation))
    kim = effective(site)["kim@example.org"]
    assert kim.topics == ("Labour rights",)  # the YAML keeps Kim; the form's choices apply
    assert get_stored(site.engine, "kim@example.org") is None


def test_a_crash_mid_send_never_sends_a_notice_twice_and_the_worker_sends_what_is_left(make_signups):
    site = make_signups(deliver=False)  # the web process sends nothing: the worker does
    site.join("pat@example.org")
    site.wall.advance(11 * 60)
    site.join("pat@example.org")
    assert site.mail(0) == []
    now = datetime.now(UTC)
    (crashed, _) = ledger.claim_notices(site.engine, now=now, limit=1) + [None]
    assert crashed is not None  # claimed, then the sender died before marking it
    assert ledger.settle_stale(site.engine, now=now + ledger.STALE) == 1
    delivery = NoticeDelivery(site.engine, NoticeComposer(site.config, SECRET, NOTICES),
                              lambda: open_sender(f"smtp+plain://127.0.0.1:{site.smtp.port}", Path("unused")))
    import asyncio

    run = asyncio.run(delivery())
    assert (run.sent, run.failed) == (1, 0)
    assert len(site.mail(1)) == 1
    assert asyncio.run(delivery()).sent == 0  # nothing twice
    assert ledger.notice_counts(site.engine) == {"sent": 1, "unknown": 1}


def test_staff_see_pending_sign_ups_counts_and_consent_evidence(site, database_url, tmp_path):
    import json

    from click.testing import CliRunner

    from bhrdigest.cli.main import main

    env = {"BHRDIGEST_CONFIG": str(tmp_path / "subscriptions.yaml"), "DATABASE_URL": database_url,
           "BHRDIGEST_SECRET": SECRET, "TELEGRAM_BOT_TOKEN": "", "DYNO": ""}

    def cli(*args: str) -> str:
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def lines(output: str) -> list[dict]:  # the live server's log lines land in the output too: left out
        return [line for line in map(json.loads, output.splitlines()) if "logger" not in line]

    site.join("ines@example.org", form="embed")
    site.join("omar@example.org", form="embed")
    pending = lines(cli("subscribers", "pending", "--json"))
    assert [(p["email"], p["form"], p["requested_from"], p["expired"]) for p in pending] == [
        ("ines@example.org", "embed", "127.0.0.1", False), ("omar@example.org", "embed", "127.0.0.1", False)]
    assert "2 sign-ups waiting for confirmation" in cli("subscribers", "pending")

    ines = next(m for m in site.mail(2) if m["To"].addresses[0].addr_spec == "ines@example.org")
    site.client.post(site.confirm_path(ines))
    views = {v["email"]: v for v in lines(cli("subscribers", "--json"))}
    assert views["ines@example.org"]["source"] == "web" and views["ines@example.org"]["status"] == "active"
    consent = views["ines@example.org"]["consent"]
    assert (consent["form"], consent["signed_up_from"], consent["confirmed_from"], consent["confirmed_agent"]) == (
        "embed", "127.0.0.1", "127.0.0.1", "TestBrowser/1.0")
    assert views["alex@example.org"]["consent"] is None
    assert "confirmed" in next(line for line in cli("subscribers").splitlines() if line.startswith("ines@"))

    status = json.loads("\n".join(line for line in cli("status", "--json").splitlines()
                                   if not (line.startswith('{"time"') and '"logger"' in line)))["signups"]
    assert (status["pending"], status["confirmed"], status["expired"]) == (1, 1, 0)
    assert status["emails"]["sent"] == 3  # two confirmations, one welcome
    assert "sign-ups: 1 pending, 0 expired, 1 confirmed" in cli("status")


def test_the_worker_deletes_expired_sign_ups_and_sends_the_emails_left_queued(make_signups, database_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    site = make_signups(deliver=False)  # a web process whose sends never happened
    site.join("una@example.org")
    client = signup_store.Client("192.0.2.7", "UA")
    signup_store.save_signup(site.engine, Subscriber("old@example.org", topics=("Labour rights",)), form="page",
                             client=client, now=datetime.now(UTC) - timedelta(days=8))
    env = os.environ | {"BHRDIGEST_CONFIG": str(tmp_path / "subscriptions.yaml"), "DATABASE_URL": database_url,
                        "BHRDIGEST_SECRET": SECRET, "SMTP_URL": f"smtp+plain://127.0.0.1:{site.smtp.port}",
                        "TELEGRAM_BOT_TOKEN": ""}
    env.pop("DYNO", None)
    child = subprocess.Popen([sys.executable, "-m", "bhrdigest", "worker", "--interval", "0.01"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not site.smtp.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, stderr
    (confirmation,) = site.mail(1)
    assert confirmation["To"].addresses[0].addr_spec == "una@example.org"
    assert [p.subscriber.email for p in signup_store.pending_signups(site.engine)] == ["una@example.org"]
    assert "1 unconfirmed sign-ups expired" in stderr


def test_without_a_sign_up_url_there_is_no_sign_up(engine, tmp_path):
    """No sender.signup_url and no preferences_url to derive it from: no link could be mailed."""
    text = SIGNUP_CONFIG.replace('  preferences_url: "https://digest.example.org/p/{token}"\n', "")
    config = load_config(write_config(tmp_path, text))
    with LiveServer().serve(create_app(config, engine, SECRET)) as server:
        for path in ("/signup", "/signup/embed"):
            assert httpx.get(server.url + path).status_code == 404
    configured = load_config(write_config(tmp_path, text.replace(
        "  list_id:", '  signup_url: "https://www.example.org/digest/join"\n  list_id:')))
    with LiveServer().serve(create_app(configured, engine, SECRET)) as server:
        snippet = httpx.get(server.url + "/signup/embed")
        assert 'action="https://www.example.org/digest/join"' in snippet.text
        served = httpx.get(server.url + "/digest/join/confirm/1.2.x")  # the configured path is served
        assert served.status_code == 404 and "This link does not work" in served.text


def test_a_name_with_control_characters_is_cleaned_before_it_reaches_an_email_header(site):
    site.join("ola@example.org", name="Ola\r\nBcc: victim@example.org\x00 Nordmann")
    (confirmation,) = site.mail(1)
    assert confirmation["To"].addresses[0].display_name == "Ola Bcc: victim@example.org Nordmann"
    assert "Bcc" not in confirmation


def test_without_smtp_the_emails_go_to_the_outbox_dkim_signed_as_digests(engine, tmp_path):
    import asyncio

    from test_dkim import verify

    from bhrdigest.mail.dkim import load_signer

    private_key = _key()
    config = load_config(write_config(tmp_path, SIGNUP_CONFIG))
    signer = load_signer({"DKIM_PRIVATE_KEY": private_key.pem, "DKIM_SELECTOR": "bhr2026"},
                         from_addr=config.sender.from_addr)
    delivery = NoticeDelivery(engine, NoticeComposer(config, SECRET, NOTICES, signer=signer),
                              lambda: open_sender(None, tmp_path / "outbox"))
    now = datetime.now(UTC)
    signup_id = signup_store.save_signup(engine, Subscriber("eva@example.org", topics=("Labour rights",)),
                                         form="page", client=signup_store.Client("192.0.2.9", "UA"), now=now)
    ledger.queue_notice(engine, kind="confirm", email="eva@example.org", name="", language="fr",
                        signup_id=signup_id, now=now)
    assert asyncio.run(delivery()).sent == 1
    (written,) = (tmp_path / "outbox").glob("*.eml")
    data = written.read_bytes()
    assert verify(data, private_key)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == "Veuillez confirmer votre abonnement à la lettre hebdomadaire"
    assert message["Return-Path"] == "<bounces+eva=example.org@example.org>"
    assert "https://digest.example.org/signup/confirm/" in message.get_body(("plain",)).get_content()


def _key():
    """test_dkim's key, outside pytest's fixture machinery."""
    import test_dkim

    return test_dkim.key.__wrapped__()


GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("name", ["signup-notices.txt", "signup-confirm.html"])
def test_the_sign_up_emails_match_the_golden_files(tmp_path, name):
    """What a reader receives, as text for each email and as HTML for the confirmation."""
    import os

    config = load_config(write_config(tmp_path, SIGNUP_CONFIG.replace(
        "  list_id:", '  postal_address: "Resource Centre, London, UK"\n  list_id:')))
    composer = NoticeComposer(config, SECRET, NOTICES)
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    messages = [composer.compose(ledger.Notice(n, kind, "nour@example.net", "Nour <&> Haddad", "en",
                                               41 if kind == "confirm" else None, 1, now), now=now,
                                address_id=None if kind == "confirm" else 7)
                for n, kind in enumerate(ledger.KINDS, 1)]  # fmt: skip
    if name.endswith(".txt"):
        actual = "\n\n".join(f"Subject: {m['Subject']}\n\n{m.get_body(('plain',)).get_content()}" for m in messages)
    else:
        actual = messages[0].get_body(("html",)).get_content()
    golden = GOLDEN / name
    if os.environ.get("BHRDIGEST_UPDATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8"), f"{name} changed: regenerate with BHRDIGEST_UPDATE_GOLDEN=1"
    assert "Nour &lt;&amp;&gt; Haddad" in messages[0].get_body(("html",)).get_content()  # escaped


def test_a_rebuilt_database_never_reuses_a_sent_notices_message_id():
    from bhrdigest.signup.notices import _message_id
    from bhrdigest.store.notices import Notice

    def notice(created_at):
        return Notice(id=1, kind="confirm", email="new@example.org", name="", language="en", signup_id=1,
                      attempts=0, created_at=created_at)

    first = notice(datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    assert _message_id(first, "example.org") == _message_id(first, "example.org")  # each attempt the same
    assert _message_id(first, "example.org") != _message_id(notice(datetime(2027, 1, 5, tzinfo=UTC)), "example.org")
