"""Malformed SMTP against a real relay, over raw sockets (issue #8 "Bad input"): bare LF
and CR, ``<LF>.<LF>`` smuggling (CVE-2023-51764 family), NUL, over-long lines, pipelining
abuse and huge DATA are refused with their code, nothing smuggled is stored or run as a
command, and the relay keeps serving."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.outbox.models import Message
from postwarden.relay import commands, data
from tests.relay.helpers import RelayThread, Wire, message, relay_settings, simple_mail

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]


def open_transaction(relay: RelayThread, recipient: str = "alice@example.net") -> Wire:
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("EHLO client.test").startswith("250-relay.test")
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
    assert wire.command(f"RCPT TO:<{recipient}>") == "250 2.1.5 Ok"
    return wire


def still_serving(relay: RelayThread) -> None:
    """A well-formed message still goes through, on a fresh connection."""
    wire = open_transaction(relay, "after@example.net")
    assert wire.command("DATA").startswith("354")
    wire.send(simple_mail("after") + b".\r\n")
    reply = wire.reply()
    assert reply.startswith("250 2.0.0 Ok: queued as m_")
    assert Message.objects.filter(public_id=message(reply)).exists()
    wire.close()


@pytest.mark.parametrize(
    ("smuggled", "refusal"),
    [
        (b"\n.\n", data.BARE_LF),
        (b"\r.\n", data.BARE_LF),  # its CR is bare too; the LF is named first
        (b"\n.\r\n", data.BARE_LF),
        (b"\r\n.\n", data.BARE_LF),
        (b"\r.\r\n", data.BARE_CR),
    ],
)
def test_it_refuses_a_smuggled_end_of_data_and_never_runs_what_follows(
    relay_factory: Factory, smuggled: bytes, refusal: str
) -> None:
    relay = relay_factory()
    wire = open_transaction(relay)
    assert wire.command("DATA").startswith("354")
    wire.send(
        b"Subject: first\r\n\r\nhello"
        + smuggled
        + b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
        + b"Subject: smuggled\r\n\r\nphish\r\n.\r\n"
    )
    assert wire.reply() == refusal  # one reply, for the whole message: nothing was a command
    assert wire.command("NOOP") == "250 OK"  # and the session is still in step
    assert Message.objects.count() == 0
    still_serving(relay)


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b"Subject: x\r\n\r\nNUL \x00 here\r\n", data.NUL),
        (b"Subject: x\r\n\r\n" + b"L" * 999 + b"\r\n", data.LONG_LINE),
        (b"Subject: x\r\n\r\nbare LF\nline\r\n", data.BARE_LF),
    ],
)
def test_it_refuses_malformed_message_text(relay_factory: Factory, body: bytes, refusal: str) -> None:
    relay = relay_factory()
    wire = open_transaction(relay)
    assert wire.command("DATA").startswith("354")
    wire.send(body + b".\r\n")
    assert wire.reply() == refusal
    assert Message.objects.count() == 0
    still_serving(relay)


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        (b"MAIL FROM:<app@example.com>\nRCPT TO:<victim@example.net>\r\n", commands.BARE_LF),
        (b"MAIL FROM:<app@example.com>\rRCPT TO:<victim@example.net>\r\n", commands.BARE_CR),
        (b"MAIL FROM:<app@example.com>\x00RCPT TO:<victim@example.net>\r\n", commands.NUL),
        (b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n", commands.NOT_SMTP),
    ],
)
def test_it_refuses_a_broken_command_line_and_closes_before_reading_more(
    relay_factory: Factory, line: bytes, refusal: str
) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("EHLO client.test").startswith("250")
    wire.send(line)
    assert wire.reply() == refusal
    assert wire.closed()  # the second half was never answered as a command
    still_serving(relay)


def test_it_refuses_an_over_long_command_line_and_stays_in_step(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    wire.send(b"NOOP " + b"x" * 600 + b"\r\n")
    assert wire.reply() == commands.TOO_LONG
    wire.send(b"NOOP " + b"y" * 100_000 + b"\r\n")  # longer than the reader's own limit
    assert wire.reply() == commands.TOO_LONG
    assert wire.command("NOOP") == "250 OK"


def test_it_refuses_message_text_sent_before_the_354(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = open_transaction(relay)
    wire.send(b"DATA\r\nSubject: early\r\n\r\ntoo soon\r\n.\r\n")
    assert wire.reply() == commands.OUT_OF_STEP.format(verb="DATA")
    assert wire.closed()
    assert Message.objects.count() == 0
    still_serving(relay)


def test_it_refuses_commands_pipelined_behind_ehlo(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    wire.send(b"EHLO client.test\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\n")
    assert wire.reply() == commands.OUT_OF_STEP.format(verb="EHLO")
    assert wire.closed()


def test_it_answers_a_pipelined_transaction_in_order_as_rfc_2920_allows(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    assert "250-PIPELINING" in wire.command("EHLO client.test")
    wire.send(
        b"MAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    )
    assert [wire.reply() for _ in range(4)] == [
        "250 2.1.0 Ok",
        "250 2.1.5 Ok",
        "250 2.1.5 Ok",
        "354 End data with <CR><LF>.<CR><LF>",
    ]
    wire.send(simple_mail("pipelined") + b".\r\nQUIT\r\n")
    stored = message(wire.reply())
    assert wire.reply() == "221 Bye"
    assert Message.objects.get(public_id=stored).recipients.count() == 2


def test_it_ignores_whatever_comes_after_quit(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("EHLO client.test").startswith("250")
    wire.send(b"QUIT\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n")
    assert wire.reply() == "221 Bye"
    assert wire.closed()


def test_it_reads_a_huge_message_to_its_end_refuses_it_and_stays_in_step(
    relay_factory: Factory, tmp_path: Path
) -> None:
    relay = relay_factory(relay_settings(tmp_path, max_message_bytes=50_000))
    wire = open_transaction(relay)
    assert "SIZE 50000" in wire.command("EHLO again.test")
    assert wire.command("MAIL FROM:<app@example.com> SIZE=50001") == data.TOO_BIG
    assert wire.command("MAIL FROM:<app@example.com> SIZE=1000") == "250 2.1.0 Ok"
    assert wire.command("RCPT TO:<alice@example.net>") == "250 2.1.5 Ok"
    assert wire.command("DATA").startswith("354")
    line = b"H" * 76 + b"\r\n"
    wire.send(b"Subject: huge\r\n\r\n" + line * 20_000 + b".\r\n")  # 1.5 MB against 50 kB
    assert wire.reply() == data.TOO_BIG
    assert wire.command("NOOP") == "250 OK"
    assert Message.objects.count() == 0
    still_serving(relay)


def test_it_disconnects_a_client_that_sends_only_unknown_commands(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    replies = [wire.command(f"XYZZY{i}") for i in range(5)]
    assert replies[:4] == [f'500 5.5.1 Error: command "XYZZY{i}" not recognized' for i in range(4)]
    assert replies[4] == "502 5.5.1 Error: too many unrecognized commands; goodbye"
    assert wire.closed()


def test_it_wants_the_transaction_in_order(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("MAIL FROM:<app@example.com>") == "503 Error: send HELO first"
    assert wire.command("EHLO client.test").startswith("250")
    assert wire.command("RCPT TO:<a@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert wire.command("DATA") == "503 5.5.1 Error: need RCPT command"
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
    assert wire.command("MAIL FROM:<app@example.com>") == "503 5.5.1 Error: nested MAIL command"
    assert wire.command("RCPT TO:<not an address>") == "553 5.1.3 Error: bad recipient address syntax"
    assert wire.command("RCPT TO:<a@example.net> NOTIFY=NEVER") == (
        "555 5.5.4 Error: RCPT parameters are not supported"
    )
    assert wire.command("RSET") == "250 OK"
    assert wire.command("MAIL FROM:<app@example.com> BODY=BINARYMIME") == (
        "501 5.5.4 Error: BODY is 7BIT or 8BITMIME"
    )


def test_it_turns_away_connections_beyond_its_limit_and_serves_the_rest(relay_factory: Factory) -> None:
    relay = relay_factory(max_connections=2)
    first, second = Wire("127.0.0.1", relay.port), Wire("127.0.0.1", relay.port)
    third = Wire("127.0.0.1", relay.port)
    assert third.greeting == "421 4.7.0 Error: too many connections; try again later"
    assert third.closed()
    assert first.command("NOOP") == second.command("NOOP") == "250 OK"
    first.command("QUIT")
    assert first.closed()
    fourth = Wire("127.0.0.1", relay.port)
    assert fourth.greeting == "220 relay.test ESMTP Postwarden"


def test_it_takes_esmtp_parameters_only_after_ehlo(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("HELO old.client.test") == "250 relay.test"
    assert wire.command("MAIL FROM:<app@example.com> SIZE=10") == (
        "501 5.5.4 Error: parameters need EHLO, not HELO"
    )
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"


def test_it_closes_quietly_when_a_client_cannot_finish_the_tls_handshake(
    relay_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    assert wire.command("STARTTLS") == "220 Ready to start TLS"
    wire.send(b"this is not a TLS ClientHello\r\n" * 4)
    assert wire.closed()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    still_serving(relay)


def test_it_refuses_a_client_that_talks_before_the_greeting(relay_factory: Factory) -> None:
    relay = relay_factory()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(b"EHLO eager.test\r\nMAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\nDATA\r\n")
        answered = b""
        while chunk := sock.recv(65536):
            answered += chunk
    assert answered.decode().split("\r\n") == [
        "220 relay.test ESMTP Postwarden",
        commands.OUT_OF_STEP.format(verb="EHLO"),
        "",
    ]
    assert Message.objects.count() == 0
