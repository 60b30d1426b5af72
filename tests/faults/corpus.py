"""feedparser's own test corpus, fetched from the package registry at test time.

feedparser's source distribution carries `tests/wellformed/`, `tests/illformed/`,
`tests/encoding/`, `tests/entities/`, `tests/http/` and `tests/compression/`: a couple
of thousand feeds its authors collected over twenty years. It is downloaded with pip
(the same version as the one installed), unpacked into a cache folder outside the
repository, and never committed.

    folder = corpus_folder()        # .../feedparser-6.0.14/tests, or pytest.skip(...)

The cache is BHRDIGEST_CORPUS_CACHE, else ~/.cache/bhrdigest/test-corpus.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

DIRECTORIES = ("wellformed", "illformed", "encoding", "entities", "http", "compression")
_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)


def cache_root() -> Path:
    configured = os.environ.get("BHRDIGEST_CORPUS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "bhrdigest" / "test-corpus"


def corpus_folder() -> Path:
    """The unpacked `tests/` folder of the installed feedparser's sdist; skips the test when
    the registry cannot be reached."""
    release = version("feedparser")
    target = cache_root() / f"feedparser-{release}"
    tests = target / "tests"
    if (target / ".complete").exists():
        return tests
    with tempfile.TemporaryDirectory() as download:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "--quiet", f"feedparser=={release}", "-d", download]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=180)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            pytest.skip(f"cannot download feedparser {release}'s source from the package registry "
                        f"(offline?): {detail.strip().splitlines()[-1] if detail.strip() else exc}")
        archives = list(Path(download).glob("feedparser-*.tar.gz"))
        if not archives:
            pytest.skip(f"pip downloaded no source archive of feedparser {release}")
        _unpack_tests(archives[0], target)
    (target / ".complete").touch()
    return tests


def _unpack_tests(archive: Path, target: Path) -> None:
    """Only the sdist's tests/ folder: its plain files and folders."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) > 2 and parts[1] == "tests" and (member.isfile() or member.isdir()):
                member.name = str(Path(*parts[1:]))
                members.append(member)
        # Only plain files and folders were picked; the "data" filter (Python >= 3.11.4) refuses the rest too.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(target, members=members, **safe)


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    relative: str  # e.g. "wellformed/rss/item_title.xml"
    status: int
    headers: dict[str, str]  # what feedparser's own test server sends with this file


def corpus_files(tests: Path, directory: str) -> list[CorpusFile]:
    found = []
    for path in sorted((tests / directory).rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(tests).as_posix()
        status, headers = served_headers(path, relative)
        found.append(CorpusFile(path, relative, status, headers))
    return found


def served_headers(path: Path, relative: str) -> tuple[int, dict[str, str]]:
    """As feedparser's runtests.py serves each file: `Header:` lines in its comment, and
    the compression files by their name."""
    if relative.startswith("compression/"):
        encoding = "gzip" if relative.endswith("gz") else "deflate"
        return 200, {"Content-Encoding": encoding, "Content-Type": "application/xml"}
    headers = {
        name.decode("utf-8", "replace").strip(): value.decode("utf-8", "replace").strip()
        for name, value in _HEADER.findall(path.read_bytes())
    }
    status = int(headers.pop("Status", "200") or 200)
    headers.setdefault("Content-type", "application/xml" if path.suffix == ".xml" else "application/octet-stream")
    return status, headers


class CorpusServer:
    """Serves corpus files on loopback the way feedparser's own test server does."""

    def __init__(self, files: list[CorpusFile]):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        # Redirects in the corpus point at http://localhost:8097/tests/<file>.
        by_path = {path: f for f in files for path in (f"/{f.relative}", f"/tests/{f.relative}")}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/-/return-304.xml":
                    return self._answer(304, {"Content-type": "text/xml"}, b"")
                found = by_path.get(path)
                if found is None:
                    return self._answer(404, {"Content-type": "text/plain"}, b"not found")
                headers = {k: v.replace("http://localhost:8097", server.base_url) for k, v in found.headers.items()}
                status = found.status
                if self.headers.get("If-None-Match") and self.headers.get("If-None-Match") == headers.get("ETag"):
                    status = 304
                self._answer(status, headers, found.path.read_bytes() if status != 304 else b"")

            def _answer(self, status, headers, body):
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        import threading

        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, file: CorpusFile) -> str:
        return f"{self.base_url}/{file.relative}"

    def __enter__(self) -> CorpusServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
