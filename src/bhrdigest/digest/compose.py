"""A planned digest becomes the email that goes out (DigestComposer).

Rendered in the reader's language, with its subject, the one-click unsubscribe and
preferences links signed for the recipient, a VERP envelope sender when
sender.bounce_address is set, and a DKIM signature last of all. `send`, its dry run
and its test sends all compose a digest here, so a test shows what the real run sends.

The links carry the recipient's address id (store/addresses.py), never the address:
`prepare` gives the ids of a batch of recipients in one query before they are composed,
and an address met without one (a test sent to staff) is given its id on the spot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr

import sqlalchemy as sa

from bhrdigest.config.load import Config
from bhrdigest.digest.build import PlannedDigest, RenderedDigest, build_digest
from bhrdigest.digest.message import build_message
from bhrdigest.digest.render import DigestRenderer
from bhrdigest.digest.subject import subject_line
from bhrdigest.digest.views import Mailbox
from bhrdigest.mail.bounces import verp_address
from bhrdigest.mail.dkim import DkimSigner
from bhrdigest.signing import make_preferences_token, make_token
from bhrdigest.store.addresses import address_ids

TEST_PREFIX = "[TEST] "  # before the subject of a test send, so nobody takes it for the real digest


class DigestComposer:
    """Turns a planned digest into the email that goes out (rendering, headers, tokens)."""

    def __init__(self, config: Config, renderer: DigestRenderer, *, secret: str | None, now: datetime,
                 engine: sa.Engine, signer: DkimSigner | None = None):  # fmt: skip
        self.config = config
        self.engine = engine  # the address register: the ids the links carry
        self.ids: dict[str, int] = {}  # the current batch's (prepare)
        self.renderer = renderer
        self.secret = secret
        self.now = now
        self.signer = signer  # None when the relay signs, or no DKIM key is configured
        sender = config.sender
        self.domain = parseaddr(sender.from_addr)[1].rpartition("@")[2] or "bhrdigest.invalid"
        self.mailbox = Mailbox(reply_to=sender.reply_to is not None, postal_address=sender.postal_address,
                               privacy_url=sender.privacy_url, view_url=sender.view_url)

    def return_path(self, email: str) -> str | None:
        """The envelope sender for `email`: its VERP bounce address when sender.bounce_address is set."""
        bounce = self.config.sender.bounce_address
        if not bounce:
            return None
        # A non-ASCII address in MAIL FROM needs SMTPUTF8 of every relay on the way: plain bounce address then.
        return verp_address(email.strip(), bounce) if email.isascii() else bounce

    def prepare(self, emails: Iterable[str]) -> None:
        """Look up (giving those without one) the ids of the recipients composed next, in one go."""
        self.ids = address_ids(self.engine, emails)

    def address_id(self, email: str) -> int:
        key = email.strip().lower()
        if key not in self.ids:
            self.ids.update(address_ids(self.engine, [key]))
        return self.ids[key]

    def unsubscribe_url(self, email: str) -> str | None:
        return self._signed_url(self.config.sender.unsubscribe_url, make_token, email)

    def preferences_url(self, email: str) -> str | None:
        return self._signed_url(self.config.sender.preferences_url, make_preferences_token, email)

    def _signed_url(self, template: str | None, make: Callable[[str, int, str], str], email: str) -> str | None:
        if not template or not self.secret:
            return None
        return template.replace("{token}", make(self.secret, self.address_id(email), self.config.sender.list_id))

    def render(self, planned: PlannedDigest, *, unsubscribe_url: str | None = None,
               links_for: str | None = None) -> RenderedDigest:  # fmt: skip
        """The digest; its unsubscribe and preferences links are signed for `links_for` (the subscriber)."""
        digest = build_digest(planned.subscriber, planned.matches, max_items=self.config.digest.max_items,
                              total=planned.total)
        email = links_for or planned.subscriber.email
        return self.renderer.render(
            digest, unsubscribe_url=unsubscribe_url or self.unsubscribe_url(email),
            preferences_url=self.preferences_url(email), mailbox=self.mailbox,
        )  # fmt: skip

    def compose(self, planned: PlannedDigest, *, run_id: int,
                test_to: str | None = None) -> tuple[RenderedDigest, EmailMessage]:  # fmt: skip
        """The digest rendered, and the email carrying it (its unsubscribe link signed once).

        `test_to`: a test of this digest, mailed to that address: "[TEST] " before the
        subject, and its links signed for that address, so that a click on the test's
        one-click unsubscribe can never unsubscribe the subscriber.
        """
        to = planned.subscriber
        if test_to is not None and test_to.strip().lower() != to.email.strip().lower():
            to = replace(to, email=test_to.strip(), name="")  # staff's address: not the subscriber's name
        unsubscribe_url = self.unsubscribe_url(to.email)
        rendered = self.render(planned, unsubscribe_url=unsubscribe_url, links_for=to.email)
        sender = self.config.sender
        chrome = self.renderer.chrome(planned.subscriber.languages)
        subject = subject_line(self.config.digest.subject, day=self.now.date(), lead_title=rendered.lead_title,
                               others=max(rendered.item_count - 1, 0) + rendered.more_count, chrome=chrome)
        if test_to is not None:
            subject = f"{TEST_PREFIX}{subject}"
        message = build_message(
            rendered,
            subscriber=to,
            from_addr=sender.from_addr,
            subject=subject,
            run_id=run_id,
            list_id=sender.list_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=sender.unsubscribe_mailto,
            now=self.now,
            domain=self.domain,
            reply_to=sender.reply_to,
            language=chrome.code,
            return_path=self.return_path(to.email),  # whoever it goes to: a test's bounce is not the subscriber's
        )
        return rendered, self.signer.sign(message) if self.signer else message  # signed last: nothing may change after
