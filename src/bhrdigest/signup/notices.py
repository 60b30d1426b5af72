"""The sign-up emails: confirmation, welcome, "already subscribed"; composed and sent once each.

    NoticeComposer   a notice (store/notices.py) -> the email, in the reader's language, with
                     the digests' headers: From, Message-ID, List-Id, List-Unsubscribe (welcome,
                     already), Return-Path (VERP) and DKIM (digest/message.py, mail/dkim.py)
    send_notices     claim due notices, send each, mark it: a crash mid-send leaves it pending,
                     and a pending notice is never sent again (store/notices.settle_stale)
    open_sender      SMTP_URL when set, else the outbox folder: the sender `send` would use

The web process sends a notice right after the request that queued it; the worker sends any
left queued or failed, each interval.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import jinja2
import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.digest.build import RenderedDigest
from bhrdigest.digest.mailhtml import inline_template, premailer_inline
from bhrdigest.digest.message import build_message
from bhrdigest.i18n import N_, chrome_for
from bhrdigest.mail.bounces import verp_address
from bhrdigest.mail.dkim import DkimSigner
from bhrdigest.mail.outbox import Outbox
from bhrdigest.mail.sending import MessageSender, SendResult
from bhrdigest.mail.smtp import SmtpSender
from bhrdigest.mail.target import parse_smtp_url
from bhrdigest.model import Subscriber
from bhrdigest.redact import redact_text
from bhrdigest.signing import make_confirmation_token, make_preferences_token, make_token
from bhrdigest.store import notices as ledger
from bhrdigest.store.addresses import address_ids
from bhrdigest.store.signups import SIGNUP_DAYS, expire_signups

log = logging.getLogger(__name__)

SUBJECTS = {  # English; translated in the reader's language
    "confirm": N_("Please confirm your subscription to the weekly digest"),
    "welcome": N_("Welcome to the weekly digest"),
    "already": N_("You are already subscribed to the weekly digest"),
}


def signup_page_url(config: Config) -> str | None:
    """The public URL of the sign-up page: sender.signup_url, else beside preferences_url, else None."""
    sender = config.sender
    if sender.signup_url:
        return sender.signup_url.rstrip("/")
    if sender.preferences_url and sender.preferences_url.endswith("/p/{token}"):
        return sender.preferences_url.removesuffix("/p/{token}") + "/signup"
    return None


def confirm_url(config: Config, secret: str, signup_id: int, *, now: datetime) -> str | None:
    page = signup_page_url(config)
    token = make_confirmation_token(secret, signup_id, now=now.timestamp())
    return f"{page}/confirm/{token}" if page else None


def subscriber_links(config: Config, secret: str, address_id: int) -> tuple[str | None, str | None]:
    """(unsubscribe URL, preferences URL) of the address `address_id`, as its digests carry them
    (an opaque token, no address): the one place the sign-up emails sign a subscriber's links."""
    sender = config.sender

    def signed(template: str | None, make: Callable[[str, int, str], str]) -> str | None:
        return template.replace("{token}", make(secret, address_id, sender.list_id)) if template else None

    return signed(sender.unsubscribe_url, make_token), signed(sender.preferences_url, make_preferences_token)


class NoticeComposer:
    """Notices as emails, from templates/notices (CSS inlined once, by premailer, as digests')."""

    def __init__(self, config: Config, secret: str, templates_dir: Path, *, signer: DkimSigner | None = None):
        self.config = config
        self.secret = secret  # kept out of repr
        self.signer = signer
        self.domain = parseaddr(config.sender.from_addr)[1].rpartition("@")[2] or "bhrdigest.invalid"
        html = inline_template((templates_dir / "notice.html.j2").read_text(encoding="utf-8"),
                               (templates_dir / "notice.css").read_text(encoding="utf-8"),
                               inline_css=premailer_inline, template_path=templates_dir / "notice.html.j2")
        self.html = _environment(templates_dir, autoescape=True).from_string(html)
        self.text = _environment(templates_dir, autoescape=False).get_template("notice.txt.j2")

    def __repr__(self) -> str:
        return f"NoticeComposer(list_id={self.config.sender.list_id!r})"

    def compose(self, notice: ledger.Notice, *, now: datetime, address_id: int | None = None) -> EmailMessage | None:
        """The email of `notice`; None for a confirmation when no sign-up page URL is known.

        `address_id`: the reader's id in the address register, which the links of a welcome
        or "already subscribed" email carry (a confirmation needs none: no id is given to an
        address before it is confirmed)."""
        sender = self.config.sender
        confirm = None
        unsubscribe_url = preferences_url = None
        if notice.kind == "confirm":
            confirm = confirm_url(self.config, self.secret, notice.signup_id or 0, now=now)
            if confirm is None:
                return None
        elif address_id is None:
            raise ValueError(f"a {notice.kind} email carries the reader's links: it needs their address id")
        else:
            unsubscribe_url, preferences_url = subscriber_links(self.config, self.secret, address_id)
        chrome = chrome_for((notice.language,))
        subject = chrome.gettext(SUBJECTS[notice.kind])
        context = {**chrome.template_globals(), "kind": notice.kind, "subject": subject, "name": notice.name,
                   "email": notice.email, "confirm_url": confirm, "days": SIGNUP_DAYS,
                   "preferences_url": preferences_url, "unsubscribe_url": unsubscribe_url,
                   "postal_address": sender.postal_address}  # fmt: skip
        rendered = RenderedDigest(html=self.html.render(context), text=self.text.render(context), item_count=0)
        bounce = sender.bounce_address
        message = build_message(
            rendered,
            subscriber=Subscriber(email=notice.email, name=notice.name),
            from_addr=sender.from_addr,
            subject=subject,
            run_id=0,
            list_id=sender.list_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=sender.unsubscribe_mailto if notice.kind != "confirm" else None,
            now=now,
            domain=self.domain,
            reply_to=sender.reply_to,
            language=chrome.code,
            return_path=(verp_address(notice.email, bounce) if notice.email.isascii() else bounce) if bounce else None,
            message_id_value=_message_id(notice, self.domain),
        )
        return self.signer.sign(message) if self.signer else message


