"""The shared test servers of tests/smtpd/, checked with the stdlib's smtplib (a client
that is not ours), so other suites can rely on what they promise."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable

import pytest
import trustme

from tests.smtpd import RawServer, SmtpServer, banner, close_at_once, scripted


def test_it_offers_pipelining_and_records_what_it_receives(smtpd: SmtpServer) -> None:
    with smtplib.SMTP(smtpd.host, smtpd.port, local_hostname="client.test", timeout=5) as client:
        client.ehlo()
        assert client.has_extn("pipelining")
        assert client.has_extn("size")
        assert not client.has_extn("auth")
        client.sendmail("a@example.test", ["b@example.test"], b"Message-ID: <1@example.test>\r\n\r\nhi\r\n")

    [message] = smtpd.delivered
    assert (message.mail_from, message.rcpt_tos, message.ehlo, message.tls) == (
        "a@example.test", ["b@example.test"], "client.test", False
    )  # fmt: skip
    assert (message.data, message.message_id, message.reply) == (
        b"Message-ID: <1@example.test>\r\n\r\nhi\r\n", "<1@example.test>", "250 OK"
    )  # fmt: skip
    assert smtpd.commands[:2] == ["EHLO client.test", "MAIL FROM:<a@example.test> size=36"]


def test_it_greets_and_answers_ehlo_as_told(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(
        greeting=["220-mx.google.com ESMTP a1-20020a05", "220 ready"],
        ehlo=["250-mx.google.com at your service", "250-SIZE 157286400", "250 SMTPUTF8"],
    )

    with smtplib.SMTP(server.host, server.port, timeout=5) as client:
        code, text = client.ehlo("client.test")

    assert code == 250
    assert text == b"mx.google.com at your service\nSIZE 157286400\nSMTPUTF8"


def test_it_injects_multi_line_replies_a_number_of_times(smtpd: SmtpServer) -> None:
    injection = smtpd.inject("RCPT", ["550-5.1.1 The email account that you tried to reach does not exist.",
                                      "550 5.1.1 Please try double-checking the recipient's email address"],
                             match="gone@", times=1)  # fmt: skip

    with smtplib.SMTP(smtpd.host, smtpd.port, timeout=5) as client:
        client.ehlo("client.test")
        client.mail("a@example.test")
        first = client.rcpt("gone@example.test")
        second = client.rcpt("gone@example.test")

    assert first == (550, b"5.1.1 The email account that you tried to reach does not exist.\n"
                          b"5.1.1 Please try double-checking the recipient's email address")  # fmt: skip
    assert second == (250, b"OK")
    assert injection.used == 1


def test_it_hangs_up_after_an_injected_421(smtpd: SmtpServer) -> None:
    smtpd.inject("MAIL", "421 4.7.0 Try again later")

    with smtplib.SMTP(smtpd.host, smtpd.port, timeout=5) as client:
        client.ehlo("client.test")
        assert client.mail("a@example.test") == (421, b"4.7.0 Try again later")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_it_authenticates_only_accepted_credentials_over_tls(
    smtpd_factory: Callable[..., SmtpServer], ca: trustme.CA
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": "right"}, auth_mechanisms=("LOGIN",))
    context = ssl.create_default_context()
    ca.configure_trust(context)

    with smtplib.SMTP("localhost", server.port, timeout=5) as client:
        client.ehlo("client.test")
        assert not client.has_extn("auth")  # auth_require_tls: not before STARTTLS
        client.starttls(context=context)
        client.ehlo("client.test")
        assert client.esmtp_features["auth"].split() == ["LOGIN"]
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("ops", "wrong")
        client.login("ops", "right")

    assert server.auth_attempts == [("LOGIN", "ops"), ("LOGIN", "ops")]
    assert server.sni == ["localhost"]


def test_it_serves_implicit_tls(smtpd_factory: Callable[..., SmtpServer], ca: trustme.CA) -> None:
    server = smtpd_factory(tls="implicit")
    context = ssl.create_default_context()
    ca.configure_trust(context)

    with smtplib.SMTP_SSL("localhost", server.port, context=context, timeout=5) as client:
        client.ehlo("client.test")
        client.sendmail("a@example.test", ["b@example.test"], b"\r\nhi\r\n")

    assert [m.tls for m in server.delivered] == [True]


def test_it_stops_listening_at_teardown(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory()

    server.stop()

    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((server.host, server.port), timeout=2),
    ):
        pass


def test_the_raw_server_greets_refuses_and_records(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    refusing = raw_smtpd_factory(banner("554 5.7.1 No SMTP service here", then=close_at_once()))
    talking = raw_smtpd_factory(scripted({"MAIL": "451 4.3.0 try later"}))

    with pytest.raises(smtplib.SMTPConnectError) as caught:
        smtplib.SMTP(refusing.host, refusing.port, timeout=5)
    with smtplib.SMTP(talking.host, talking.port, timeout=5) as client:
        client.ehlo("client.test")
        assert client.mail("a@example.test") == (451, b"4.3.0 try later")

    assert caught.value.smtp_code == 554
    assert talking.chunks[:2] == [b"ehlo client.test\r\n", b"mail FROM:<a@example.test>\r\n"]
    assert (refusing.connections, talking.connections) == (1, 1)
