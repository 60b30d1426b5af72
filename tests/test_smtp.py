"""SMTP delivery against a real aiosmtpd server on loopback (tests/smtpserver.py)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from smtpserver import SmtpServer, closed_port, make_test_tls

from bhrdigest.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from bhrdigest.mail.sending import SendResult, send_many
from bhrdigest.mail.smtp import RateLimit, SmtpSender
from bhrdigest.mail.target import SmtpTarget, parse_smtp_url

PASSWORD = "s3cr:t/p@ss wörd"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_test_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server():
    with SmtpServer() as running:
        yield running


def plain(server: SmtpServer) -> SmtpTarget:
    return parse_smtp_url(f"smtp+plain://127.0.0.1:{server.port}")


def digest(i: int, to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Business & Human Rights Resource Centre <updates@example.org>"
    message["To"] = f"Zoë Ōtani 大谷 <{to or f'reader{i}@example.org'}>"
    message["Subject"] = f"Business & human rights: your weekly update — {i}"
    message["Message-ID"] = f"<digest-{i}@example.org>"
    message.set_content(f"Israel: Cellebrite says… [Also referred to HSBC] #{i}\n")
    message.add_alternative(f"<p>イスラエル: Cellebrite #{i}</p>", subtype="html")
    return message


async def collect(sender: SmtpSender, messages, concurrency: int = 4) -> list[SendResult]:
    results: list[SendResult] = []
    async with asyncio.timeout(30):  # a hang fails the test instead of the suite
        await send_many(sender, messages, concurrency=concurrency, on_result=results.append)
    return results


# --- SMTP_URL ------------------------------------------------------------------------


def test_smtp_url_with_credentials_requires_starttls_and_decodes_them():
    target = parse_smtp_url(f"smtp://{quote('digest@example.org')}:{quote(PASSWORD, safe='')}@mail.example.org")

    assert (target.host, target.port, target.security) == ("mail.example.org", 587, "starttls")
    assert (target.username, target.password) == ("digest@example.org", PASSWORD)
    assert target.starttls_required
    assert PASSWORD not in repr(target) and quote(PASSWORD, safe="") not in repr(target)


def test_smtp_url_without_credentials_or_on_loopback_takes_starttls_only_when_offered():
    assert not parse_smtp_url("smtp://mail.example.org:25").starttls_required
    assert not parse_smtp_url("smtp://user:pw@127.0.0.1:2525").starttls_required
    assert not parse_smtp_url("smtp://user:pw@localhost:2525").starttls_required


def test_smtps_url_means_implicit_tls_on_465():
    target = parse_smtp_url("smtps://user:pw@mail.example.org")
    assert (target.port, target.security) == (465, "tls")


def test_plain_smtp_is_refused_for_a_host_beyond_loopback():
    assert parse_smtp_url("smtp+plain://127.0.0.1:2525").security == "plain"
    with pytest.raises(ConfigError, match="loopback"):
        parse_smtp_url("smtp+plain://mail.example.org:25")


SECRET = quote(PASSWORD, safe="")


@pytest.mark.parametrize(
    "url, complaint",
    [
        (f"http://user:{SECRET}@mail.example.org", "scheme"),
        (f"smtp://user:{SECRET}@", "no host"),
        (f"smtp://user:{SECRET}@mail.example.org:notaport", "port"),
        (f"smtp://user:{SECRET}@mail.example.org:587/extra", "nothing after"),
        (f"smtp://:{SECRET}@mail.example.org", "no user name"),
        (f"smtp://user:{PASSWORD}@mail.example.org", "(?i)percent-encode"),  # forgot to encode
    ],
)
def test_bad_smtp_url_is_a_config_error_that_never_shows_the_password(url, complaint):
    with pytest.raises(ConfigError, match=complaint) as raised:
        parse_smtp_url(url)
    assert PASSWORD not in str(raised.value) and SECRET not in str(raised.value)


# --- delivery ------------------------------------------------------------------------


async def test_fifty_digests_travel_over_four_reused_connections_intact(server):
    messages = [digest(i) for i in range(50)]
    expected = {m["Message-ID"]: m.as_bytes(policy=email.policy.SMTP) for m in messages}  # fixes the boundaries
    async with SmtpSender(plain(server), connections=4) as sender:
        results = await collect(sender, iter(messages), concurrency=8)

    assert [r.status for r in results] == ["sent"] * 50
    assert server.sessions in range(1, 5)
    assert sorted(server.recipients) == sorted(f"reader{i}@example.org" for i in range(50))
    by_id = {email.message_from_bytes(m.content)["Message-ID"]: m for m in server.messages}
    for original in messages:
        received = by_id[original["Message-ID"]].content
        assert received == expected[original["Message-ID"]]
        parsed = email.message_from_bytes(received, policy=email.policy.default)
        assert parsed["To"].addresses[0].display_name == "Zoë Ōtani 大谷"
        assert "イスラエル" in parsed.get_body(("html",)).get_content()


async def test_lines_starting_with_a_dot_and_bare_line_feeds_arrive_as_written(server):
    """What aiosmtplib does to a message on the way (CR LF line ends, dot-stuffing) still
    happens when there is something to do: aiosmtpd, which un-stuffs, gets the message back."""
    dotted, crlf = digest(1), digest(2)
    crlf.policy = email.policy.SMTP  # flattened with CR LF, as digests are; the other with bare LF
    for message, text in ((dotted, ".leading dot\n..two dots\n.\nand a line\n"), (crlf, ".leading dot\n")):
        message.clear_content()
        message.set_content(text)
    async with SmtpSender(plain(server), connections=1) as sender:
        results = await collect(sender, [dotted, crlf])

    assert [r.status for r in results] == ["sent", "sent"]
    received = {email.message_from_bytes(m.content)["Message-ID"]: m.content for m in server.messages}
    assert received[dotted["Message-ID"]] == dotted.as_bytes().replace(b"\n", b"\r\n")
    assert received[crlf["Message-ID"]] == crlf.as_bytes(policy=email.policy.SMTP)
    text = email.message_from_bytes(received[dotted["Message-ID"]], policy=email.policy.default).get_body(("plain",))
    assert text.get_content().replace("\r\n", "\n") == ".leading dot\n..two dots\n.\nand a line\n"


async def test_transient_refusals_are_retried_and_one_copy_arrives(server):
    server.transient_failures = 2  # 451 twice
    async with SmtpSender(plain(server), retries=3, backoff=0) as sender:
        result = await sender.send(digest(1))

    assert (result.status, result.attempts, result.error) == ("sent", 3, None)
    assert server.data_attempts == 3
    assert len(server.messages) == 1


async def test_relay_closing_with_421_is_retried_on_a_new_connection(server):
    server.transient_failures = 1
    server.transient_reply = "421 4.3.2 Service shutting down, closing channel"
    async with SmtpSender(plain(server), retries=2, backoff=0) as sender:
        result = await sender.send(digest(1))

    assert (result.status, result.attempts) == ("sent", 2)
    assert server.sessions == 2 and len(server.messages) == 1


async def test_transient_failures_beyond_the_retries_end_as_failed_with_the_reply(server):
    server.transient_failures = 10
    async with SmtpSender(plain(server), retries=2, backoff=0) as sender:
        result = await sender.send(digest(1))

    assert (result.status, result.attempts) == ("failed", 3)
    assert "451 4.3.0 Temporary failure" in result.error
    assert server.messages == []


async def test_refused_recipient_is_gone_not_retried_and_others_are_delivered(server):
    server.refuse = {"reader2@example.org": "550 5.1.1 No such user here"}
    async with SmtpSender(plain(server), retries=3, backoff=0) as sender:
        results = await collect(sender, [digest(i) for i in range(5)])

    gone = [r for r in results if r.status == "gone"]
    assert [r.message_id for r in gone] == ["<digest-2@example.org>"]
    assert "550 5.1.1 No such user here" in gone[0].error and "reader2@example.org" in gone[0].error
    assert gone[0].attempts == 1 and server.rcpt_attempts.count("reader2@example.org") == 1
    assert sorted(server.recipients) == [f"reader{i}@example.org" for i in (0, 1, 3, 4)]


async def test_connection_dropped_mid_run_reconnects_and_every_message_arrives_once(server):
    server.drop_after = 3  # the relay cuts each session after 3 messages
    async with SmtpSender(plain(server), connections=1, retries=2, backoff=0) as sender:
        results = await collect(sender, [digest(i) for i in range(10)], concurrency=1)

    assert [r.status for r in results] == ["sent"] * 10
    assert sorted(server.recipients) == sorted(f"reader{i}@example.org" for i in range(10))
    assert server.sessions == 4


async def test_relay_capping_concurrent_sessions_gets_fewer_connections_not_a_stop(server):
    server.max_sessions = 2
    async with SmtpSender(plain(server), connections=4, retries=3, backoff=0) as sender:
        results = await collect(sender, [digest(i) for i in range(20)], concurrency=8)

    assert [r.status for r in results] == ["sent"] * 20
    assert sorted(server.recipients) == sorted(f"reader{i}@example.org" for i in range(20))
    assert sender.down is None


async def test_stalling_server_gives_a_timeout_result_not_a_hang(server):
    server.stall = True
    async with SmtpSender(plain(server), timeout=0.3, retries=1, backoff=0) as sender:
        async with asyncio.timeout(10):
            result = await sender.send(digest(1))

    assert (result.status, result.attempts) == ("failed", 2)
    assert "did not answer within 0.3s" in result.error


async def test_check_fails_fast_and_clearly_when_the_relay_is_down():
    port = closed_port()
    sender = SmtpSender(parse_smtp_url(f"smtp+plain://127.0.0.1:{port}"))

    with pytest.raises(TransientDeliveryError) as raised:
        await sender.check()

    assert str(raised.value).startswith(f"cannot connect to smtp 127.0.0.1:{port}: connection refused")


async def test_relay_dying_mid_run_stops_pulling_messages_and_says_to_run_again(server):
    pulled: list[int] = []
    results: list[SendResult] = []

    def messages():
        for i in range(10):
            pulled.append(i)
            yield digest(i)

    def record(result: SendResult) -> None:
        results.append(result)
        if len(results) == 3:
            server.stop()  # the relay dies: open sessions cut, port closed

    async with SmtpSender(plain(server), connections=1, retries=1, backoff=0) as sender:
        with pytest.raises(TransientDeliveryError, match="run again") as raised:
            async with asyncio.timeout(30):
                await send_many(sender, messages(), concurrency=1, on_result=record)

    assert "connection refused" in str(raised.value)
    assert [r.status for r in results] == ["sent"] * 3 + ["failed"]
    assert len(pulled) == len(results) == 4  # the other 6 were never claimed or built
    assert len(server.messages) == 3


async def test_send_many_keeps_a_bounded_number_of_messages_in_flight(server):
    in_flight: list[int] = []
    results: list[SendResult] = []

    async def messages():
        for i in range(30):
            in_flight.append(i + 1 - len(results))  # pulled so far minus finished
            yield digest(i)

    async def record(result: SendResult) -> None:
        results.append(result)

    async with SmtpSender(plain(server), connections=2) as sender:
        await send_many(sender, messages(), concurrency=3, on_result=record)

    assert len(results) == 30 and max(in_flight) <= 3
    assert server.sessions <= 2 and len(server.messages) == 30


async def test_send_many_streams_through_any_sender_such_as_an_outbox():
    class Outbox:
        def __init__(self) -> None:
            self.kept: list[str] = []

        async def send(self, message: EmailMessage) -> SendResult:
            self.kept.append(message["Message-ID"])
            return SendResult(message["Message-ID"], "sent", None, 1)

    outbox = Outbox()
    results = await collect(outbox, (digest(i) for i in range(5)), concurrency=2)

    assert sorted(outbox.kept) == sorted(r.message_id for r in results) and len(results) == 5


# --- authentication and TLS ------------------------------------------------------------


async def test_credentials_are_sent_and_mail_is_accepted():
    with SmtpServer(credentials=("alice", PASSWORD)) as server:
        target = parse_smtp_url(f"smtp://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}")
        async with SmtpSender(target) as sender:
            await sender.check()
            result = await sender.send(digest(1))

    assert result.status == "sent"
    assert server.messages[0].authenticated


async def test_bad_credentials_give_a_clear_error_without_the_password(caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpServer(credentials=("alice", "the-right-one")) as server:
        target = parse_smtp_url(f"smtp://alice:{quote(PASSWORD, safe='')}@127.0.0.1:{server.port}")
        async with SmtpSender(target) as sender:
            with pytest.raises(PermanentDeliveryError) as raised:
                await sender.check()

    message = str(raised.value)
    assert message.startswith(f"authentication failed for user alice at smtp 127.0.0.1:{server.port}: 535")
    assert PASSWORD not in message and PASSWORD not in repr(target) and PASSWORD not in caplog.text


async def test_relay_refusing_our_sender_stops_the_run_instead_of_dropping_every_subscriber():
    with SmtpServer(credentials=("alice", "pw")) as server:  # demands AUTH; we send none
        async with SmtpSender(plain(server), backoff=0) as sender:
            with pytest.raises(TransientDeliveryError, match="530"):
                await collect(sender, [digest(i) for i in range(5)], concurrency=1)
            later = await sender.send(digest(9))

    assert later.status == "failed" and later.attempts == 0 and "not attempted" in later.error
    assert server.messages == []


async def test_starttls_demanded_but_not_offered_refuses_to_send_the_password(server):
    target = SmtpTarget("127.0.0.1", server.port, "starttls", "alice", PASSWORD, require_starttls=True)

    with pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS") as raised:
        await SmtpSender(target).check()

    assert PASSWORD not in str(raised.value)


async def test_starttls_is_used_when_offered(tls):
    with SmtpServer(tls=tls, starttls=True, credentials=("alice", PASSWORD)) as server:
        target = SmtpTarget("127.0.0.1", server.port, "starttls", "alice", PASSWORD, require_starttls=True)
        async with SmtpSender(target, tls_context=tls.client_context()) as sender:
            result = await sender.send(digest(1))

    assert result.status == "sent"
    assert server.messages[0].tls and server.messages[0].authenticated


async def test_starttls_with_an_untrusted_certificate_is_a_clear_tls_error(tls):
    with SmtpServer(tls=tls, starttls=True) as server:
        target = parse_smtp_url(f"smtp://127.0.0.1:{server.port}")
        with pytest.raises(PermanentDeliveryError, match=r"TLS with smtp 127\.0\.0\.1:\d+ failed: .*certificate"):
            await SmtpSender(target).check()  # system CAs do not know the test CA


async def test_smtps_speaks_implicit_tls_with_the_given_ca(tls):
    with SmtpServer(tls=tls, implicit_tls=True) as server:
        target = parse_smtp_url(f"smtps://127.0.0.1:{server.port}")
        async with SmtpSender(target, tls_context=tls.client_context()) as sender:
            await sender.check()
            result = await sender.send(digest(1))

    assert result.status == "sent" and server.messages[0].tls


async def test_smtps_with_an_untrusted_certificate_is_a_clear_tls_error(tls):
    with SmtpServer(tls=tls, implicit_tls=True) as server:
        target = parse_smtp_url(f"smtps://127.0.0.1:{server.port}")
        with pytest.raises(PermanentDeliveryError, match=r"TLS with smtp 127\.0\.0\.1:\d+ failed: .*certificate"):
            await SmtpSender(target).check()  # system CAs do not know the test CA

    assert server.messages == []


# --- rate limits -----------------------------------------------------------------------


class FakeClock:
    """Time that moves only when the sender sleeps: rate limits without wall-clock waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_per_second_limit_spaces_sends_across_all_connections(server):
    clock = FakeClock()
    async with SmtpSender(plain(server), connections=4, per_second=5, clock=clock, sleep=clock.sleep) as sender:
        results = await collect(sender, [digest(i) for i in range(20)], concurrency=8)

    assert [r.status for r in results] == ["sent"] * 20
    assert clock.now == pytest.approx(3.0)  # 5 at t=0, 5 at t=1, 5 at t=2, 5 at t=3


async def test_per_hour_limit_holds_the_rest_for_the_next_hour(server):
    clock = FakeClock()
    async with SmtpSender(plain(server), per_hour=10, clock=clock, sleep=clock.sleep) as sender:
        results = await collect(sender, [digest(i) for i in range(12)])

    assert len(server.messages) == 12 and all(r.status == "sent" for r in results)
    assert clock.now == pytest.approx(3600.0)


def test_rate_limit_allows_count_per_window_and_says_how_long_to_wait():
    clock = FakeClock()
    limit = RateLimit(3, 10.0, clock)
    for _ in range(3):
        assert limit.delay() == 0
        limit.record()

    assert limit.delay() == 10.0
    clock.now = 4.0
    assert limit.delay() == 6.0
    clock.now = 10.0
    assert limit.delay() == 0


def test_fractional_per_second_rate_becomes_one_send_per_interval():
    limit = RateLimit.per_second(0.5)
    assert (limit.count, limit.window) == (1, 2.0)
