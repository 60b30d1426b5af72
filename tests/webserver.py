"""The web app served for real by uvicorn on loopback, in a thread, for tests.

    server = LiveServer()               # port reserved now: configs can name it
    with server.serve(app):             # uvicorn, as `bhrdigest web` runs it (options: build_server's)
        httpx.get(server.url + "/healthz")
    LiveServer(tls=make_test_tls(dir))  # https, for URLs that must be https (RFC 8058)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from smtpserver import LoopbackTls

from bhrdigest.web.server import build_server


class FakeClock:
    """A clock tests move by hand (rate limits and form expiry), never by sleeping."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LiveServer:
    def __init__(self, *, tls: LoopbackTls | None = None):
        self.tls = tls
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def serve(self, app, **options):
        """`options`: more of build_server's keywords (header_timeout)."""
        server = build_server(
            app,
            host="127.0.0.1",
            port=self.port,
            ssl_certfile=str(self.tls.cert_file) if self.tls else None,
            ssl_keyfile=str(self.tls.key_file) if self.tls else None,
            **options,
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(10)
            self.sock.close()
