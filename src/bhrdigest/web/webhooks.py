"""Bounce and complaint webhooks of mail relays: Amazon SES (through SNS), Postmark, Mailgun.

    POST /hooks/ses                 SNS messages of the topics in SES_SNS_TOPIC_ARN, signature verified
    POST /hooks/postmark            basic auth, any user name, POSTMARK_WEBHOOK_SECRET as the password;
    POST /hooks/postmark/{secret}   or the secret as the last path segment
    POST /hooks/mailgun             HMAC-SHA256 of timestamp+token with MAILGUN_WEBHOOK_SIGNING_KEY,
                                    at most 5 minutes old, each token once

A route exists only when its provider is configured. Every report goes through
store/bounces.py `record_bounce` with the provider's event id as report_id, so a relay's
retry is recorded once and the suppression rule is the one `bhrdigest bounces` applies.
A forged, stale or replayed request changes nothing: 403 (400 for a body that is not
what the provider sends), logged without any secret, and it costs the client a token of
the web app's rate limit, so guessing is throttled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bhrdigest.errors import ConfigError
from bhrdigest.store.bounces import record_bounce
from bhrdigest.web.context import WebContext, client_address, too_many
from bhrdigest.web.sns import SnsRefused, SnsVerifier

log = logging.getLogger(__name__)

MAILGUN_MAX_AGE = 300.0  # seconds: Mailgun's own advice for the timestamp check
# Long enough not to be guessed, and of the characters the request log cuts out of a path
# as token-shaped (web/frame.py): a secret in the URL never reaches the log.
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,}")
# Postmark's bounce types; the rest (auto-responders, subscription changes, tests) are not failures.
_POSTMARK_KINDS = {
    "HardBounce": "hard", "BadEmailAddress": "hard", "ManuallyDeactivated": "hard",
    "SoftBounce": "soft", "Transient": "soft", "DnsError": "soft", "Blocked": "soft",
    "SpamComplaint": "complaint",
}


@dataclass(frozen=True, slots=True)
class WebhookKeys:
    """What authenticates each provider; a provider without one has no route."""

    ses_topic_arns: tuple[str, ...] = ()
    postmark_secret: str | None = field(default=None, repr=False)
    mailgun_signing_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.postmark_secret is not None and not _SECRET_SHAPE.fullmatch(self.postmark_secret):
            raise ConfigError("POSTMARK_WEBHOOK_SECRET must be at least 16 letters, digits, '-' or '_' "
                              "(it is the webhook's password): e.g. the output of `openssl rand -hex 24`")
        bad = [arn for arn in self.ses_topic_arns if not arn.startswith("arn:aws")]
        if bad:
            raise ConfigError(f"SES_SNS_TOPIC_ARN: {bad[0]!r} is not a topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")


@dataclass(frozen=True, slots=True)
class Report:
    email: str
    kind: str  # hard | soft | complaint
    report_id: str
    detail: str


class Refused(Exception):
    """A request that changes nothing: its status and why (logged, never shown a secret)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class SeenTokens:
    """Mailgun tokens already used, each kept until its timestamp is too old to be taken anyway."""

    def __init__(self, keep: float = MAILGUN_MAX_AGE, limit: int = 100_000):
        self._keep = keep
        self._limit = limit
        self._seen: dict[str, float] = {}  # token -> when it was seen, oldest first

    def first_use(self, token: str, now: float) -> bool:
        while self._seen and (next(iter(self._seen.values())) < now - 2 * self._keep or len(self._seen) >= self._limit):
            del self._seen[next(iter(self._seen))]
        if token in self._seen:
            return False
        self._seen[token] = now
        return True


Reader = Callable[[Request, WebContext, bytes], Awaitable[list[Report]]]


