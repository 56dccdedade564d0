"""Failures before and during a session, each tagged with its stage and the real words."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from postwarden.core.config.model import Security
from postwarden.core.dns import DnsClient
from postwarden.core.smtp.errors import (
    ConnectionRefused,
    ConnectTimeout,
    NoGreeting,
    ProtocolError,
    ReplyTimeout,
    ResolveError,
    ResolveTimeout,
    ServerDisconnected,
    ServiceRefused,
    SmtpError,
)
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from tests.core.smtp.support import run
from tests.dnsd import DnsTestServer
from tests.smtpd import RawServer, SmtpServer, banner, close_at_once, scripted, silent

MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


def _endpoint(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> Endpoint:
    return Endpoint(host, port, Security.NONE, timeout=timeout, ehlo_name="client.test")


async def _open(endpoint: Endpoint, **kwargs: object) -> SmtpSession:
    session = SmtpSession(endpoint, **kwargs)  # type: ignore[arg-type]
    try:
        await session.open()
    finally:
        session.abort()
    return session


def _fails(endpoint: Endpoint, error: type[SmtpError], **kwargs: object) -> tuple[SmtpError, SmtpSession]:
    session = SmtpSession(endpoint, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        run(session.open())
    assert session.is_connected is False
    assert session.steps[-1].ok is False
    assert session.steps[-1].stage is caught.value.stage
    assert session.steps[-1].detail == caught.value.detail
    return caught.value, session


def test_it_reports_nothing_listening_as_connection_refused(closed_port: int) -> None:
    error, _ = _fails(_endpoint(closed_port), ConnectionRefused)

    assert error.stage is SmtpStage.CONNECT
    assert error.detail == "Connection refused"
    assert isinstance(error, ConnectionRefusedError)


def test_it_reports_a_connect_that_hangs_as_connect_timeout(blackhole_port: int) -> None:
    error, _ = _fails(_endpoint(blackhole_port, timeout=0.3), ConnectTimeout)

    assert error.stage is SmtpStage.CONNECT
    assert error.detail == "no connection within 0.3 s"
    assert isinstance(error, TimeoutError)
    assert isinstance(error, ConnectionError)


def test_it_names_every_address_it_tried(closed_port: int) -> None:
    async def two_addresses(host: str, port: int) -> list[tuple[str, int]]:
        return [("::1", port), ("127.0.0.1", port)]

    error, session = _fails(_endpoint(closed_port, host="mail.example.test"), ConnectionRefused,
                            resolver=two_addresses)  # fmt: skip

    assert (
        error.detail == f"::1:{closed_port}: Connection refused; 127.0.0.1:{closed_port}: Connection refused"
    )
    assert session.steps[0].detail == f"::1:{closed_port}, 127.0.0.1:{closed_port}"


def test_it_resolves_through_the_resolver_it_is_given(smtpd: SmtpServer, dns_server: DnsTestServer) -> None:
    dns_server.load("mail.example.test. 300 IN A 127.0.0.1")

    async def send() -> SmtpSession:
        client = DnsClient(dns_server.address, timeout=2)
        endpoint = Endpoint(**smtpd.endpoint_args(host="mail.example.test"))
        async with SmtpSession(endpoint, resolver=client.resolve_host) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session

    session = run(send())

    assert session.peer == ("127.0.0.1", smtpd.port)
    assert dns_server.asked("mail.example.test", "A")
    assert len(smtpd.delivered) == 1


def test_it_reports_a_host_without_address_as_a_resolve_failure(dns_server: DnsTestServer) -> None:
    dns_server.load("other.example.test. 300 IN A 127.0.0.1")
    client = DnsClient(dns_server.address, timeout=2)

    error, _ = _fails(_endpoint(25, host="nowhere.example.test"), ResolveError, resolver=client.resolve_host)

    assert error.stage is SmtpStage.RESOLVE
    assert "nowhere.example.test" in error.detail


def test_it_reports_an_empty_answer_as_a_resolve_failure() -> None:
    async def nothing(host: str, port: int) -> list[tuple[str, int]]:
        return []

    error, _ = _fails(_endpoint(25, host="mail.example.test"), ResolveError, resolver=nothing)

    assert error.detail == "mail.example.test has no address"


def test_it_reports_the_system_resolvers_words(closed_port: int) -> None:
    async def unknown(host: str, port: int) -> list[tuple[str, int]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    error, _ = _fails(_endpoint(closed_port, host="mail.example.test"), ResolveError, resolver=unknown)

    assert error.detail == "Name or service not known"


def test_it_bounds_a_slow_resolver() -> None:
    async def slow(host: str, port: int) -> list[tuple[str, int]]:
        await asyncio.sleep(5)
        return []

    error, _ = _fails(_endpoint(25, host="mail.example.test", timeout=0.2), ResolveTimeout, resolver=slow)

    assert isinstance(error, TimeoutError)


def test_it_reports_a_silent_server_as_no_greeting(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(silent())

    error, _ = _fails(_endpoint(server.port, timeout=0.3), NoGreeting)

    assert (error.stage, error.detail) == (SmtpStage.GREETING, "no reply within 0.3 s")


@pytest.mark.parametrize(
    "greeting",
    ["421 4.7.0 mx.example.test Error: too many connections from 127.0.0.1",
     "554 5.7.1 mx.example.test ESMTP not accepting messages"],
)  # fmt: skip
def test_it_reports_a_refusing_greeting_verbatim(
    raw_smtpd_factory: Callable[..., RawServer], greeting: str
) -> None:
    server = raw_smtpd_factory(banner(greeting, then=close_at_once()))

    error, _ = _fails(_endpoint(server.port), ServiceRefused)

    assert error.stage is SmtpStage.GREETING
    assert str(error.reply) == greeting


def test_it_reports_a_close_at_once_as_service_refused(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(close_at_once())

    error, _ = _fails(_endpoint(server.port), ServiceRefused)

    assert error.detail == "closed without a greeting (the server closed the connection)"
    assert error.reply is None


def test_it_reports_an_imap_banner_as_not_smtp(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    imap = (
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS] Dovecot ready."
    )
    server = raw_smtpd_factory(banner(imap))

    error, _ = _fails(_endpoint(server.port), ProtocolError)

    assert (error.stage, error.detail) == (SmtpStage.GREETING, imap)
    assert str(error) == f"greeting: the server does not speak SMTP here: {imap}"


def test_it_reports_garbage_after_the_greeting_at_its_stage(
    raw_smtpd_factory: Callable[..., RawServer],
) -> None:
    server = raw_smtpd_factory(scripted({"EHLO": "HTTP/1.1 400 Bad Request"}))

    error, _ = _fails(_endpoint(server.port), ProtocolError)

    assert (error.stage, error.detail) == (SmtpStage.EHLO, "HTTP/1.1 400 Bad Request")


def test_it_falls_back_to_helo_for_an_old_server(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(
        scripted({"EHLO": "502 5.5.2 Error: command not recognized", "HELO": "250 raw.test"})
    )

    async def send() -> SmtpSession:
        async with SmtpSession(_endpoint(server.port)) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session

    session = run(send())

    assert session.extensions == {}
    assert server.chunks[:3] == [
        b"EHLO client.test\r\n",
        b"HELO client.test\r\n",
        b"MAIL FROM:<from@example.test>\r\n",
    ]


def test_it_bounds_a_slow_reply_and_names_its_stage(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(scripted(delay=3.0))

    error, _ = _fails(_endpoint(server.port, timeout=0.3), ReplyTimeout)

    assert (error.stage, error.detail) == (SmtpStage.EHLO, "no reply within 0.3 s")
    assert isinstance(error, TimeoutError)


def test_it_bounds_a_slow_reply_to_the_content_and_closes(smtpd: SmtpServer) -> None:
    smtpd.inject("DATA", "250 OK", delay=3.0)

    async def send() -> tuple[SmtpSession, SmtpError]:
        session = SmtpSession(Endpoint(**smtpd.endpoint_args(timeout=0.3)))
        await session.open()
        with pytest.raises(ReplyTimeout) as caught:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session, caught.value

    session, error = run(send())

    assert (error.stage, error.detail) == (SmtpStage.DATA, "no reply within 0.3 s")
    assert session.is_connected is False


@pytest.mark.parametrize("command", ["MAIL", "DATA"])
def test_it_reports_a_hang_up_mid_session_as_disconnected(smtpd: SmtpServer, command: str) -> None:
    smtpd.inject(command, None, close=True)

    async def send() -> tuple[SmtpSession, SmtpError]:
        session = SmtpSession(Endpoint(**smtpd.endpoint_args()))
        await session.open()
        with pytest.raises(ServerDisconnected) as caught:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session, caught.value

    session, error = run(send())

    assert error.stage is SmtpStage[command]
    assert error.detail == "the server closed the connection"
    assert isinstance(error, ConnectionError)
    assert session.is_connected is False


def test_it_refuses_replies_smuggled_before_the_tls_handshake(
    raw_smtpd_factory: Callable[..., RawServer],
) -> None:
    ehlo = ("250-raw.test", "250 STARTTLS")
    server = raw_smtpd_factory(
        scripted({"STARTTLS": ["220 2.0.0 Ready to start TLS", "250 2.1.0 Ok"]}, ehlo=ehlo)
    )
    endpoint = Endpoint("127.0.0.1", server.port, Security.STARTTLS, timeout=2, ehlo_name="client.test")

    error, _ = _fails(endpoint, ProtocolError)

    assert (error.stage, error.detail) == (
        SmtpStage.STARTTLS,
        "the server sent data after its 220 to STARTTLS",
    )


def test_it_refuses_to_send_on_a_closed_session(smtpd: SmtpServer) -> None:
    async def send() -> SmtpError:
        session = SmtpSession(Endpoint(**smtpd.endpoint_args()))
        await session.open()
        await session.quit()
        with pytest.raises(ServerDisconnected) as caught:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return caught.value

    assert run(send()).detail == "the session is not connected"
