"""A real HTTP server on loopback whose answers each test scripts.

    with FeedServer() as server:
        url = server.route("/feed.xml", Route(body=b"<rss/>", etag='"v1"'))
        ...                                   # fetch url with real httpx
        server.requests("/feed.xml")[0].headers["user-agent"]

A path can be given several `Route`s: they are served in order and the last one
repeats (e.g. 500, 500, then 200). A route with `etag` / `last_modified` answers
304 to a matching conditional request, like a real server. The server counts
concurrent requests (`max_concurrent`) and records every request.
"""

from __future__ import annotations

import gzip as gzip_module
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False  # compress body and say Content-Encoding: gzip
    chunked: bool = False  # no Content-Length: Transfer-Encoding: chunked
    delay: float = 0.0  # seconds before answering
    trickle: float | None = None  # send the body one byte per `trickle` seconds
    forever: bool = False  # with trickle: never finish the body
    etag: str | None = None  # answer 304 when If-None-Match matches
    last_modified: str | None = None  # answer 304 when If-Modified-Since equals it


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names


def redirect(to: str, status: int = 301) -> Route:
    return Route(status=status, headers={"Location": to})


def closed_port_url(path: str = "/feed.xml") -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class FeedServer:
    def __init__(self) -> None:
        self._routes: dict[str, list[Route]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._recorded: list[RecordedRequest] = []
        self._active = 0
        self.max_concurrent = 0
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, *routes: Route) -> str:
        """Script the answers for `path`; returns its full URL."""
        with self._lock:
            self._routes[path] = list(routes) or [Route()]
        return self.url(path)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._recorded if path is None or r.path == path]

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- used by the handler thread --

    def _next_route(self, path: str) -> Route:
        with self._lock:
            queue = self._routes.get(path)
            if not queue:
                return Route(status=404, body=b"not found")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _enter(self, request: RecordedRequest) -> None:
        with self._lock:
            self._recorded.append(request)
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a trickling handler must not hold up shutdown

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients hanging up (refused bodies, timeouts) is what the tests provoke.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _make_handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # http.server's naming
            path = self.path.split("?", 1)[0]
            server._enter(RecordedRequest("GET", path, {k.lower(): v for k, v in self.headers.items()}))
            try:
                self._answer(server._next_route(path))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                server._leave()

        def _answer(self, route: Route) -> None:
            if route.delay:
                server._stopping.wait(route.delay)
            if self._not_modified(route):
                self.send_response(304)
                for name, value in self._validators(route).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = gzip_module.compress(route.body) if route.gzip else route.body
            self.send_response(route.status)
            for name, value in {**self._validators(route), **route.headers}.items():
                self.send_header(name, value)
            if route.gzip:
                self.send_header("Content-Encoding", "gzip")
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif not route.forever:
                self.send_header("Content-Length", str(len(body)))
            if route.forever and not route.chunked:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self._send_body(route, body)

        def _validators(self, route: Route) -> dict[str, str]:
            found = {"ETag": route.etag, "Last-Modified": route.last_modified}
            return {k: v for k, v in found.items() if v}

        def _not_modified(self, route: Route) -> bool:
            if route.status != 200:
                return False
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                return True
            return bool(route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified)

        def _send_body(self, route: Route, body: bytes) -> None:
            if route.trickle is not None:
                pieces = _trickle(body, route.forever)
            else:
                pieces = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
            for piece in pieces:
                if server._stopping.is_set():
                    self.close_connection = True
                    return
                self._write(piece, route.chunked)
                if route.trickle is not None:
                    server._stopping.wait(route.trickle)
            if route.chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _write(self, piece: bytes, chunked: bool) -> None:
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                self.wfile.write(piece)
            self.wfile.flush()

    return Handler


def _trickle(body: bytes, forever: bool) -> Iterator[bytes]:
    for i in range(len(body)):
        yield body[i : i + 1]
    while forever:
        yield b" "
