"""Connections that slow or flooding clients cannot pile up.

uvicorn (h11) waits for a request's headers for ever, and its keep-alive timer restarts
with every byte, so a client sending a header line every few seconds holds its
connection; a few hundred such clients held every file the process may open. Here:

- the request line and headers must be in within `header_timeout` seconds of the
  connection opening (or of the previous response, on a kept-alive connection), else the
  connection is closed;
- at most `max_connections` are open: one more closes the connection that has waited
  longest for its request, so a quick request (the platform's health check) still gets
  through while slow clients come and go; when every connection is busy with a request,
  the newcomer is answered 503 and closed.
"""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
         b"content-length: 24\r\nretry-after: 5\r\nconnection: close\r\n\r\nBusy: try again shortly.")


class ConnectionGuard:
    """What the connections of one server share: the limits, and who is waiting for a request."""

    def __init__(self, *, max_connections: int, header_timeout: float):
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.waiting: dict[GuardedH11Protocol, None] = {}  # awaiting a request, longest first


def guarded_protocol(guard: ConnectionGuard) -> type[H11Protocol]:
    """The HTTP protocol class for uvicorn's `http=`, its connections sharing `guard`."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})


class GuardedH11Protocol(H11Protocol):
    guard: ConnectionGuard
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.guard.max_connections and not self._close_longest_waiting():
            log.warning("web: %d connections open, all busy: refused one (503)", len(self.connections) - 1)
            transport.write(_BUSY)
            transport.close()
            return
        self._await_request()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_request()  # kept alive: the next request's headers get the same time

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_request(self) -> None:
        self.guard.waiting[self] = None
        self._header_timer = self.loop.call_later(self.guard.header_timeout, self._headers_too_slow)

    def _stop_waiting(self) -> None:
        self.guard.waiting.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self.guard.waiting.pop(self, None)
        log.warning("web: closed a connection that sent no complete request in %gs", self.guard.header_timeout)
        self.transport.close()

    def _close_longest_waiting(self) -> bool:
        oldest = next(iter(self.guard.waiting), None)
        if oldest is None:
            return False
        oldest._stop_waiting()
        log.warning("web: %d connections open: closed the one waiting longest for its request",
                    len(self.connections) - 1)
        oldest.transport.close()
        return True
