"""Bounce webhooks of SES (through SNS), Postmark and Mailgun, over real HTTP (uvicorn on
loopback), on SQLite and PostgreSQL: genuine reports suppress, forged or replayed ones change nothing.

SNS messages are signed here as Amazon signs them (the canonical string written out from
AWS's documentation, not taken from the code under test), with a throwaway RSA key whose
self-signed certificate the app gets through its certificate fetcher seam.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from feedserver import FeedServer, Route, closed_port_url, redirect
from webserver import FakeClock, LiveServer

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.store.bounces import bounce_counts
from bhrdigest.store.subscribers import get_suppression
from bhrdigest.web.app import create_app
from bhrdigest.web.sns import SnsRefused, SnsVerifier, fetch_with_httpx
from bhrdigest.web.webhooks import WebhookKeys, Webhooks

SECRET = "web-test-secret-0123456789abcdef0123456789"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
SUBSCRIBE_URL = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=abc"
POSTMARK_SECRET = "postmark-secret-0123456789abcdef"
MAILGUN_KEY = "key-mailgun-signing-0123456789abcdef"
CONFIG = """
sender:
  from: "Resource Centre <updates@example.org>"
  list_id: weekly.bhrdigest.example.org
feeds: []
subscribers:
  - email: alex@example.org
    regions: [Americas]
"""


def make_key_and_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, certificate.public_bytes(serialization.Encoding.PEM)


AMAZON_KEY, AMAZON_CERT = make_key_and_certificate()
OTHER_KEY, _ = make_key_and_certificate()


class FakeAws:
    """The fetcher seam: the signing certificate at CERT_URL; every URL asked for, recorded."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        return AMAZON_CERT if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"


def sns_message(kind: str, body: dict | str, *, version: str = "1", key: rsa.RSAPrivateKey = AMAZON_KEY,
                topic: str = TOPIC, message_id: str = "sns-1", cert_url: str = CERT_URL) -> dict:
    message = {"Type": kind, "MessageId": message_id, "TopicArn": topic,
               "Message": body if isinstance(body, str) else json.dumps(body),
               "Timestamp": "2026-12-03T08:00:00.000Z", "SignatureVersion": version, "SigningCertURL": cert_url}
    if kind == "Notification":
        fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        message["Subject"] = "Amazon SES Email Event Notification"
    else:
        fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        message |= {"SubscribeURL": SUBSCRIBE_URL, "Token": "abc"}
    canonical = "".join(f"{name}\n{message[name]}\n" for name in fields).encode()
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    message["Signature"] = base64.b64encode(key.sign(canonical, padding.PKCS1v15(), algorithm)).decode()
    return message


def ses_bounce(bounce_type: str, *, feedback_id: str = "fb-1", address: str = "alex@example.org") -> dict:
    return {"notificationType": "Bounce", "mail": {"messageId": "m-1"},
            "bounce": {"bounceType": bounce_type, "feedbackId": feedback_id,
                       "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1 unknown"}]}}


SES_COMPLAINT = {"eventType": "Complaint", "mail": {"messageId": "m-2"},
                 "complaint": {"feedbackId": "fb-c", "complaintFeedbackType": "abuse",
                               "complainedRecipients": [{"emailAddress": "alex@example.org"}]}}


