"""Sign-ups waiting for their confirmation, and the consent evidence of confirmed ones.

    save_signup      a sign-up request: one pending row per address (asking again refreshes it)
    confirm_signup   the confirmation link was followed: the address becomes a subscriber,
                     its consent is recorded and the pending row goes, in one transaction
    expire_signups   unconfirmed sign-ups older than SIGNUP_DAYS are deleted (worker, `db prune`)

What a confirmation does (README, "Sign-up"): an address in subscriptions.yaml gets its
choices as web preferences (the YAML keeps it); an address already in the database gets its
facets replaced; a new one becomes a `subscribers` row of source `web`. An unsubscription is
lifted, except after a hard bounce or a complaint (staff lift those: `unsubscribe --undo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bhrdigest.model import Subscriber
from bhrdigest.store.addresses import address_ids
from bhrdigest.store.notices import queue_notice
from bhrdigest.store.schema import consents, signups, subscriber_preferences, subscribers, suppressions
from bhrdigest.store.sql import insert_ignore, store_errors

SIGNUP_DAYS = 7  # an unconfirmed sign-up, and its confirmation link, last this long
FORMS = ("page", "embed")
KEPT_SUPPRESSIONS = ("hard-bounce", "complaint")  # a confirmation does not lift these
_MAX_AGENT = 400  # characters of User-Agent kept as evidence

_store_errors = store_errors("the sign-ups table")


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request came from: the address the trusted proxies report, and the User-Agent."""

    ip: str
    agent: str


@dataclass(frozen=True, slots=True)
class PendingSignup:
    id: int
    subscriber: Subscriber  # as chosen on the form
    form: str  # page | embed
    requested_at: datetime
    requested_from: Client
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    email: str
    form: str
    requested_at: datetime
    requested_from: Client
    confirmed_at: datetime
    confirmed_from: Client

    def to_json(self) -> dict[str, Any]:
        return {"form": self.form, "signed_up_at": self.requested_at.isoformat(),
                "signed_up_from": self.requested_from.ip, "signed_up_agent": self.requested_from.agent,
                "confirmed_at": self.confirmed_at.isoformat(), "confirmed_from": self.confirmed_from.ip,
                "confirmed_agent": self.confirmed_from.agent}  # fmt: skip


