"""What workers know of the Telegram Bot API, kept in `bot_state` so `status` can tell.

    record_down(engine, now, error)   the API did not answer: down since the first time
    record_up(engine, now)            it answered again
    health(engine)                    the last thing recorded, or None if never
    record_username / bot_username    the bot's @username as getMe gave it (the web's t.me links)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bhrdigest.store.schema import bot_state

HEALTH_NAME = "telegram_bot_api_health"
USERNAME_NAME = "telegram_bot_username"


@dataclass(frozen=True, slots=True)
class BotApiHealth:
    down_since: datetime | None  # None: it answered when last asked
    last_error: str | None
    checked_at: datetime

    @property
    def state(self) -> str:
        return "down" if self.down_since is not None else "up"


def read_state(engine: sa.Engine, name: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(bot_state.c.value).where(bot_state.c.name == name)).scalar()


def write_state(engine: sa.Engine, name: str, value: str) -> None:
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(bot_state).values(name=name, value=value)
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value}))


def health(engine: sa.Engine) -> BotApiHealth | None:
    value = read_state(engine, HEALTH_NAME)
    if value is None:
        return None
    data = json.loads(value)
    since = data.get("down_since")
    return BotApiHealth(
        down_since=datetime.fromisoformat(since) if since else None,
        last_error=data.get("last_error"),
        checked_at=datetime.fromisoformat(data["checked_at"]),
    )


def record_down(engine: sa.Engine, now: datetime, error: str) -> BotApiHealth:
    """The API did not answer at `now`; returns what is recorded (down since its first failure)."""
    before = health(engine)
    since = before.down_since if before is not None and before.down_since is not None else now
    return _write(engine, BotApiHealth(since, error[:500], now))


def record_up(engine: sa.Engine, now: datetime) -> BotApiHealth:
    before = health(engine)
    return _write(engine, BotApiHealth(None, before.last_error if before else None, now))


def _write(engine: sa.Engine, record: BotApiHealth) -> BotApiHealth:
    value = {
        "down_since": record.down_since.isoformat() if record.down_since else None,
        "last_error": record.last_error,
        "checked_at": record.checked_at.isoformat(),
    }
    write_state(engine, HEALTH_NAME, json.dumps(value))
    return record


def record_username(engine: sa.Engine, username: str) -> None:
    """The bot's username, as the worker's getMe saw it: the web needs no token to link to it."""
    if username and read_state(engine, USERNAME_NAME) != username:
        write_state(engine, USERNAME_NAME, username)


def bot_username(engine: sa.Engine) -> str | None:
    """The username a worker last saw, or None when no worker has reached the Bot API yet."""
    return read_state(engine, USERNAME_NAME)
