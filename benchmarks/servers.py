"""Loopback servers the benchmarks talk to, each in a process of its own.

    python -m benchmarks.servers smtp     an aiosmtpd sink that counts messages and drops them
    python -m benchmarks.servers smtp-fast  the same in 80 lines of asyncio that read DATA in bulk:
                                          what a relay written in C costs, so the client is measured
    python -m benchmarks.servers botapi   the test suite's fake Bot API (tests/botapi.py), with
                                          Telegram's limits (30/s overall, 1/s per chat), recording
                                          when each message was accepted and every 429

A server prints one JSON line when it listens ({"port": …} or {"url": …}), then answers
`stats` and `reset` lines on its stdin with one JSON line each, and exits at end of input.
Being another process matters: a server on the same interpreter would share its GIL with
the code under test and slow both.

`ServerProcess` is the parent's handle: `with ServerProcess("smtp") as sink: sink.port`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]


class ServerProcess:
    """Starts `python -m benchmarks.servers KIND`, reads its address, asks for its stats."""

    def __init__(self, kind: str, *args: str):
        self.kind = kind
        self.args = args
        self.process: subprocess.Popen[str] | None = None
        self.info: dict = {}

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.servers", self.kind, *self.args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.kind} server did not start (see its output above)")
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()

    @property
    def port(self) -> int:
        return int(self.info["port"])

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def ask(self, command: str) -> dict:
        assert self.process is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stats(self) -> dict:
        return self.ask("stats")

    def reset(self) -> None:
        self.ask("reset")


# --- the child side -----------------------------------------------------------------------


def _answer_stdin(stats, reset, on_eof) -> None:
    """Serve `stats` / `reset` lines from stdin in a thread; call on_eof when input ends."""

    def loop() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "reset":
                reset()
                print(json.dumps({"ok": True}), flush=True)
            else:
                print(json.dumps(stats()), flush=True)
        on_eof()

    threading.Thread(target=loop, daemon=True).start()


class _Sink:
    """Accepts every message; counts messages and bytes, keeps nothing."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.sessions = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages += 1
        self.bytes += len(envelope.original_content or b"")
        return "250 2.0.0 accepted"


def serve_smtp() -> None:
    from aiosmtpd.smtp import SMTP

    sink = _Sink()
    loop = asyncio.new_event_loop()

    def factory() -> SMTP:
        sink.sessions += 1
        # A fixed hostname: the default looks up the FQDN for every session.
        return SMTP(sink, hostname="bench-sink", ident="bench sink", loop=loop)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]

    def reset() -> None:
        sink.messages = sink.bytes = sink.sessions = 0

    _answer_stdin(lambda: dict(vars(sink)), reset, lambda: loop.call_soon_threadsafe(loop.stop))
    print(json.dumps({"port": port}), flush=True)
    loop.run_forever()
    server.close()


class _FastSmtp(asyncio.Protocol):
    """Just enough SMTP for a client that sends mail (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).

    DATA is read in bulk up to CRLF.CRLF rather than line by line, so that the sink costs
    about what a relay written in C would, and the client is what gets measured.
    """

    def __init__(self, sink: _Sink):
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.size = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.sink.sessions += 1
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                if not self._read_data():
                    return
                continue
            line, found, rest = self.buffer.partition(b"\r\n")
            if not found:
                return
            self.buffer = rest
            self._command(line)

    def _read_data(self) -> bool:
        if self.buffer.startswith(b".\r\n") and self.size == 0:
            end, skip = 0, 3
        else:
            end = self.buffer.find(b"\r\n.\r\n")
            skip = 5
        if end < 0:
            keep = 4  # the terminator may straddle two reads
            self.size += max(0, len(self.buffer) - keep)
            self.buffer = self.buffer[-keep:]
            return False
        self.size += end + 2
        self.buffer = self.buffer[end + skip :]
        self.in_data = False
        self.sink.messages += 1
        self.sink.bytes += self.size
        self.size = 0
        self.transport.write(b"250 2.0.0 accepted\r\n")
        return True

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.transport.write(b"250-bench-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.transport.write(b"354 end data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            self.transport.write(b"250 OK\r\n")
        else:
            self.transport.write(b"500 5.5.2 command not recognised\r\n")


def serve_smtp_fast() -> None:
    sink = _Sink()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: _FastSmtp(sink), "127.0.0.1", 0))

    def reset() -> None:
        sink.messages = sink.bytes = sink.sessions = 0

    _answer_stdin(lambda: dict(vars(sink)), reset, lambda: loop.call_soon_threadsafe(loop.stop))
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    loop.run_forever()
    server.close()


def serve_botapi() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import botapi
    from botapi import (
        FakeBotAPI,  # the test suite's Bot API: Telegram's checks and limits
    )

    # http.server writes a response's headers and body in two sends; with Nagle's algorithm
    # and the client's delayed ACK the body waits 40 ms, which no real Bot API adds.
    botapi._Handler.disable_nagle_algorithm = True

    class TimedBotAPI(FakeBotAPI):
        """Also records when each message was accepted (for the rate and the busiest second)."""

        accepted: list[float]

        def _m_sendMessage(self, params: dict) -> dict:
            result = super()._m_sendMessage(params)
            with self._lock:
                self.accepted.append(time.monotonic())
            return result

    api = TimedBotAPI()  # Telegram's limits: 30 messages/s overall, 1/s per chat, 20/min per group
    api.accepted = []
    done = threading.Event()

    def stats() -> dict:
        with api._lock:
            accepted = list(api.accepted)
            refusals = list(api.refusals)
        return {
            "messages": len(accepted),
            "first": accepted[0] if accepted else None,
            "last": accepted[-1] if accepted else None,
            "busiest_second": _busiest_window(accepted, 1.0),
            "gaps": sorted((round(b - a, 3) for a, b in itertools.pairwise(accepted)), reverse=True)[:5],
            "status_429": sum(1 for r in refusals if r[2] == 429),
            "refusals": len(refusals),
        }

    def reset() -> None:
        with api._lock:
            api.accepted.clear()
            api.refusals.clear()
            api.messages.clear()

    api.start()
    _answer_stdin(stats, reset, done.set)
    print(json.dumps({"url": api.url, "token": api.token}), flush=True)
    done.wait()
    api.stop()


def _busiest_window(stamps: list[float], window: float) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - window:
            start += 1
        best = max(best, end - start + 1)
    return best


if __name__ == "__main__":
    {"smtp": serve_smtp, "smtp-fast": serve_smtp_fast, "botapi": serve_botapi}[sys.argv[1]]()