@_store_errors
def save_signup(engine: sa.Engine, subscriber: Subscriber, *, form: str, client: Client, now: datetime) -> int:
    """Store (or refresh) the pending sign-up of `subscriber.email`; its id.

    Asking again replaces the choices and starts the SIGNUP_DAYS again; the id stays, so a
    confirmation link already sent still works (and confirms the latest choices)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    email = subscriber.email.strip().lower()
    values = {
        "name": subscriber.name, "languages": list(subscriber.languages), "companies": list(subscriber.companies),
        "places": list(subscriber.places), "topics": list(subscriber.topics), "form": form,
        "requested_at": now, "requested_ip": client.ip, "requested_agent": client.agent[:_MAX_AGENT],
        "expires_at": now + timedelta(days=SIGNUP_DAYS),
    }  # fmt: skip
    with engine.begin() as conn:
        insert_ignore(conn, signups, [{"email": email, **values}])
        conn.execute(sa.update(signups).where(signups.c.email == email).values(values))
        return conn.execute(sa.select(signups.c.id).where(signups.c.email == email)).scalar_one()


@_store_errors
def get_signup(engine: sa.Engine, signup_id: int) -> PendingSignup | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(signups).where(signups.c.id == signup_id)).first()
    return _pending(row) if row else None


@_store_errors
def pending_signups(engine: sa.Engine) -> list[PendingSignup]:
    """Every unconfirmed sign-up, oldest first (expired ones too, until they are deleted)."""
    with engine.connect() as conn:
        return [_pending(row) for row in conn.execute(sa.select(signups).order_by(signups.c.id))]


@_store_errors
def confirm_signup(
    engine: sa.Engine, signup_id: int, *, in_yaml: bool, client: Client, now: datetime
) -> tuple[PendingSignup, int] | None:
    """Make sign-up `signup_id` a subscriber (see the module's docstring) and queue its welcome
    email: (the sign-up, the welcome's notice id). None when there is no such sign-up any more
    (confirmed already, or expired) and nothing was changed."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(signups).where(signups.c.id == signup_id)).first()
        if row is None or row.expires_at <= now:
            return None
        pending = _pending(row)
        email, chosen = row.email, pending.subscriber
        deleted = conn.execute(sa.delete(signups).where(signups.c.id == signup_id)
                               .execution_options(preserve_rowcount=True))
        if deleted.rowcount != 1:  # another request confirmed it in the meantime
            return None
        facets = {"companies": list(chosen.companies), "places": list(chosen.places),
                  "topics": list(chosen.topics), "languages": list(chosen.languages)}  # fmt: skip
        conn.execute(sa.delete(subscriber_preferences).where(subscriber_preferences.c.email == email))
        if in_yaml:  # the YAML keeps the address; the choices made on the form override its facets
            conn.execute(sa.insert(subscriber_preferences).values(email=email, paused=False, updated_at=now,
                                                                  **facets))
        else:
            values = {**facets, "updated_at": now, **({"name": chosen.name} if chosen.name else {})}
            new = {"email": email, "name": chosen.name, "match_all": False, "source": "web", "created_at": now}
            if not insert_ignore(conn, subscribers, [{**new, **values}]):
                conn.execute(sa.update(subscribers).where(subscribers.c.email == email).values(values))
        conn.execute(sa.delete(suppressions).where(suppressions.c.email == email,
                                                   suppressions.c.reason.not_in(KEPT_SUPPRESSIONS)))
        conn.execute(sa.insert(consents).values(
            email=email, form=row.form, requested_at=row.requested_at, requested_ip=row.requested_ip,
            requested_agent=row.requested_agent, confirmed_at=now, confirmed_ip=client.ip,
            confirmed_agent=client.agent[:_MAX_AGENT]))
        address_ids(conn, [email], now=now)  # the id its links and ledger rows will carry
        welcome = queue_notice(conn, kind="welcome", email=email, name=chosen.name,
                               language=chosen.languages[0], now=now)
    return pending, welcome


@_store_errors
def expire_signups(engine: sa.Engine, now: datetime) -> int:
    """Delete the sign-ups not confirmed in time; how many."""
    with engine.begin() as conn:
        result = conn.execute(sa.delete(signups).where(signups.c.expires_at <= now)
                              .execution_options(preserve_rowcount=True))
    return max(result.rowcount, 0)


@_store_errors
def latest_consents(engine: sa.Engine, emails: Sequence[str] | None = None) -> dict[str, Consent]:
    """{email: its latest confirmed sign-up}; of `emails` only, when given."""
    query = sa.select(consents).order_by(consents.c.confirmed_at, consents.c.id)
    if emails is not None:
        query = query.where(consents.c.email.in_([e.lower() for e in emails]))
    with engine.connect() as conn:
        return {row.email: _consent(row) for row in conn.execute(query)}


@_store_errors
def signup_counts(engine: sa.Engine, *, now: datetime) -> dict[str, int]:
    """{"pending": unconfirmed and not expired, "expired": awaiting deletion, "confirmed": consents}."""
    with engine.connect() as conn:
        pending = conn.execute(sa.select(sa.func.count()).where(signups.c.expires_at > now)).scalar_one()
        total = conn.execute(sa.select(sa.func.count()).select_from(signups)).scalar_one()
        confirmed = conn.execute(sa.select(sa.func.count(sa.distinct(consents.c.email)))).scalar_one()
    return {"pending": pending, "expired": total - pending, "confirmed": confirmed}


def _pending(row: Any) -> PendingSignup:
    subscriber = Subscriber(email=row.email, name=row.name, languages=tuple(row.languages) or ("en",),
                            companies=tuple(row.companies), places=tuple(row.places), topics=tuple(row.topics))
    return PendingSignup(row.id, subscriber, row.form, row.requested_at, Client(row.requested_ip, row.requested_agent),
                         row.expires_at)  # fmt: skip


def _consent(row: Any) -> Consent:
    return Consent(row.email, row.form, row.requested_at, Client(row.requested_ip, row.requested_agent),
                   row.confirmed_at, Client(row.confirmed_ip, row.confirmed_agent))
