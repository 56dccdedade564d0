"""send_many: each message's envelope rides with the previous message's content, and
each message still gets its own outcome."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postwarden.core.smtp.errors import (
    DataRefused,
    MessageTooLarge,
    RecipientsRefused,
    SenderRefused,
    ServerDisconnected,
)
from postwarden.core.smtp.model import SendResult, SmtpOutgoing
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.transcript import Transcript
from tests.core.smtp.support import run
from tests.smtpd import RawServer, SmtpServer, scripted


def _message(i: int, *recipients: str) -> SmtpOutgoing:
    data = b"Message-ID: <%d@example.test>\r\nSubject: n%d\r\n\r\n.dot line %d\r\n" % (i, i, i)
    return SmtpOutgoing("from@example.test", recipients or ("a@example.test",), data)


async def _send_many(endpoint: Endpoint, messages: list[SmtpOutgoing], **kwargs: object) -> list[object]:
    async with SmtpSession(endpoint, **kwargs) as session:  # type: ignore[arg-type]
        return list(await session.send_many(messages))


@pytest.mark.parametrize("pipelining", [True, False])
def test_it_delivers_every_message_in_order_byte_for_byte(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool
) -> None:
    server = smtpd_factory(pipelining=pipelining, data_reply="250 2.0.0 Ok: queued as {queue_id}")
    messages = [_message(i) for i in range(5)]

    outcomes = run(_send_many(Endpoint(**server.endpoint_args()), messages))

    assert all(isinstance(o, SendResult) for o in outcomes)
    assert [o.queue_id for o in outcomes] == [m.queue_id for m in server.delivered]  # type: ignore[union-attr]
    assert [m.data for m in server.delivered] == [m.data for m in messages]
    assert server.connections == 1


def test_it_sends_each_content_with_the_next_envelope(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(scripted())
    endpoint = Endpoint("127.0.0.1", server.port, "none", timeout=5, ehlo_name="client.test")  # type: ignore[arg-type]
    first, second = _message(1), _message(2)

    run(_send_many(endpoint, [first, second]))

    envelope = b"MAIL FROM:<from@example.test>\r\nRCPT TO:<a@example.test>\r\nDATA\r\n"
    assert server.chunks[1:4] == [
        envelope,
        first.data.replace(b"\r\n.dot", b"\r\n..dot") + b".\r\n" + envelope,
        second.data.replace(b"\r\n.dot", b"\r\n..dot") + b".\r\n",
    ]


@pytest.mark.parametrize("pipelining", [True, False])
def test_it_gives_each_message_its_own_refusal(
    smtpd_factory: Callable[..., SmtpServer], pipelining: bool
) -> None:
    server = smtpd_factory(pipelining=pipelining, size_limit=200)
    server.inject("RCPT", "550 5.1.1 <gone@example.test>: User unknown", match="gone@")
    server.inject("MAIL", "553 5.7.1 Sender address rejected: not owned by user", times=1, match="SIZE=9")
    server.inject("DATA", "554 5.7.1 Message rejected as spam", match="Subject: n4")
    big = SmtpOutgoing("from@example.test", ["a@example.test"], b"Subject: big\r\n\r\n" + b"x" * 300)
    sender_refused = SmtpOutgoing("from@example.test", ["a@example.test"], b"\r\nshort\r\n")
    messages = [_message(0), _message(1, "gone@example.test"), big, sender_refused, _message(4),
                _message(5, "a@example.test", "gone@example.test"), _message(6)]  # fmt: skip

    outcomes = run(_send_many(Endpoint(**server.endpoint_args()), messages))

    assert [type(o).__name__ for o in outcomes] == [
        "SendResult", "RecipientsRefused", "MessageTooLarge", "SenderRefused", "DataRefused", "SendResult",
        "SendResult",
    ]  # fmt: skip
    assert isinstance(outcomes[1], RecipientsRefused)
    assert str(outcomes[1].replies["gone@example.test"]) == "550 5.1.1 <gone@example.test>: User unknown"
    assert isinstance(outcomes[2], MessageTooLarge)
    assert isinstance(outcomes[3], SenderRefused)
    assert str(outcomes[3].reply) == "553 5.7.1 Sender address rejected: not owned by user"
    assert isinstance(outcomes[4], DataRefused)
    assert str(outcomes[4].reply) == "554 5.7.1 Message rejected as spam"
    assert isinstance(outcomes[5], SendResult)
    assert list(outcomes[5].refused) == ["gone@example.test"]
    assert [m.data for m in server.delivered] == [messages[0].data, messages[5].data, messages[6].data]
    assert [m.rcpt_tos for m in server.delivered][1] == ["a@example.test"]


def test_it_reports_the_messages_after_a_421_as_not_delivered(smtpd: SmtpServer) -> None:
    smtpd.inject("DATA", "421 4.7.0 Too many messages, closing connection", match="Subject: n1")
    messages = [_message(i) for i in range(4)]

    outcomes = run(_send_many(Endpoint(**smtpd.endpoint_args()), messages))

    assert isinstance(outcomes[0], SendResult)
    assert isinstance(outcomes[1], DataRefused)
    assert str(outcomes[1].reply) == "421 4.7.0 Too many messages, closing connection"
    assert all(isinstance(o, ServerDisconnected) for o in outcomes[2:])
    assert [m.data for m in smtpd.delivered] == [messages[0].data]


def test_it_refuses_a_bad_address_before_sending_anything(smtpd: SmtpServer) -> None:
    messages = [_message(0), SmtpOutgoing("from@example.test", ["evil@example.test>\r\nRSET"], b"x")]

    with pytest.raises(ValueError, match="address"):
        run(_send_many(Endpoint(**smtpd.endpoint_args()), messages))

    assert smtpd.messages == []


def test_it_writes_the_transcript_in_wire_order(smtpd: SmtpServer) -> None:
    transcript = Transcript()

    run(_send_many(Endpoint(**smtpd.endpoint_args()), [_message(1), _message(2)], transcript=transcript))

    lines = str(transcript).splitlines()
    at = lines.index("C: MAIL FROM:<from@example.test> SIZE=58")
    assert lines[at : at + 11] == [
        "C: MAIL FROM:<from@example.test> SIZE=58",
        "C: RCPT TO:<a@example.test>",
        "C: DATA",
        "S: 250 OK",
        "S: 250 OK",
        "S: 354 End data with <CR><LF>.<CR><LF>",
        "C: [58 bytes of message content]",
        "C: .",
        "C: MAIL FROM:<from@example.test> SIZE=58",
        "C: RCPT TO:<a@example.test>",
        "C: DATA",
    ]


def _from(i: int) -> SmtpOutgoing:
    return SmtpOutgoing(f"from{i}@example.test", ["a@example.test"], b"Subject: n%d\r\n\r\nbody\r\n" % i)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [("421 4.7.0 Closing: too many connections", SenderRefused), (None, ServerDisconnected)],
)
def test_it_keeps_the_message_before_a_hang_up_and_reports_the_rest(
    smtpd: SmtpServer, reply: str | None, expected: type[Exception]
) -> None:
    smtpd.inject("MAIL", reply, match="from2@", close=True)
    messages = [_from(i) for i in range(5)]

    outcomes = run(_send_many(Endpoint(**smtpd.endpoint_args()), messages))

    assert [type(o) for o in outcomes[:2]] == [SendResult, SendResult]
    assert type(outcomes[2]) is expected
    assert all(isinstance(o, ServerDisconnected) for o in outcomes[3:])
    assert [m.mail_from for m in smtpd.delivered] == ["from0@example.test", "from1@example.test"]