class Webhooks:
    """The routes, and what they keep between requests (SNS certificates, Mailgun tokens)."""

    def __init__(self, keys: WebhookKeys, *, sns: SnsVerifier | None = None):
        self.keys = keys
        self.sns = sns or SnsVerifier()
        self.tokens = SeenTokens()

    def routes(self) -> list[Route]:
        routes = []
        if self.keys.ses_topic_arns:
            routes.append(Route("/hooks/ses", self._handler("ses", self._read_ses), methods=["POST"]))
        if self.keys.postmark_secret:
            handler = self._handler("postmark", self._read_postmark)
            routes += [Route("/hooks/postmark", handler, methods=["POST"]),
                       Route("/hooks/postmark/{secret}", handler, methods=["POST"])]
        if self.keys.mailgun_signing_key:
            routes.append(Route("/hooks/mailgun", self._handler("mailgun", self._read_mailgun), methods=["POST"]))
        return routes

    def _handler(self, provider: str, read: Reader) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            web: WebContext = request.app.state.web
            try:
                reports = await read(request, web, await request.body())
            except Refused as exc:
                log.warning("webhook %s refused (%d) from %s: %s", provider, exc.status, client_address(request), exc)
                wait = web.client_limit.take(client_address(request))
                return too_many(wait) if wait else PlainTextResponse("refused", status_code=exc.status)
            new = await run_in_threadpool(_record, web, reports)
            if reports:
                log.info("webhook %s: %d reports, %d new", provider, len(reports), new)
            return PlainTextResponse("ok")

        return handle

    async def _read_ses(self, request: Request, web: WebContext, body: bytes) -> list[Report]:
        message = _mapping(_json(body))
        if message.get("TopicArn") not in self.keys.ses_topic_arns:  # checked first: nothing fetched for it
            raise Refused(403, f"SNS topic {str(message.get('TopicArn'))[:200]!r} is not in SES_SNS_TOPIC_ARN")
        try:
            await self.sns.verify(message)
        except SnsRefused as exc:
            raise Refused(403, f"SNS: {exc}") from None
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            try:
                await self.sns.confirm(message)
            except SnsRefused as exc:
                raise Refused(400, f"SNS subscription not confirmed: {exc}") from None
            log.info("webhook ses: subscribed to %s", message.get("TopicArn"))
            return []
        if kind != "Notification":
            return []
        return ses_reports(_mapping(_json(str(message.get("Message", "")).encode("utf-8"))),
                           fallback_id=str(message.get("MessageId")))

    async def _read_postmark(self, request: Request, web: WebContext, body: bytes) -> list[Report]:
        secret = self.keys.postmark_secret or ""
        given = request.path_params.get("secret") or _basic_auth_password(request)
        if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
            raise Refused(403, "Postmark: wrong or missing secret")
        report = postmark_report(_mapping(_json(body)))
        return [report] if report else []

    async def _read_mailgun(self, request: Request, web: WebContext, body: bytes) -> list[Report]:
        posted = _mapping(_json(body))
        signed = _mapping(posted.get("signature"))
        timestamp, token, signature = (str(signed.get(name, "")) for name in ("timestamp", "token", "signature"))
        key = (self.keys.mailgun_signing_key or "").encode("utf-8")
        expected = hmac.new(key, (timestamp + token).encode("utf-8"), hashlib.sha256).hexdigest()
        if not token or not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
            raise Refused(403, "Mailgun: the signature does not verify")
        now = web.wall_clock()
        if not timestamp.isdigit() or abs(now - int(timestamp)) > MAILGUN_MAX_AGE:
            raise Refused(403, "Mailgun: the timestamp is more than 5 minutes off (a replay, or a wrong clock)")
        if not self.tokens.first_use(token, now):
            raise Refused(403, "Mailgun: this token was used before (a replay)")
        report = mailgun_report(_mapping(posted.get("event-data")))
        return [report] if report else []


def ses_reports(notification: Mapping[str, object], *, fallback_id: str) -> list[Report]:
    """An SES bounce or complaint notification (or event) as reports; anything else, none."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        bounce = _mapping(notification.get("bounce"))
        found = "hard" if bounce.get("bounceType") == "Permanent" else "soft"  # Transient, Undetermined
        recipients, detail = bounce.get("bouncedRecipients"), f"SES {bounce.get('bounceType')} bounce"
    elif kind == "Complaint":
        bounce = _mapping(notification.get("complaint"))
        found, recipients = "complaint", bounce.get("complainedRecipients")
        detail = f"SES complaint ({bounce.get('complaintFeedbackType') or 'abuse'})"
    else:
        return []
    report_id = f"ses:{bounce.get('feedbackId') or fallback_id}"
    reports = []
    for recipient in recipients if isinstance(recipients, list) else []:
        address = _mapping(recipient).get("emailAddress")
        if isinstance(address, str) and "@" in address:
            code = _mapping(recipient).get("diagnosticCode")
            reports.append(Report(address, found, report_id, f"{detail}: {code}" if code else detail))
    return reports


def postmark_report(payload: Mapping[str, object]) -> Report | None:
    kind = _POSTMARK_KINDS.get(str(payload.get("Type")))
    address, event_id = payload.get("Email"), payload.get("ID")
    if kind is None or not isinstance(address, str) or "@" not in address or event_id is None:
        return None
    detail = f"Postmark {payload.get('Type')}: {str(payload.get('Description') or '')[:200]}".rstrip(": ")
    return Report(address, kind, f"postmark:{event_id}", detail)


def mailgun_report(event: Mapping[str, object]) -> Report | None:
    name, address, event_id = event.get("event"), event.get("recipient"), event.get("id")
    if name == "complained":
        kind = "complaint"
    elif name == "failed":
        kind = "hard" if event.get("severity") == "permanent" else "soft"
    else:
        return None
    if not isinstance(address, str) or "@" not in address or not event_id:
        return None
    status = event.get("delivery-status")
    status = status if isinstance(status, dict) else {}  # complaints carry none
    reason = status.get("description") or status.get("message") or event.get("reason") or ""
    return Report(address, kind, f"mailgun:{event_id}", f"Mailgun {name}: {str(reason)[:200]}".rstrip(": "))


def _record(web: WebContext, reports: list[Report]) -> int:
    now = web.now()
    return sum(record_bounce(web.engine, r.email, r.kind, report_id=r.report_id, detail=r.detail, now=now).new
               for r in reports)


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "the body is not JSON") from None


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise Refused(400, "the body is not the JSON object the provider sends")
    return value


def _basic_auth_password(request: Request) -> str:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return ""
