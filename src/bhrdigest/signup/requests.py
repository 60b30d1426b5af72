"""What a request to join does: the one rule, whatever the address's state, and its limits.

    request_signup  a new, pending or unsubscribed address: its pending sign-up is stored (or
                    refreshed) and a confirmation queued; a subscribed one (paused too): an
                    "already subscribed" email instead. The page shown is the same for all.

Limits per address, across processes (they are counted in the notices ledger): at most one
email every RESEND_AFTER and PER_DAY a day. Over them, nothing is stored or sent. An address
suppressed after a hard bounce or a complaint is sent nothing at all (a confirmation would
bounce, or reach someone who reported our mail as spam): staff lift that with
`bhrdigest unsubscribe --undo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bhrdigest.model import Subscriber
from bhrdigest.store.notices import queue_notice, recent_notices
from bhrdigest.store.signups import KEPT_SUPPRESSIONS, Client, save_signup

RESEND_AFTER = timedelta(minutes=10)
PER_DAY = 5
LIMITED_KINDS = ("confirm", "already")


@dataclass(frozen=True, slots=True)
class Outcome:
    what: str  # confirm | already | limited | held
    notice_id: int | None = None


def request_signup(engine: sa.Engine, chosen: Subscriber, *, subscribed: bool, suppressed_for: str | None,
                   form: str, client: Client, now: datetime) -> Outcome:  # fmt: skip
    """Act on a valid request to join (see the module's docstring). `subscribed`: the address
    gets digests now (or is paused); `suppressed_for`: the reason it was unsubscribed, if it was."""
    if suppressed_for in KEPT_SUPPRESSIONS:
        return Outcome("held")
    sent = recent_notices(engine, chosen.email, LIMITED_KINDS, since=now - timedelta(days=1))
    if len(sent) >= PER_DAY or (sent and sent[-1] > now - RESEND_AFTER):
        return Outcome("limited")
    language = chosen.languages[0] if chosen.languages else "en"
    if subscribed and suppressed_for is None:
        return Outcome("already", queue_notice(engine, kind="already", email=chosen.email, name=chosen.name,
                                               language=language, now=now))
    signup_id = save_signup(engine, chosen, form=form, client=client, now=now)
    return Outcome("confirm", queue_notice(engine, kind="confirm", email=chosen.email, name=chosen.name,
                                           language=language, signup_id=signup_id, now=now))


def redacted(email: str) -> str:
    """An address as logs may show it: a***@example.org."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"
