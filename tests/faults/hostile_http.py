"""An HTTP server on loopback that misbehaves on purpose, streaming what it sends so that
no test holds 100 MB in memory:

    /huge           a 100 MB feed, chunked, no Content-Length (counted while it streams)
    /huge-declared  Content-Length: 100 MB up front
    /bomb           gzip that inflates to 1 GB of XML whitespace
    /trickle        one byte every 0.2 s, forever

`sent(path)` says how many body bytes actually left for that path before the client hung up.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUNDRED_MB = 100 * 1024 * 1024
_HEAD = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>huge</title>'
_ITEM = (b"<item><title>filler</title><link>https://www.business-humanrights.org/en/latest-news/filler/</link>"
         b"<description>" + b"x" * 900 + b"</description></item>")


def _huge() -> Iterator[bytes]:
    yield _HEAD
    block = _ITEM * 64
    for _ in range(HUNDRED_MB // len(block) + 1):
        yield block


@cache
def bomb() -> bytes:
    """1 GB of whitespace inside a feed, gzipped to about 1 MB (made once, in about a second)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [z.compress(_HEAD)]
    zeros = b" " * (1024 * 1024)
    parts.extend(z.compress(zeros) for _ in range(1024))
    parts.append(z.compress(b"</channel></rss>") + z.flush())
    return b"".join(parts)


class HostileServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: dict[str, int] = {}
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def sent(self, path: str) -> int:
        with self._lock:
            return self._sent.get(path, 0)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + n

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/huge":
                    self._stream(path, _huge(), chunked=True)
                elif path == "/huge-declared":
                    self._stream(path, _huge(), length=HUNDRED_MB)
                elif path == "/bomb":
                    self._stream(path, iter([bomb()]), length=len(bomb()), extra={"Content-Encoding": "gzip"})
                elif path == "/trickle":
                    self._stream(path, self._trickle(), chunked=True)
                else:
                    self.send_error(404)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _trickle(self) -> Iterator[bytes]:
            yield _HEAD
            while not server._stopping.wait(0.2):
                yield b" "

        def _stream(self, path: str, pieces: Iterator[bytes], *, chunked: bool = False, length: int | None = None,
                    extra: dict[str, str] | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            for piece in pieces:
                if server._stopping.is_set():
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                server._count(path, len(piece))
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler
