"""The database schema (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Every moment is a UtcDateTime (types.py): aware datetimes in, aware UTC out.
Component identity is `key`; "new" is decided by whether a key was seen before,
never by a date.
"""

from __future__ import annotations

import sqlalchemy as sa

from bhrdigest.store.types import UtcDateTime

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("url", sa.Text, primary_key=True),  # as configured
    sa.Column("fetch_url", sa.Text),  # after a permanent redirect
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("error_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_fetched_at", UtcDateTime()),
    sa.Column("last_ok_at", UtcDateTime()),
    sa.Column("next_check_at", UtcDateTime()),
    sa.Column("broken_since", UtcDateTime()),
    sa.Column("first_ok_at", UtcDateTime()),  # None until the backfill fetch succeeded
    sa.Column("component_count", sa.Integer, nullable=False, default=0),
)

components = sa.Table(
    "components",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("guid", sa.Text),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("published", UtcDateTime()),
    sa.Column("author", sa.Text),
    sa.Column("source_title", sa.Text),
    sa.Column("source_date", sa.Date),
    sa.Column("excerpt_html", sa.Text, nullable=False, default=""),
    sa.Column("excerpt_text", sa.Text, nullable=False, default=""),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("first_seen_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("alertable", sa.Boolean, nullable=False, default=True),  # False: feed backfill
    sa.Column("link", sa.Text),  # the URL the site published (`url` is the identity form)
    sa.Column("mention_line", sa.Text),  # "[Also referred to …]" as written, when it named mentions
    sa.Column("place_origins", sa.JSON),  # [[place, named place, "title" | "text" | "tag"], …]
)
sa.Index("ix_components_first_seen", components.c.first_seen_at)

component_tags = sa.Table(
    "component_tags",
    metadata,
    sa.Column("key", sa.String(64), sa.ForeignKey("components.key", ondelete="CASCADE"), primary_key=True),
    sa.Column("facet", sa.String(16), primary_key=True),  # company | mention | country | region | topic
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
)
sa.Index("ix_component_tags_name", component_tags.c.facet, component_tags.c.name)

translations = sa.Table(
    "translations",
    metadata,
    sa.Column("key", sa.String(64), sa.ForeignKey("components.key", ondelete="CASCADE"), primary_key=True),
    sa.Column("language", sa.String(16), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False, default=""),
    sa.Column("author", sa.Text),
    sa.Column("excerpt_text", sa.Text, nullable=False, default=""),
)

component_feeds = sa.Table(
    "component_feeds",
    metadata,
    sa.Column("key", sa.String(64), sa.ForeignKey("components.key", ondelete="CASCADE"), primary_key=True),
    sa.Column("feed_url", sa.Text, primary_key=True),
)

digest_runs = sa.Table(
    "digest_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("period_start", UtcDateTime(), nullable=False),
    sa.Column("period_end", UtcDateTime(), nullable=False),
    sa.Column("finished_at", UtcDateTime()),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("digest_runs.id"), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued | pending | sent | failed | gone | unknown
    sa.Column("message_id", sa.Text, nullable=False),  # "" while queued
    sa.Column("item_count", sa.Integer, nullable=False, default=0),
    sa.Column("size", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # The sender process whose batch holds the row, and until when: a batch whose lease
    # ran out (its sender died) is taken over by another sender of the same run.
    sa.Column("claimed_by", sa.Text),
    sa.Column("lease_until", UtcDateTime()),
)
sa.Index("ix_deliveries_queue", deliveries.c.run_id, deliveries.c.status, deliveries.c.lease_until)

delivered_components = sa.Table(
    "delivered_components",
    metadata,
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
)

chats = sa.Table(
    "chats",
    metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # active | stopped | gone
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

chat_companies = sa.Table(
    "chat_companies",
    metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("company", sa.Text, primary_key=True),
    sa.Column("source", sa.String(8), nullable=False),  # yaml | bot | link (store/telegram_links.py)
    sa.Column("since", UtcDateTime(), nullable=False),  # alerts only for components first seen after
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("chat_id", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("companies", sa.Text, nullable=False),  # tracked companies that matched, "\n"-joined
    sa.Column("status", sa.String(16), nullable=False),  # pending | sending | sent | failed | gone
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime()),
)
sa.Index("ix_alerts_due", alerts.c.status, alerts.c.next_attempt_at)

bot_state = sa.Table(
    "bot_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# --- web: preferences and suppressions
# A subscriber's own choices from the preferences page. A NULL facet means "as in
# subscriptions.yaml", so staff edits to the YAML still reach facets the subscriber
# never changed. Names are canonical and re-checked against the catalogue on use.
subscriber_preferences = sa.Table(
    "subscriber_preferences",
    metadata,
    sa.Column("email", sa.Text, primary_key=True),  # lower-cased
    sa.Column("companies", sa.JSON),  # list of canonical names, or NULL
    sa.Column("places", sa.JSON),
    sa.Column("topics", sa.JSON),
    sa.Column("languages", sa.JSON),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Addresses that asked to get no more digests: `send` never mails them, whatever the YAML says.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("email", sa.Text, primary_key=True),  # lower-cased
    # one-click | web | staff | hard-bounce | complaint | soft-bounces
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# --- bounces and complaints (mail/bounces.py) -----------------------------------------
# One row per (report, address): the same report read twice (a crash before the mailbox
# removal) is recorded once. Soft bounces count against a threshold within a window.
bounces = sa.Table(
    "bounces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),  # lower-cased
    sa.Column("kind", sa.String(16), nullable=False),  # hard | soft | complaint
    sa.Column("report_id", sa.Text, nullable=False),  # the report's Message-ID, else a hash of it
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("report_id", "email", name="uq_bounces_report"),
    sa.Index("ix_bounces_email", "email", "received_at"),
)

# --- subscribers who live in the database (store/roster.py) ------------------------------
# Readers imported from a CSV (later: who signed up on the web). subscriptions.yaml keeps
# the staff-managed subscribers; an address in both is the YAML's (store/subscribers.py).
# Facets are lists of canonical names, re-checked against the catalogue on use.
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-cased: one address, one subscriber
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("languages", sa.JSON, nullable=False),
    sa.Column("companies", sa.JSON, nullable=False),
    sa.Column("places", sa.JSON, nullable=False),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("match_all", sa.Boolean, nullable=False, default=False),
    sa.Column("telegram", sa.BigInteger),  # chat id, for when a chat is linked by confirmation
    sa.Column("source", sa.String(8), nullable=False),  # import | web
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# --- one compact id per address (store/addresses.py) -------------------------------------
# Every address bhrdigest mails or signs a link for, whatever its source (subscriptions.yaml,
# an import, the web): tokens carry this id instead of the address, and the ledger keys by it.
# A row is never deleted or renumbered, so a link already sent keeps naming its reader.
addresses = sa.Table(
    "addresses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-cased
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# --- sign-up with double opt-in (store/signups.py, store/notices.py) ----------------------
# A sign-up waits here until its address confirms (or it expires: SIGNUP_DAYS). Its id is
# what the confirmation link carries; AUTOINCREMENT, so an id is never given twice on
# SQLite either and a link to an expired sign-up can never confirm a later one.
signups = sa.Table(
    "signups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),  # lower-cased
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("languages", sa.JSON, nullable=False),
    sa.Column("companies", sa.JSON, nullable=False),  # canonical names, as chosen on the form
    sa.Column("places", sa.JSON, nullable=False),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("form", sa.String(16), nullable=False),  # page | embed: where it was filled in
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("requested_ip", sa.Text, nullable=False),
    sa.Column("requested_agent", sa.Text, nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)
sa.Index("ix_signups_expires", signups.c.expires_at)

# Consent evidence: one row per confirmed sign-up (kept when the address leaves again).
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.Text, nullable=False),  # lower-cased
    sa.Column("form", sa.String(16), nullable=False),  # page | embed
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("requested_ip", sa.Text, nullable=False),
    sa.Column("requested_agent", sa.Text, nullable=False),
    sa.Column("confirmed_at", UtcDateTime(), nullable=False),
    sa.Column("confirmed_ip", sa.Text, nullable=False),
    sa.Column("confirmed_agent", sa.Text, nullable=False),
)
sa.Index("ix_consents_email", consents.c.email, consents.c.confirmed_at)

# Confirmation, welcome and "already subscribed" emails, each sent at most once: claimed
# (pending) before it is sent, marked after. AUTOINCREMENT: an id is a Message-ID.
notices = sa.Table(
    "notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # confirm | welcome | already
    sa.Column("email", sa.Text, nullable=False),  # lower-cased
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("signup_id", sa.Integer),  # a confirmation's sign-up
    sa.Column("status", sa.String(16), nullable=False),  # queued | pending | sent | failed | gone | unknown
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sqlite_autoincrement=True,
)
sa.Index("ix_notices_email", notices.c.email, notices.c.created_at)
sa.Index("ix_notices_status", notices.c.status)
# --- Telegram chats linked to a subscription (store/telegram_links.py) ---------------------
# A subscriber confirmed, through a signed link from their preferences page, that this chat
# gets instant alerts for the companies they follow. One chat per address (linking again moves
# it); a chat may carry several addresses' links. subscriptions.yaml's `telegram:` is staff's.
telegram_links = sa.Table(
    "telegram_links",
    metadata,
    sa.Column("address_id", sa.Integer, sa.ForeignKey("addresses.id"), primary_key=True),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("linked_at", UtcDateTime(), nullable=False),
)
sa.Index("ix_telegram_links_chat", telegram_links.c.chat_id)