class Hooks:
    def __init__(self, client: httpx.Client, engine, aws: FakeAws, wall: FakeClock):
        self.client, self.engine, self.aws, self.wall = client, engine, aws, wall

    def sns(self, message: dict) -> httpx.Response:
        return self.client.post("/hooks/ses", content=json.dumps(message),
                                headers={"Content-Type": "text/plain; charset=UTF-8"})

    def mailgun(self, event: dict, *, token: str = "t" * 50, timestamp: int | None = None,
                key: str = MAILGUN_KEY) -> httpx.Response:
        stamp = str(int(self.wall.now) if timestamp is None else timestamp)
        signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
        return self.client.post("/hooks/mailgun", json={
            "signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event})

    def reason(self, address: str = "alex@example.org") -> str | None:
        suppression = get_suppression(self.engine, address)
        return suppression.reason if suppression else None


@pytest.fixture
def make_hooks(engine, tmp_path):
    with contextlib.ExitStack() as stack:

        def make(keys: WebhookKeys | None = None) -> Hooks:
            (tmp_path / "subscriptions.yaml").write_text(CONFIG)
            config = load_config(tmp_path / "subscriptions.yaml")
            aws, wall = FakeAws(), FakeClock(time.time())
            keys = keys or WebhookKeys((TOPIC,), POSTMARK_SECRET, MAILGUN_KEY)
            app = create_app(config, engine, SECRET, wall_clock=wall,
                             webhooks=Webhooks(keys, sns=SnsVerifier(aws)))
            server = stack.enter_context(LiveServer().serve(app))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
            return Hooks(client, engine, aws, wall)

        yield make


@pytest.fixture
def hooks(make_hooks) -> Hooks:
    return make_hooks()


# --- Amazon SES through SNS -------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_ses_permanent_bounce_suppresses_and_its_retry_is_recorded_once(hooks, version):
    message = sns_message("Notification", ses_bounce("Permanent"), version=version)
    assert hooks.sns(message).status_code == 200
    assert hooks.reason() == "hard-bounce"
    assert hooks.sns(message).status_code == 200  # SNS retries until it gets a 2xx
    assert bounce_counts(hooks.engine) == {"hard": 1}
    assert hooks.aws.fetched == [CERT_URL]  # the certificate is fetched once, then cached


def test_ses_transient_bounces_count_and_a_complaint_suppresses(hooks):
    for n in range(2):
        message = sns_message("Notification", ses_bounce("Transient", feedback_id=f"fb-{n}"), message_id=f"s{n}")
        assert hooks.sns(message).status_code == 200
    assert hooks.reason() is None
    assert hooks.sns(sns_message("Notification", SES_COMPLAINT, version="2", message_id="c")).status_code == 200
    assert hooks.reason() == "complaint"
    assert bounce_counts(hooks.engine) == {"soft": 2, "complaint": 1}


def test_a_forged_sns_message_changes_nothing(hooks, caplog):
    tampered = sns_message("Notification", ses_bounce("Transient"))
    tampered["Message"] = json.dumps(ses_bounce("Permanent"))  # signed as a soft bounce, sent as a hard one
    wrong_key = sns_message("Notification", ses_bounce("Permanent"), key=OTHER_KEY)
    with caplog.at_level(logging.WARNING):
        assert hooks.sns(tampered).status_code == 403
        assert hooks.sns(wrong_key).status_code == 403
    assert bounce_counts(hooks.engine) == {} and hooks.reason() is None
    assert "webhook ses refused (403)" in caplog.text and "signature does not verify" in caplog.text


@pytest.mark.parametrize("cert_url", [
    "https://evil.example.org/SimpleNotificationService.pem",
    "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
    "https://sns.eu-west-1.amazonaws.com.evil.example.org/cert.pem",
    "https://user@sns.eu-west-1.amazonaws.com:8443/cert.pem",
])
def test_a_certificate_is_fetched_only_from_amazon_over_https(hooks, cert_url):
    response = hooks.sns(sns_message("Notification", ses_bounce("Permanent"), cert_url=cert_url))
    assert response.status_code == 403
    assert hooks.aws.fetched == [] and hooks.reason() is None


def test_a_genuine_message_of_someone_elses_topic_changes_nothing(hooks):
    # Anyone can have SNS sign messages of their own topic: the topic must be ours.
    other = "arn:aws:sns:eu-west-1:999999999999:not-ours"
    assert hooks.sns(sns_message("Notification", ses_bounce("Permanent"), topic=other)).status_code == 403
    assert hooks.sns(sns_message("SubscriptionConfirmation", "confirm", topic=other)).status_code == 403
    assert hooks.reason() is None and hooks.aws.fetched == []  # not even its certificate


def test_the_subscription_is_confirmed_only_when_its_signature_verifies(hooks):
    forged = sns_message("SubscriptionConfirmation", "You have chosen to subscribe", key=OTHER_KEY)
    assert hooks.sns(forged).status_code == 403
    assert SUBSCRIBE_URL not in hooks.aws.fetched
    genuine = sns_message("SubscriptionConfirmation", "You have chosen to subscribe")
    assert hooks.sns(genuine).status_code == 200
    assert hooks.aws.fetched.count(SUBSCRIBE_URL) == 1


async def test_an_expired_signing_certificate_is_refused():
    verifier = SnsVerifier(FakeAws(), clock=lambda: datetime.now(UTC) + timedelta(days=60))
    with pytest.raises(SnsRefused, match="not valid now"):
        await verifier.verify(sns_message("Notification", ses_bounce("Permanent")))


async def test_the_production_fetcher_takes_a_200_and_follows_no_redirect():
    with FeedServer() as server:
        certificate = server.route("/cert.pem", Route(body=AMAZON_CERT))
        moved = server.route("/moved.pem", redirect(certificate, 302))
        assert await fetch_with_httpx(certificate) == AMAZON_CERT
        with pytest.raises(SnsRefused, match="answered 302"):
            await fetch_with_httpx(moved)
        with pytest.raises(SnsRefused, match="cannot fetch"):
            await fetch_with_httpx(closed_port_url())


# --- Postmark -----------------------------------------------------------------------


def postmark(kind: str, event_id: int = 42) -> dict:
    return {"RecordType": "Bounce" if kind != "SpamComplaint" else "SpamComplaint", "ID": event_id, "Type": kind,
            "Email": "alex@example.org", "Description": "The server was unable to deliver your message"}


def test_postmark_with_its_basic_auth_password_records_once(hooks):
    response = hooks.client.post("/hooks/postmark", json=postmark("HardBounce"), auth=("postmark", POSTMARK_SECRET))
    again = hooks.client.post("/hooks/postmark", json=postmark("HardBounce"), auth=("any", POSTMARK_SECRET))
    assert (response.status_code, again.status_code) == (200, 200)
    assert hooks.reason() == "hard-bounce" and bounce_counts(hooks.engine) == {"hard": 1}


def test_postmark_with_the_secret_in_the_url_records_a_complaint(hooks):
    response = hooks.client.post(f"/hooks/postmark/{POSTMARK_SECRET}", json=postmark("SpamComplaint", 7))
    assert response.status_code == 200 and hooks.reason() == "complaint"


def test_postmark_without_the_secret_changes_nothing_and_the_log_shows_no_secret(hooks, caplog):
    caplog.set_level(logging.INFO, logger="bhrdigest")
    wrong = hooks.client.post("/hooks/postmark", json=postmark("HardBounce"), auth=("postmark", "guess" * 8))
    missing = hooks.client.post("/hooks/postmark", json=postmark("HardBounce"))
    in_url = hooks.client.post("/hooks/postmark/not-the-secret-at-all-000", json=postmark("HardBounce"))
    garbage = hooks.client.post("/hooks/postmark", content=b"\xff not json")  # no secret: 403 before any parsing
    hooks.client.post(f"/hooks/postmark/{POSTMARK_SECRET}", json=postmark("SoftBounce", 8))
    assert (wrong.status_code, missing.status_code, in_url.status_code, garbage.status_code) == (403, 403, 403, 403)
    assert bounce_counts(hooks.engine) == {"soft": 1} and hooks.reason() is None
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bhrdigest"))
    assert "webhook postmark refused (403)" in logged
    assert POSTMARK_SECRET not in logged  # the request log cuts the secret out of the path too


# --- Mailgun ------------------------------------------------------------------------


def mailgun_failure(severity: str, event_id: str = "ev-1") -> dict:
    return {"event": "failed", "severity": severity, "recipient": "alex@example.org", "id": event_id,
            "delivery-status": {"code": 550, "description": "No such user"}}


def test_a_signed_mailgun_permanent_failure_suppresses(hooks):
    assert hooks.mailgun(mailgun_failure("permanent")).status_code == 200
    assert hooks.reason() == "hard-bounce"


def test_mailgun_temporary_failures_count_and_a_complaint_suppresses(hooks):
    assert hooks.mailgun(mailgun_failure("temporary", "e1"), token="a" * 50).status_code == 200
    assert hooks.reason() is None
    complaint = {"event": "complained", "recipient": "alex@example.org", "id": "e2"}
    assert hooks.mailgun(complaint, token="b" * 50).status_code == 200
    assert hooks.reason() == "complaint" and bounce_counts(hooks.engine) == {"soft": 1, "complaint": 1}


def test_a_forged_stale_or_replayed_mailgun_webhook_changes_nothing(hooks):
    assert hooks.mailgun(mailgun_failure("permanent"), key="key-not-the-real-one-0000").status_code == 403
    stale = int(hooks.wall.now) - 301
    assert hooks.mailgun(mailgun_failure("permanent"), token="s" * 50, timestamp=stale).status_code == 403
    assert hooks.reason() is None
    first = hooks.mailgun(mailgun_failure("temporary", "e1"), token="r" * 50)
    # The same signed request again, now naming a permanent failure, a minute later:
    hooks.wall.advance(60)
    replay = hooks.mailgun(mailgun_failure("permanent", "e9"), token="r" * 50, timestamp=int(hooks.wall.now) - 60)
    assert (first.status_code, replay.status_code) == (200, 403)
    assert bounce_counts(hooks.engine) == {"soft": 1} and hooks.reason() is None


# --- configuration ------------------------------------------------------------------


def test_a_body_that_is_not_the_providers_json_is_a_400(hooks):
    not_json = hooks.client.post("/hooks/postmark", content=b"<xml/>", auth=("p", POSTMARK_SECRET))
    a_list = hooks.client.post("/hooks/postmark", json=[1, 2], auth=("p", POSTMARK_SECRET))
    assert (not_json.status_code, a_list.status_code) == (400, 400)
    assert bounce_counts(hooks.engine) == {}


def test_a_provider_not_configured_has_no_webhook(make_hooks):
    hooks = make_hooks(WebhookKeys(postmark_secret=POSTMARK_SECRET))
    assert hooks.client.post("/hooks/mailgun", json={}).status_code == 404
    assert hooks.sns(sns_message("Notification", ses_bounce("Permanent"))).status_code == 404
    assert hooks.reason() is None


@pytest.mark.parametrize("secret", ["short", "a/b+c=d/e+f=g/h+i=j"])
def test_web_refuses_a_weak_postmark_secret_with_a_clear_message(tmp_path, secret):
    (tmp_path / "subscriptions.yaml").write_text(CONFIG)
    env = {"BHRDIGEST_CONFIG": str(tmp_path / "subscriptions.yaml"), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
           "BHRDIGEST_SECRET": SECRET, "POSTMARK_WEBHOOK_SECRET": secret, "DYNO": ""}
    result = CliRunner().invoke(main, ["web", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert "POSTMARK_WEBHOOK_SECRET must be at least 16 letters, digits" in result.output
    assert "Traceback" not in result.output and secret not in result.output  # never the value