def _message_id(notice: ledger.Notice, domain: str) -> str:
    """The same for every attempt at one notice (a relay may drop a repeat), and never the same
    as another database's notice of that id (a rebuilt database, a staging copy): Gmail and
    others silently drop a message whose Message-ID they have seen."""
    tag = hashlib.sha256(f"{notice.id}|{notice.created_at.isoformat()}|{notice.email}".encode()).hexdigest()[:16]
    return f"<signup-{notice.kind}-{notice.id}.{tag}@{domain}>"


def _environment(templates_dir: Path, *, autoescape: bool) -> jinja2.Environment:
    """As the digests' (digest/render.py): strict, and translated by the reader's chrome (i18n.py)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates_dir), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])  # fmt: skip
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    return env


@dataclass(frozen=True, slots=True)
class NoticeRun:
    sent: int = 0
    failed: int = 0
    gone: int = 0


async def send_notices(engine: sa.Engine, composer: NoticeComposer, sender: MessageSender, *,
                       ids: Iterable[int] | None = None,
                       clock: Callable[[], datetime] | None = None) -> NoticeRun:  # fmt: skip
    """Send the notices of `ids` (else every due one), each claimed first and marked after."""
    now = clock or (lambda: datetime.now(UTC))
    counts = {"sent": 0, "failed": 0, "gone": 0}
    for notice in ledger.claim_notices(engine, now=now(), ids=ids):
        try:
            address_id = None if notice.kind == "confirm" else address_ids(engine, [notice.email])[notice.email.lower()]
            message = composer.compose(notice, now=now(), address_id=address_id)
            result = (await sender.send(message) if message is not None
                      else SendResult("", "gone", "no sign-up page URL: set sender.signup_url", 0))
        except Exception as exc:  # noqa: BLE001 - one notice's failure is recorded; the others go on
            log.warning("sign-up email %d (%s) failed: %s", notice.id, notice.kind, type(exc).__name__)
            result = SendResult("", "failed", f"{type(exc).__name__}: {exc}", 1)
        ledger.mark_notice(engine, notice.id, result.status, error=result.error, now=now())
        counts[result.status] += 1
        log.info("sign-up email %d (%s) %s", notice.id, notice.kind, result.status)  # no address in logs
    return NoticeRun(**counts)


def open_sender(smtp_url: str | None, outbox: Path) -> SmtpSender | Outbox:
    """The SMTP relay of SMTP_URL (one connection), else the outbox folder (BHRDIGEST_OUTBOX)."""
    if smtp_url:
        return SmtpSender(parse_smtp_url(smtp_url), connections=1, retries=1)
    return Outbox(outbox)


class NoticeDelivery:
    """Sends queued notices through a sender opened for the occasion (`open_sender`): called by
    the web process after a response with the ids it queued, by the worker with none (all due)."""

    def __init__(self, engine: sa.Engine, composer: NoticeComposer, opener: Callable[[], SmtpSender | Outbox]):
        self.engine = engine
        self.composer = composer
        self.opener = opener

    async def __call__(self, ids: list[int] | None = None) -> NoticeRun:
        try:
            sender = self.opener()
            try:
                return await send_notices(self.engine, self.composer, sender, ids=ids)
            finally:
                await sender.aclose()
        except Exception as exc:  # noqa: BLE001 - after a response nobody waits for: logged; the worker retries
            log.warning("sign-up emails not sent now (the worker will): %s", redact_text(str(exc)))
            return NoticeRun()


def housekeep(engine: sa.Engine, *, now: datetime) -> tuple[int, int]:
    """Delete expired sign-ups and settle notices whose sender died: (expired, settled)."""
    return expire_signups(engine, now), ledger.settle_stale(engine, now=now)
