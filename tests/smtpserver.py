"""A real SMTP server on loopback for tests, scriptable per test.

    with SmtpServer() as server:            # 127.0.0.1, ephemeral port, own thread
        server.transient_failures = 2       # the first 2 DATA commands get 451
        ... send to server.port ...
        assert len(server.messages) == 1 and server.sessions == 1

Behaviours (set attributes before or between sends):
    transient_failures, transient_reply   the first N messages are answered with a 4xx
                                          (a 421 also closes the connection)
    refuse = {"bob@x.org": "550 ..."}     RCPT for these recipients gets the reply
    drop_after = N                        a session's MAIL after its Nth message: connection cut
    stall = True                          DATA is never answered (until the server stops)
    max_sessions = N                      a session beyond N open ones is greeted with 421
    credentials = ("user", "pass")        AUTH required before MAIL (no TLS needed on loopback)
    SmtpServer(tls=LoopbackTls, starttls=True)     offers STARTTLS
    SmtpServer(tls=LoopbackTls, implicit_tls=True) speaks TLS from the first byte (smtps)
Records: messages (bytes, envelope, session number), sessions, rcpt_attempts, data_attempts.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # as received, after dot-unstuffing
    session: int  # 1 for the first connection, 2 for the next…
    tls: bool
    authenticated: bool


@dataclass
class LoopbackTls:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_test_tls(directory: Path) -> LoopbackTls:
    """Generate the certificates, with `cryptography` when installed, else the openssl tool."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return _make_tls_with_openssl(directory)
    return _make_tls_with_cryptography(directory)


def _make_tls_with_cryptography(directory: Path) -> LoopbackTls:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject, issuer, public_key, signing_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bhrdigest test CA")])
    ca_cert = build(
        ca_name,
        ca_name,
        ca_key.public_key(),
        ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
            (x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False),
        ],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
        ca_name,
        key.public_key(),
        ca_key,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                False,
            ),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False),
        ],
    )
    tls = LoopbackTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    tls.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return tls


def _make_tls_with_openssl(directory: Path) -> LoopbackTls:
    if shutil.which("openssl") is None:
        raise RuntimeError("neither the cryptography package nor the openssl tool is available")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=bhrdigest test CA",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")  # fmt: skip
    return LoopbackTls(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def closed_port() -> int:
    """A loopback port where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer):
        self.server = server

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        server = self.server
        if server.credentials and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if server.drop_after is not None and getattr(session, "bhr_messages", 0) >= server.drop_after:
            smtp.transport.abort()  # cut, no reply: what a crashed or impatient relay does
            return "421 4.4.2 gone"  # never reaches the client
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        with self.server._lock:
            self.server.rcpt_attempts.append(address)
            reply = self.server.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp, session, envelope):
        server = self.server
        with server._lock:
            server.data_attempts += 1
            fail = server.transient_failures > 0
            if fail:
                server.transient_failures -= 1
        if server.stall:
            await asyncio.sleep(3600)  # cancelled when the server stops
        if fail:
            if server.transient_reply.startswith("421"):  # "closing channel": say it, then close
                await smtp.push(server.transient_reply)
                smtp.transport.close()
            return server.transient_reply
        session.bhr_messages = getattr(session, "bhr_messages", 0) + 1
        received = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=envelope.original_content,
            session=session.bhr_number,
            tls=session.ssl is not None or server.implicit_tls,
            authenticated=bool(session.authenticated),
        )
        with server._lock:
            server.messages.append(received)
        return "250 2.0.0 Message accepted"


class _CountingController(Controller):
    def __init__(self, server: SmtpServer, **kwargs):
        self.owner = server
        self.live: weakref.WeakSet[SMTP] = weakref.WeakSet()
        super().__init__(_Handler(server), hostname="127.0.0.1", port=0, **kwargs)

    def factory(self):
        smtp = _NumberedSMTP(self.handler, **self.SMTP_kwargs)
        with self.owner._lock:
            self.owner.sessions += 1
            smtp.bhr_number = self.owner.sessions
            smtp.bhr_owner = self.owner
            self.live.add(smtp)
        return smtp

    def abort_connections(self) -> None:
        """Cut every open session, as a crashing relay would (run in the server's loop)."""
        for smtp in list(self.live):
            if smtp.transport is not None:
                smtp.transport.abort()

    def _trigger_server(self):
        # Port 0 asks the OS for a free port; the readiness probe needs the real one.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _NumberedSMTP(SMTP):
    bhr_number = 0
    bhr_owner: SmtpServer | None = None

    async def _handle_client(self):
        owner = self.bhr_owner
        if owner is not None and owner.max_sessions is not None and owner.open_sessions() > owner.max_sessions:
            await self.push("421 4.7.0 Too many concurrent connections, try again later")
            self.transport.close()
            return
        await super()._handle_client()

    def _create_session(self):
        session = super()._create_session()
        session.bhr_number = self.bhr_number
        return session


class SmtpServer:
    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls: LoopbackTls | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
    ):
        if (starttls or implicit_tls) and tls is None:
            raise ValueError("STARTTLS or implicit TLS needs tls=make_test_tls(...)")
        self.credentials = credentials
        self.implicit_tls = implicit_tls
        self.transient_failures = 0
        self.transient_reply = "451 4.3.0 Temporary failure, please try again"
        self.refuse: dict[str, str] = {}
        self.drop_after: int | None = None
        self.stall = False
        self.max_sessions: int | None = None
        self.messages: list[Received] = []
        self.sessions = 0
        self.rcpt_attempts: list[str] = []
        self.data_attempts = 0
        self._lock = threading.Lock()
        kwargs = {
            "authenticator": self._authenticate,
            "auth_require_tls": False,  # loopback only
            "server_hostname": "bhrdigest-test",
        }
        if starttls:
            kwargs["tls_context"] = tls.server_context()
        if implicit_tls:
            kwargs["ssl_context"] = tls.server_context()
        self._controller = _CountingController(self, **kwargs)
        self.port = 0

    def _authenticate(self, smtp, session, envelope, mechanism, auth_data):
        ok = (
            self.credentials is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535

    def start(self) -> SmtpServer:
        self._controller.start()
        self.port = self._controller.port
        with self._lock:
            self.sessions = 0  # forget the controller's own readiness probe
        return self

    def stop(self) -> None:
        """Stop listening and cut open sessions: afterwards the port refuses connections."""
        controller = self._controller
        if controller._thread is None:
            return
        cut = threading.Event()

        def abort() -> None:
            controller.abort_connections()
            cut.set()

        controller.loop.call_soon_threadsafe(abort)
        cut.wait(5)
        controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def open_sessions(self) -> int:
        live = self._controller.live
        return sum(1 for smtp in list(live) if smtp.transport is not None and not smtp.transport.is_closing())

    @property
    def recipients(self) -> list[str]:
        return [rcpt for message in self.messages for rcpt in message.rcpt_tos]
