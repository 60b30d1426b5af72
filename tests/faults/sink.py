"""A recording SMTP sink on loopback that can pull the trigger on a sender mid-send.

    with Sink() as sink:                      # 127.0.0.1, ephemeral port, own thread
        sink.phase = "run 1"                  # every message is labelled with the phase
        sink.arm(after=37, action=kill)       # call kill() while the 37th message of this
                                              # phase is being accepted, before the reply
        ...
        sink.by_address()["a@example.org"]    # [Delivery(message_id, phase, …), …]

`arm(..., when="before_reply")` runs the action inside DATA, after the message is
recorded and before "250" is answered: the sender never learns that it went through —
the worst moment for a crash. `when="after_reply"` runs it just after the reply left.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Delivery:
    rcpt: str
    message_id: str
    phase: str
    content: bytes


@dataclass
class _Trigger:
    after: int
    action: Callable[[], None]
    when: str
    delay: float


class _Handler:
    def __init__(self, sink: Sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        message_id = str(message.get("Message-ID", "")).strip()
        with sink.lock:
            for rcpt in envelope.rcpt_tos:
                sink.deliveries.append(Delivery(rcpt.lower(), message_id, sink.phase, content if sink.keep else b""))
            sink.phase_count += 1
            trigger = sink.trigger
            fire = trigger is not None and sink.phase_count >= trigger.after
            if fire:
                sink.trigger = None
        if fire:
            if trigger.when == "before_reply":
                trigger.action()  # the sender dies before it hears "250"
            else:
                server.loop.call_later(trigger.delay, trigger.action)
        return "250 2.0.0 accepted"


class Sink:
    def __init__(self, *, keep_content: bool = False, host: str = "127.0.0.1"):
        self.keep = keep_content
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.refuse: dict[str, str] = {}
        self.phase = "start"
        self.phase_count = 0
        self.trigger: _Trigger | None = None
        self.host = host
        self._controller = _Controller(_Handler(self), host)
        self.port = 0

    def start(self) -> Sink:
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"smtp+plain://{self.host}:{self.port}"

    def begin(self, phase: str) -> None:
        with self.lock:
            self.phase = phase
            self.phase_count = 0
            self.trigger = None

    def arm(self, *, after: int, action: Callable[[], None], when: str = "before_reply", delay: float = 0.0) -> None:
        with self.lock:
            self.trigger = _Trigger(after, action, when, delay)

    def disarm(self) -> None:
        with self.lock:
            self.trigger = None

    def count(self, phase: str | None = None) -> int:
        with self.lock:
            return sum(1 for d in self.deliveries if phase is None or d.phase == phase)

    def by_address(self) -> dict[str, list[Delivery]]:
        found: dict[str, list[Delivery]] = {}
        with self.lock:
            for delivery in self.deliveries:
                found.setdefault(delivery.rcpt, []).append(delivery)
        return found


class _Controller(Controller):
    def __init__(self, handler: _Handler, host: str):
        super().__init__(handler, hostname=host, port=0, server_hostname="fault-sink", data_size_limit=None)

    def _trigger_server(self):
        # Port 0 asks the OS for a free port; the readiness probe needs the real one.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
