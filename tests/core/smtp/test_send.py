"""Transactions against real servers: what arrives, byte for byte, and every refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postwarden.core.smtp.errors import (
    DataRefused,
    MessageTooLarge,
    RecipientsRefused,
    SenderRefused,
    SmtpUtf8Unavailable,
)
from postwarden.core.smtp.model import SendResult
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from tests.core.smtp.support import run
from tests.smtpd import RawServer, SmtpServer, scripted

SENDER = "from@example.test"
MESSAGE = b"Message-ID: <m1@example.test>\r\nSubject: hello\r\n\r\nbody\r\n"


async def _send_all(server: SmtpServer, *messages: tuple[list[str], bytes], **kwargs: object) -> list[object]:
    """Send each (recipients, data) on ONE session; a refusal is returned, not raised."""
    outcomes: list[object] = []
    async with SmtpSession(Endpoint(**server.endpoint_args())) as session:
        for recipients, data in messages:
            try:
                outcomes.append(await session.send(SENDER, recipients, data, **kwargs))  # type: ignore[arg-type]
            except Exception as exc:
                outcomes.append(exc)
    return outcomes


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize(
    ("given", "arrives"),
    [
        (b"Subject: a\r\n\r\n.starts with a dot\r\n.\r\n..two\r\n",
         b"Subject: a\r\n\r\n.starts with a dot\r\n.\r\n..two\r\n"),
        (b"Subject: lf\n\nline one\n.dot\n",
         b"Subject: lf\r\n\r\nline one\r\n.dot\r\n"),
        (b"Subject: mixed\r\n\r\nbare cr\rbare lf\n.\n",
         b"Subject: mixed\r\n\r\nbare cr\r\nbare lf\r\n.\r\n"),
        (b"Subject: no final newline\r\n\r\nlast", b"Subject: no final newline\r\n\r\nlast\r\n"),
        (b".", b".\r\n"),
    ],
)  # fmt: skip
def test_it_delivers_the_message_byte_for_byte(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool, given: bytes, arrives: bytes
) -> None:
    server = smtpd_factory(pipelining=pipelining)

    [result] = run(_send_all(server, (["to@example.test"], given)))

    assert isinstance(result, SendResult)
    assert [m.data for m in server.delivered] == [arrives]
    assert server.delivered[0].mail_options == [f"SIZE={len(arrives)}"]


def test_it_pipelines_the_envelope_in_one_write(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(scripted())
    endpoint = Endpoint("127.0.0.1", server.port, security="none", timeout=5, ehlo_name="client.test")  # type: ignore[arg-type]

    async def send() -> None:
        async with SmtpSession(endpoint) as session:
            await session.send(SENDER, ["a@example.test", "b@example.test"], MESSAGE)

    run(send())

    assert (
        b"MAIL FROM:<from@example.test>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        in server.chunks
    )
    assert MESSAGE + b".\r\n" in server.chunks


def test_it_sends_one_command_at_a_time_without_pipelining(
    raw_smtpd_factory: Callable[..., RawServer],
) -> None:
    server = raw_smtpd_factory(scripted(ehlo=("250-raw.test", "250 8BITMIME")))
    endpoint = Endpoint("127.0.0.1", server.port, security="none", timeout=5, ehlo_name="client.test")  # type: ignore[arg-type]

    async def send() -> None:
        async with SmtpSession(endpoint) as session:
            await session.send(SENDER, ["a@example.test", "b@example.test"], MESSAGE)

    run(send())

    assert server.chunks == [
        b"EHLO client.test\r\n",
        b"MAIL FROM:<from@example.test>\r\n",
        b"RCPT TO:<a@example.test>\r\n",
        b"RCPT TO:<b@example.test>\r\n",
        b"DATA\r\n",
        MESSAGE + b".\r\n",
        b"QUIT\r\n",
    ]


@pytest.mark.parametrize("pipelining", [True, False])
def test_it_delivers_to_the_rest_when_some_recipients_are_refused(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool
) -> None:
    server = smtpd_factory(pipelining=pipelining)
    server.inject("RCPT", "550 5.1.1 <gone@example.test>: Recipient address rejected: User unknown",
                  match="gone@example.test")  # fmt: skip

    [result] = run(_send_all(server, (["a@example.test", "gone@example.test", "b@example.test"], MESSAGE)))

    assert isinstance(result, SendResult)
    assert list(result.accepted) == ["a@example.test", "b@example.test"]
    assert {a: str(r) for a, r in result.refused.items()} == {
        "gone@example.test": "550 5.1.1 <gone@example.test>: Recipient address rejected: User unknown"
    }
    assert [m.rcpt_tos for m in server.delivered] == [["a@example.test", "b@example.test"]]


@pytest.mark.parametrize("pipelining", [True, False])
def test_it_reports_a_refused_recipient_at_rcpt_verbatim_and_stays_usable(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool
) -> None:
    server = smtpd_factory(pipelining=pipelining)
    server.inject("RCPT", "550 5.1.1 <x@example.test>: Recipient address rejected: User unknown in virtual "
                          "mailbox table", match="x@example.test")  # fmt: skip

    refused, delivered = run(_send_all(server, (["x@example.test"], MESSAGE), (["y@example.test"], MESSAGE)))

    assert isinstance(refused, RecipientsRefused)
    assert refused.stage is SmtpStage.RCPT
    assert {a: str(r) for a, r in refused.replies.items()} == {
        "x@example.test": "550 5.1.1 <x@example.test>: Recipient address rejected: User unknown in virtual "
        "mailbox table"
    }
    assert refused.reply is refused.replies["x@example.test"]
    assert isinstance(delivered, SendResult)
    assert [m.rcpt_tos for m in server.delivered] == [["y@example.test"]]
    assert "RSET" in server.commands


@pytest.mark.parametrize("pipelining", [True, False])
def test_it_reports_a_refused_sender_verbatim_and_stays_usable(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool
) -> None:
    server = smtpd_factory(pipelining=pipelining)
    server.inject("MAIL", "451 4.7.1 Greylisting in action, please come back later", times=1)

    refused, delivered = run(_send_all(server, (["a@example.test"], MESSAGE), (["a@example.test"], MESSAGE)))

    assert isinstance(refused, SenderRefused)
    assert (refused.stage, str(refused.reply)) == (
        SmtpStage.MAIL,
        "451 4.7.1 Greylisting in action, please come back later",
    )
    assert isinstance(delivered, SendResult)
    assert len(server.delivered) == 1


def test_it_reports_a_refused_data_command_with_the_recipients_refused_before(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    server.inject("RCPT", "550 5.1.1 no such user", match="gone@")
    server.inject("DATA_CMD", "554 5.5.1 Error: no valid recipients")

    [refused] = run(_send_all(server, (["a@example.test", "gone@example.test"], MESSAGE)))

    assert isinstance(refused, DataRefused)
    assert (refused.stage, str(refused.reply)) == (SmtpStage.DATA, "554 5.5.1 Error: no valid recipients")
    assert list(refused.refused) == ["gone@example.test"]
    assert server.messages == []


def test_it_reports_content_refused_at_the_end_of_data(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory()
    server.inject("DATA", "554 5.7.1 Message rejected as spam", match="casino")

    refused, delivered = run(
        _send_all(
            server, (["a@example.test"], b"Subject: casino\r\n\r\nwin\r\n"), (["a@example.test"], MESSAGE)
        )
    )

    assert isinstance(refused, DataRefused)
    assert str(refused.reply) == "554 5.7.1 Message rejected as spam"
    assert isinstance(delivered, SendResult)
    assert [m.accepted for m in server.messages] == [False, True]


def test_it_reports_a_421_and_closes_then_a_new_session_delivers(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    server.inject("DATA", "421 4.7.0 Try again later, closing connection", times=1)

    async def twice() -> tuple[object, bool, SendResult]:
        session = SmtpSession(Endpoint(**server.endpoint_args()))
        await session.open()
        try:
            await session.send(SENDER, ["a@example.test"], MESSAGE)
        except DataRefused as exc:
            first: object = exc
        connected = session.is_connected
        await session.quit()
        async with SmtpSession(Endpoint(**server.endpoint_args())) as again:
            return first, connected, await again.send(SENDER, ["a@example.test"], MESSAGE)

    first, connected_after_421, second = run(twice())

    assert isinstance(first, DataRefused)
    assert str(first.reply) == "421 4.7.0 Try again later, closing connection"
    assert connected_after_421 is False
    assert second.data_reply is not None
    assert [m.accepted for m in server.messages] == [False, True]


def test_it_quotes_a_421_that_cut_a_pipelined_envelope(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory()
    server.inject("MAIL", "421 4.7.0 smtpd.test Error: too many connections from 127.0.0.1")

    [refused] = run(_send_all(server, (["a@example.test"], MESSAGE)))

    assert isinstance(refused, SenderRefused)
    assert str(refused.reply) == "421 4.7.0 smtpd.test Error: too many connections from 127.0.0.1"


def test_it_refuses_a_message_over_the_advertised_size_before_sending_it(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(size_limit=1000)
    big = b"Subject: big\r\n\r\n" + b"x" * 1200 + b"\r\n"

    [refused] = run(_send_all(server, (["a@example.test"], big)))

    assert isinstance(refused, MessageTooLarge)
    assert (refused.stage, refused.limit, refused.size) == (SmtpStage.MAIL, 1000, len(big))
    assert refused.detail == f"the message is {len(big)} bytes; the server accepts at most 1000 (SIZE)"
    assert not any(c.startswith("MAIL") for c in server.commands)


def test_it_reports_the_servers_own_552_as_too_large(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(size_limit=None)
    server.inject("DATA", "552 5.3.4 Message size exceeds fixed maximum message size")

    [refused] = run(_send_all(server, (["a@example.test"], MESSAGE)))

    assert isinstance(refused, MessageTooLarge)
    assert (refused.stage, refused.limit, str(refused.reply)) == (
        SmtpStage.DATA,
        None,
        "552 5.3.4 Message size exceeds fixed maximum message size",
    )


def test_it_sends_no_size_parameter_to_a_server_without_size(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(size_limit=None)

    run(_send_all(server, (["a@example.test"], MESSAGE)))

    assert server.delivered[0].mail_options == []


def test_it_declares_8bit_content(smtpd: SmtpServer) -> None:
    data = "Subject: grüße\r\n\r\nça va\r\n".encode()

    run(_send_all(smtpd, (["a@example.test"], data)))

    assert smtpd.delivered[0].mail_options == [f"SIZE={len(data)}", "BODY=8BITMIME"]
    assert smtpd.delivered[0].data == data


def test_it_uses_smtputf8_for_an_address_that_needs_it(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(smtputf8=True)

    [result] = run(_send_all(server, (["jörg@bücher.example"], MESSAGE)))

    assert isinstance(result, SendResult)
    assert server.delivered[0].rcpt_tos == ["jörg@bücher.example"]
    assert "SMTPUTF8" in server.delivered[0].mail_options


def test_it_refuses_an_address_that_needs_smtputf8_when_not_offered(smtpd: SmtpServer) -> None:
    [refused] = run(_send_all(smtpd, (["jörg@bücher.example"], MESSAGE)))

    assert isinstance(refused, SmtpUtf8Unavailable)
    assert (refused.stage, refused.detail) == (SmtpStage.MAIL, "the server's EHLO does not list SMTPUTF8")
    assert not any(c.startswith("MAIL") for c in smtpd.commands)


def test_a_message_that_needs_smtputf8_goes_only_where_it_is_offered(
    smtpd_factory: Callable[..., SmtpServer], smtpd: SmtpServer
) -> None:
    utf8 = smtpd_factory(smtputf8=True)

    run(_send_all(utf8, (["a@example.test"], MESSAGE), smtputf8=True))
    [refused] = run(_send_all(smtpd, (["a@example.test"], MESSAGE), smtputf8=True))

    assert "SMTPUTF8" in utf8.delivered[0].mail_options
    assert isinstance(refused, SmtpUtf8Unavailable)
    assert refused.detail.startswith("the message's header fields carry UTF-8 text (RFC 6532)")
    assert not smtpd.delivered
    assert not any(c.startswith("MAIL") for c in smtpd.commands)


def test_it_returns_the_queue_id_the_server_gives(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(data_reply="250 2.0.0 Ok: queued as {queue_id}")

    [result] = run(_send_all(server, (["a@example.test"], MESSAGE)))

    assert isinstance(result, SendResult)
    assert result.queue_id is not None
    assert result.queue_id == server.delivered[0].queue_id
    assert result.data_reply is not None
    assert str(result.data_reply) == f"250 2.0.0 Ok: queued as {result.queue_id}"


def test_it_returns_no_queue_id_when_the_server_gives_none(smtpd: SmtpServer) -> None:
    [result] = run(_send_all(smtpd, (["a@example.test"], MESSAGE)))

    assert isinstance(result, SendResult)
    assert (str(result.data_reply), result.queue_id) == ("250 OK", None)


def test_it_sends_many_messages_over_one_connection(smtpd: SmtpServer) -> None:
    messages = [(["a@example.test"], b"Message-ID: <%d@example.test>\r\n\r\nbody\r\n" % i) for i in range(20)]

    outcomes = run(_send_all(smtpd, *messages))

    assert all(isinstance(o, SendResult) for o in outcomes)
    assert [m.message_id for m in smtpd.delivered] == [f"<{i}@example.test>" for i in range(20)]
    assert smtpd.connections == 1


def test_it_probes_the_envelope_without_sending_mail(smtpd: SmtpServer) -> None:
    smtpd.inject("RCPT", "550 5.1.1 unknown", match="gone@")

    async def probe() -> SendResult:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args())) as session:
            return await session.probe(SENDER, ["a@example.test", "gone@example.test"])

    result = run(probe())

    assert list(result.accepted) == ["a@example.test"]
    assert {a: str(r) for a, r in result.refused.items()} == {"gone@example.test": "550 5.1.1 unknown"}
    assert (result.data_reply, result.queue_id) == (None, None)
    assert smtpd.messages == []
    assert smtpd.commands[-2:] == ["RSET", "QUIT"]


def test_it_answers_noop_and_rset(smtpd: SmtpServer) -> None:
    async def small() -> tuple[str, str, int]:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args())) as session:
            noop, rset = await session.noop(), await session.rset()
            await session.send(SENDER, ["a@example.test"], MESSAGE)
            return str(noop), str(rset), session.messages_sent

    assert run(small()) == ("250 OK", "250 OK", 1)


@pytest.mark.parametrize("address", ["a@example.test\r\nRCPT TO:<evil@example.test>", "a>@example.test", ""])
def test_it_refuses_an_address_that_would_break_the_command(smtpd: SmtpServer, address: str) -> None:
    with pytest.raises(ValueError, match="address"):
        run(_send_all_raising(smtpd, [address]))

    assert smtpd.messages == []


async def _send_all_raising(server: SmtpServer, recipients: list[str]) -> None:
    async with SmtpSession(Endpoint(**server.endpoint_args())) as session:
        await session.send(SENDER, recipients, MESSAGE)
