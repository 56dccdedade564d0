"""Endpoints from settings, the EHLO name, IPv6, and the synchronous convenience."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from postwarden.core.config.model import Security, SmtpSettings
from postwarden.core.secrets import Secret
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.sync import run_sync, send_once
from tests.core.smtp.support import run
from tests.smtpd import SmtpServer

MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


def test_it_builds_an_endpoint_from_settings() -> None:
    settings = SmtpSettings(host="smtp.example.test", port=2525, security=Security.OPPORTUNISTIC, user="ops",
                            password=Secret("pw"), timeout=7.5, ehlo_name="app.example.test",
                            verify_certificate=False)  # fmt: skip

    endpoint = Endpoint.from_settings(settings)

    assert endpoint == Endpoint("smtp.example.test", 2525, Security.OPPORTUNISTIC, "ops", Secret("pw"), 7.5,
                                "app.example.test", False)  # fmt: skip
    assert endpoint.wants_auth is True


def test_it_refuses_settings_without_a_host_as_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="SMTP_HOST is not set"):
        Endpoint.from_settings(SmtpSettings())


def test_it_introduces_itself_with_this_machines_name_by_default(smtpd: SmtpServer) -> None:
    fqdn = socket.getfqdn()
    expected = fqdn if "." in fqdn else "[127.0.0.1]"

    async def send() -> None:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args(ehlo_name=None))) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)

    run(send())

    assert smtpd.commands[0] == f"EHLO {expected}"
    assert smtpd.delivered[0].ehlo == expected


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_it_speaks_ipv6(smtpd_factory: Callable[..., SmtpServer], host: str) -> None:
    server = smtpd_factory(host="::1")

    async def send() -> SmtpSession:
        async with SmtpSession(Endpoint(**server.endpoint_args(host=host))) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session

    session = run(send())

    assert session.peer == ("::1", server.port)
    assert len(server.delivered) == 1


def test_it_records_when_it_opened_and_where_it_is_connected(smtpd: SmtpServer) -> None:
    before = time.monotonic()

    async def opened() -> tuple[float, bool, tuple[str, int] | None, bool]:
        session = SmtpSession(Endpoint(**smtpd.endpoint_args()))
        await session.open()
        connected = session.is_connected
        await session.quit()
        return session.opened_at, connected, session.peer, session.is_connected

    opened_at, connected, peer, after_quit = run(opened())

    assert before <= opened_at <= time.monotonic()
    assert (connected, peer, after_quit) == (True, ("127.0.0.1", smtpd.port), False)


def test_it_sends_once_from_synchronous_code(smtpd: SmtpServer) -> None:
    result = run_sync(
        send_once(Endpoint(**smtpd.endpoint_args()), "from@example.test", ["to@example.test"], MESSAGE)
    )

    assert str(result.data_reply) == "250 OK"
    assert [m.rcpt_tos for m in smtpd.delivered] == [["to@example.test"]]
    assert smtpd.commands[-1] == "QUIT"


def test_it_cannot_be_opened_twice(smtpd: SmtpServer) -> None:
    async def twice() -> None:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args())) as session:
            await session.open()

    with pytest.raises(RuntimeError, match="opened already"):
        run(twice())
