"""A lock one process holds across a long job, shared by every process and machine.

    HeldLock   a PostgreSQL session advisory lock, taken without waiting and held on a
               connection of its own until released; the database drops it by itself
               when the holder's connection or process dies, so a crashed holder never
               blocks the others for long

The key is paired with the current schema's hash: apps (or test runs) sharing one
database in different schemas never take each other's lock.

SQLite is one file on one machine, run by one worker (docs/deploy.md): there the lock is
always granted.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

log = logging.getLogger(__name__)

BOT_POLLER = 0x62687270  # "bhrp": the one worker that long-polls Telegram


class HeldLock:
    """`acquire()` without waiting; True while this process holds the lock."""

    def __init__(self, engine: sa.Engine, key: int, *, name: str):
        self.engine = engine
        self.key = key
        self.name = name
        self._conn: sa.Connection | None = None
        self._shared = engine.dialect.name != "postgresql"  # SQLite: single process, always ours

    @property
    def held(self) -> bool:
        return self._shared or self._conn is not None

    def acquire(self) -> bool:
        """Take the lock if it is free; keep it if ours. Never waits, never raises for the database."""
        if self._shared:
            return True
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            log.warning("lost the %s lock with its database connection; trying to take it again", self.name)
            self._discard(self._conn)
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            log.warning("cannot take the %s lock: %s", self.name, exc.orig)
            return False
        try:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key, hashtext(current_schema()))"), {"key": self.key}
            ).scalar()
            conn.commit()  # the lock belongs to the session, not to this transaction
        except sa.exc.DBAPIError as exc:
            log.warning("cannot take the %s lock: %s", self.name, exc.orig)
            conn.invalidate()
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("this process now holds the %s lock", self.name)
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(
                sa.text("SELECT pg_advisory_unlock(:key, hashtext(current_schema()))"), {"key": self.key}
            )
            self._conn.commit()
        except sa.exc.DBAPIError:
            self._conn.invalidate()  # closing the session releases the lock anyway
        finally:
            self._conn.close()
            self._conn = None
        log.info("released the %s lock", self.name)

    @staticmethod
    def _alive(conn: sa.Connection) -> bool:
        try:
            conn.execute(sa.text("SELECT 1"))
            conn.commit()
        except sa.exc.DBAPIError:
            return False
        return True

    def _discard(self, conn: sa.Connection) -> None:
        try:
            conn.invalidate()
            conn.close()
        except sa.exc.DBAPIError:
            pass
        self._conn = None
