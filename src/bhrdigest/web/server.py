"""uvicorn, the production ASGI server, set up the way `bhrdigest web` needs it.

No uvicorn access log (its lines carry the URL, and our URLs carry tokens: the app logs
each request with the token cut out); no logging set-up of its own (the CLI's is used);
no proxy headers read by uvicorn (the app reads them from its trusted proxies only, so a
client cannot pick the address the rate limits count it under: web/proxy.py).

Bounded under abuse: connections and their header time (web/connections.py), the listen
backlog, keep-alive time and header size; connections and backlog stay under the
process's file limit, and an error that repeats in a tight loop (asyncio logs every
failed accept()) is logged once a minute with a count.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from bhrdigest.web.connections import ConnectionGuard, guarded_protocol

HEADER_TIMEOUT = 10.0  # seconds for a request line and headers; a person's browser needs well under one
KEEP_ALIVE = 5  # seconds an idle connection is kept for its next request
MAX_HEADERS = 16 * 1024  # bytes of request line and headers; more is answered 400
MAX_CONNECTIONS = 500
BACKLOG = 128  # connections the kernel queues; asyncio also accepts up to this many in one go
RESERVED_FILES = 64  # for the database, logs and the rest of the process


def build_server(
    app: ASGIApp,
    *,
    host: str = "0.0.0.0",
    port: int = 8000,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    header_timeout: float = HEADER_TIMEOUT,
) -> uvicorn.Server:
    max_connections, backlog = connection_limits(_soft_file_limit())
    guard = ConnectionGuard(max_connections=max_connections, header_timeout=header_timeout)
    for name in ("asyncio", "uvicorn.error", "bhrdigest.web.connections"):
        logging.getLogger(name).addFilter(_QUIET)  # the same filter once, however many servers
    # access_log=False leaves uvicorn logging each request line, token and all, whenever
    # something attached a handler to its logger (a platform's agent, a test's log capture).
    logging.getLogger("uvicorn.access").addFilter(_no_access_lines)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        http=guarded_protocol(guard),
        backlog=backlog,
        timeout_keep_alive=KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_HEADERS,
        timeout_graceful_shutdown=10,  # SIGTERM: finish requests in flight, then stop
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    return uvicorn.Server(config)


def connection_limits(soft_file_limit: int) -> tuple[int, int]:
    """(max_connections, backlog) that fit in the file limit: open connections plus one
    accept() burst, with the reserve left over. A negative limit means none."""
    usable = soft_file_limit - RESERVED_FILES if soft_file_limit >= 0 else MAX_CONNECTIONS + BACKLOG
    backlog = max(8, min(BACKLOG, usable // 4))
    return max(8, min(MAX_CONNECTIONS, usable - backlog)), backlog


def _soft_file_limit() -> int:
    try:
        import resource
    except ImportError:  # not on Unix: the usual default
        return 1024
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class QuietRepeats(logging.Filter):
    """Lets the first of like records through, then one per `interval` seconds with the count
    of those held back, so an error repeating in a tight loop cannot flood the log."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic, max_kinds: int = 1000):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.max_kinds = max_kinds
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # kind -> (shown at, held back since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        if kind in self._seen:
            shown_at, held = self._seen[kind]
            if now - shown_at < self.interval:
                self._seen[kind] = (shown_at, held + 1)
                return False
            if held:
                record.msg = f"{record.msg} ({held} more like this in the last {now - shown_at:.0f} s)"
        elif len(self._seen) >= self.max_kinds:
            self._seen.clear()  # bounded memory; at worst a kind is shown once more
        self._seen[kind] = (now, 0)
        return True


_QUIET = QuietRepeats()


def _no_access_lines(record: logging.LogRecord) -> bool:
    return False  # our own line (web/frame.py) has the tokens cut out


def serve_until_stopped(server: uvicorn.Server) -> None:
    """Serve until SIGTERM or Ctrl-C; requests in flight finish, then a clean exit (0).

    uvicorn re-raises the signal once it has shut down, so that the process dies of it;
    the handlers set here turn that into a normal exit, as the worker's is.
    """

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
