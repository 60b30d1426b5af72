"""The web app under abuse, over real HTTP (uvicorn on loopback): who a request is counted
as behind the platform's router, slow clients and a low file limit, oversized bodies,
tokens with junk around them, redirects and HSTS."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from click.testing import CliRunner
from smtpserver import closed_port, make_test_tls
from test_web import CONFIG, LIST_ID, SECRET, write_config
from webserver import FakeClock, LiveServer

from bhrdigest.cli.main import main
from bhrdigest.config.load import load_config
from bhrdigest.signing import make_preferences_token, make_token
from bhrdigest.store import subscribers as store
from bhrdigest.store.addresses import address_ids
from bhrdigest.web.app import Limits, create_app
from bhrdigest.web.proxy import forwarded
from bhrdigest.web.server import QuietRepeats

FORM = "application/x-www-form-urlencoded"
ROUTER = "127.0.0.2"  # requests from here stand for the platform's router: not a trusted loopback peer


@dataclass
class Web:
    url: str
    engine: object

    def token(self, kind: str, email: str) -> str:
        """A genuine unsubscribe ("u") or preferences ("p") token of `email`, as a digest carries."""
        address_id = address_ids(self.engine, [email])[email]
        return (make_token if kind == "u" else make_preferences_token)(SECRET, address_id, LIST_ID)

    def client(self, *, via: str = "127.0.0.1", **options) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=via, verify=options.pop("verify", True))
        return httpx.Client(base_url=self.url, transport=transport, timeout=10, **options)


@pytest.fixture
def serve(engine, tmp_path) -> Iterator:
    with contextlib.ExitStack() as stack:

        def start(*, limits: Limits | None = None, trusted_proxies: int = 1, tls: bool = False, **server) -> Web:
            config = load_config(write_config(tmp_path, CONFIG))
            app = create_app(config, engine, SECRET, limits=limits or Limits(), trusted_proxies=trusted_proxies,
                             clock=FakeClock())
            live = LiveServer(tls=make_test_tls(tmp_path / "tls") if tls else None)
            stack.enter_context(live.serve(app, **server))
            return Web(live.url, engine)

        yield start


def bad_token(i: int) -> str:
    return f"/p/guess{i}.AAAAAAAAAAAAAAAAAAAAAA"


# --- who the client is, behind the router -----------------------------------------------


def test_one_client_guessing_behind_the_router_does_not_lock_out_other_readers(serve):
    web = serve(limits=Limits(client_burst=5, client_per_second=0.001))
    with web.client(via=ROUTER) as router:
        guesser = [router.get(bad_token(i), headers={"X-Forwarded-For": "203.0.113.7"}).status_code
                   for i in range(6)]
        reader = router.get(bad_token(99), headers={"X-Forwarded-For": "198.51.100.2"})
    assert guesser == [404] * 5 + [429]
    assert reader.status_code == 404  # not the guesser's 429


def test_a_client_cannot_pick_its_own_key_through_x_forwarded_for(serve, monkeypatch):
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # what the docs used to advise: now ignored
    web = serve(limits=Limits(client_burst=5, client_per_second=0.001))
    with web.client(via=ROUTER) as router:
        # The client writes any X-Forwarded-For it likes; the router appends the address it saw.
        statuses = [router.get(bad_token(i), headers={"X-Forwarded-For": f"10.9.8.{i}, 203.0.113.7"}).status_code
                    for i in range(6)]
    assert statuses == [404] * 5 + [429]


def test_the_client_is_the_rightmost_address_the_trusted_proxies_did_not_write():
    def scope(*headers: tuple[bytes, bytes]) -> dict:
        return {"client": ("10.0.0.1", 5000), "scheme": "http", "headers": list(headers)}

    xff = (b"x-forwarded-for", b"1.1.1.1, 2.2.2.2, 3.3.3.3")
    assert forwarded(scope(xff), 0) == ("10.0.0.1", "http")  # no proxy: the peer
    assert forwarded(scope(xff), 1) == ("3.3.3.3", "http")
    assert forwarded(scope(xff), 2) == ("2.2.2.2", "http")
    assert forwarded(scope(xff, (b"x-forwarded-for", b"4.4.4.4")), 1) == ("4.4.4.4", "http")  # two headers: one list
    assert forwarded(scope((b"x-forwarded-for", b"3.3.3.3")), 2) == ("10.0.0.1", "http")  # fewer hops than trusted
    assert forwarded(scope(), 1) == ("10.0.0.1", "http")
    assert forwarded(scope((b"x-forwarded-proto", b"https")), 1) == ("10.0.0.1", "https")
    assert forwarded(scope((b"x-forwarded-proto", b"https")), 0) == ("10.0.0.1", "http")
    assert forwarded(scope((b"x-forwarded-proto", b"gopher")), 1) == ("10.0.0.1", "http")


# --- HSTS ------------------------------------------------------------------------------


def test_hsts_is_sent_when_the_router_says_the_request_came_over_https(serve):
    web = serve()
    with web.client(via=ROUTER) as router:
        https = router.get("/healthz", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
        plain = router.get("/healthz", headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.7"})
    assert https.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers


def test_hsts_trusts_the_forwarded_scheme_only_from_a_trusted_proxy(serve):
    web = serve(trusted_proxies=0)
    with web.client() as direct:
        response = direct.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200 and "strict-transport-security" not in response.headers


def test_hsts_is_sent_over_tls_without_a_proxy(serve, tmp_path):
    web = serve(tls=True, trusted_proxies=0)
    with web.client(verify=ssl.create_default_context(cafile=tmp_path / "tls" / "ca.pem")) as client:
        assert client.get("/healthz").headers["strict-transport-security"] == "max-age=31536000"


# --- oversized bodies ----------------------------------------------------------------


def test_a_one_click_post_too_large_unsubscribes_nobody_and_says_so(serve):
    web = serve()
    token = web.token("u", "alex@example.org")
    big = b"List-Unsubscribe=One-Click&x=" + b"x" * 10_000_000

    def trickled() -> Iterator[bytes]:  # no length declared; the first part alone is a field too long to parse
        yield big[:30_000]
        time.sleep(0.3)
        yield big[30_000:300_000]

    with web.client() as client:
        declared = client.post(f"/u/{token}", content=big, headers={"Content-Type": FORM})
        chunked = client.post(f"/u/{token}", content=trickled(), headers={"Content-Type": FORM})
    for response in (declared, chunked):
        assert response.status_code == 413
        assert "nothing was changed" in response.text
    assert store.get_suppression(web.engine, "alex@example.org") is None


# --- tokens with junk, and the access log ---------------------------------------------------


@pytest.mark.parametrize("junk", ["%09", "%20", "%0A", "x", "%00"])
def test_a_token_with_trailing_junk_is_refused_and_never_logged(serve, caplog, junk):
    caplog.set_level(logging.INFO, logger="bhrdigest")
    web = serve()
    unsubscribe = web.token("u", "alex@example.org")
    preferences = web.token("p", "alex@example.org")
    with web.client() as client:
        page = client.get(f"/p/{preferences}{junk}")
        one_click = client.post(f"/u/{unsubscribe}{junk}", data={"List-Unsubscribe": "One-Click"})
    assert (page.status_code, one_click.status_code) == (404, 404)
    assert store.get_suppression(web.engine, "alex@example.org") is None
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /p/{token} 404" in logged and "POST /u/{token} 404" in logged
    for secret_part in (unsubscribe.split(".")[1], preferences.split(".")[1]):
        assert secret_part not in logged


# --- redirects ----------------------------------------------------------------------------


def test_a_trailing_slash_redirects_relatively_whatever_the_host_header(serve):
    web = serve()
    token = web.token("p", "alex@example.org")
    with web.client() as client:
        response = client.get(f"/p/{token}/?done=saved", headers={"Host": "evil.example"})
        followed = client.get(f"/p/{token}/?done=saved", follow_redirects=True)
    assert response.status_code in (307, 308)
    assert response.headers["location"] == f"../{token}?done=saved"
    assert followed.status_code == 200 and "Your choices are saved" in followed.text
    assert str(followed.url).endswith(f"/p/{token}?done=saved")


# --- slow clients ---------------------------------------------------------------------------


def test_a_client_trickling_its_headers_is_cut_off(serve):
    web = serve(header_timeout=1.0)
    host, port = web.url.removeprefix("http://").split(":")
    for warm_up in (b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"):  # a new connection, then a kept-alive one
        with socket.create_connection((host, int(port)), timeout=5) as slow:
            slow.sendall(warm_up)
            if warm_up:
                assert slow.recv(1000).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            with contextlib.suppress(OSError):
                slow.sendall(b"GET /healthz HTTP/1.1\r\n")
                while time.monotonic() - started < 5:
                    slow.sendall(b"X-Slow: 1\r\n")  # a line every 0.3 s: more often than any idle timer
                    time.sleep(0.3)
            assert time.monotonic() - started < 3  # cut off after the header timeout, not at our 5 s


def test_slow_clients_under_a_low_file_limit_neither_stop_healthz_nor_flood_the_log(database_url, tmp_path):
    port = closed_port()
    env = {**os.environ, "BHRDIGEST_CONFIG": str(write_config(tmp_path)), "DATABASE_URL": database_url,
           "BHRDIGEST_SECRET": SECRET, "PORT": str(port), "DYNO": "", "FORWARDED_ALLOW_IPS": "*"}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0  # `web` creates no database
    log_file = tmp_path / "web.log"

    def low_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bhrdigest", "web", "--host", "127.0.0.1"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT, preexec_fn=low_file_limit)
    slow: list[socket.socket] = []
    try:
        wait_for_health(port, process)
        for _ in range(150):  # more than the process may open
            with contextlib.suppress(OSError):
                client = socket.create_connection(("127.0.0.1", port), timeout=2)
                client.sendall(b"GET /healthz HTTP/1.1\r\n")
                slow.append(client)
        answers = []
        for _ in range(4):
            for client in slow:
                with contextlib.suppress(OSError):
                    client.sendall(b"X-Slow: 1\r\n")
            answers.append(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text)
            time.sleep(0.5)
    finally:
        for client in slow:
            client.close()
        process.terminate()
        process.wait(20)
    lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    assert answers == ["ok"] * 4
    assert len(lines) < 20, lines[:5]
    assert any("FORWARDED_ALLOW_IPS is no longer read" in line for line in lines)
    assert any("behind 1 trusted proxy hop(s)" in line for line in lines)
    assert not any("Too many open files" in line for line in lines)


def wait_for_health(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok":
                return
        time.sleep(0.05)
    raise AssertionError(f"web did not answer /healthz (exit {process.poll()})")


def test_a_repeated_log_record_is_let_through_once_per_interval_with_a_count():
    clock = FakeClock()
    quiet = QuietRepeats(interval=60, clock=clock)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    passed = [quiet.filter(record("socket.accept() out of system resource")) for _ in range(1000)]
    assert passed.count(True) == 1 and passed[0]
    assert quiet.filter(record("another error"))  # a different record is not held back
    clock.advance(61)
    later = record("socket.accept() out of system resource")
    assert quiet.filter(later)
    assert later.getMessage() == "socket.accept() out of system resource (999 more like this in the last 61 s)"


def test_the_file_limit_leaves_room_for_every_connection_the_server_accepts():
    from bhrdigest.web.server import connection_limits

    for soft_limit in (128, 1024, 10_000, -1):
        max_connections, backlog = connection_limits(soft_limit)
        assert max_connections >= 8 and backlog >= 8
        if soft_limit > 0:
            assert max_connections + backlog + 64 <= soft_limit


def test_web_refuses_a_negative_number_of_trusted_proxies(database_url, tmp_path):
    env = {"BHRDIGEST_CONFIG": str(write_config(tmp_path)), "DATABASE_URL": database_url,
           "BHRDIGEST_SECRET": SECRET, "TRUSTED_PROXY_HOPS": "-1", "DYNO": ""}
    result = CliRunner().invoke(main, ["web"], env=env)
    assert result.exit_code == 1  # a usage error: 1, as the README says
    assert "--trusted-proxies" in result.output and "-1" in result.output
