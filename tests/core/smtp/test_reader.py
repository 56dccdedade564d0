"""The reply reader, fed bytes as a socket would deliver them, in any chunking."""

from __future__ import annotations

import asyncio

import pytest

from postwarden.core.smtp.errors import ProtocolError, ReplyTimeout, ServerDisconnected
from postwarden.core.smtp.reader import ReplyReader
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage
from tests.core.smtp.support import run

EHLO = b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"


async def _replies(chunks: list[bytes], count: int) -> list[Reply]:
    reader = ReplyReader(asyncio.get_running_loop())
    for chunk in chunks:
        reader.data_received(chunk)
    return [await reader.next_reply(SmtpStage.EHLO, 1.0) for _ in range(count)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_it_assembles_replies_whatever_the_chunking(size: int) -> None:
    data = b"220 mx.test ESMTP\r\n" + EHLO + b"250 2.1.0 Ok\r\n"
    chunks = [data[i : i + size] for i in range(0, len(data), size)]

    greeting, ehlo, mail = run(_replies(chunks, 3))

    assert str(greeting) == "220 mx.test ESMTP"
    assert ehlo.lines == ("250-mx.test", "250-PIPELINING", "250-SIZE 1000", "250 8BITMIME")
    assert (mail.code, mail.enhanced, mail.text) == (250, "2.1.0", "Ok")


def test_it_gives_the_same_reply_from_its_cache_as_a_fresh_parse() -> None:
    line = "354 End data with <CR><LF>.<CR><LF>"

    first, second = run(_replies([line.encode() + b"\r\n" + line.encode() + b"\r\n"], 2))

    assert first == second == Reply.from_lines(354, [line])


def test_it_accepts_bare_lf_line_ends_from_sloppy_servers() -> None:
    [reply] = run(_replies([b"250 ok\n"], 1))

    assert str(reply) == "250 ok"


def test_it_reports_a_line_that_is_not_smtp() -> None:
    with pytest.raises(ProtocolError) as caught:
        run(_replies([b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"], 1))

    assert caught.value.detail == "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"


def test_it_reports_a_runaway_line() -> None:
    with pytest.raises(ProtocolError) as caught:
        run(_replies([b"250-" + b"x" * 70000], 1))

    assert caught.value.detail == "a reply line longer than 65536 bytes"


def test_it_hands_out_what_came_before_the_close_then_reports_the_close() -> None:
    async def scenario() -> tuple[Reply, ServerDisconnected]:
        reader = ReplyReader(asyncio.get_running_loop())
        reader.data_received(b"421 4.7.0 closing\r\n")
        reader.connection_lost(None)
        first = await reader.next_reply(SmtpStage.MAIL, 1.0)
        with pytest.raises(ServerDisconnected) as caught:
            await reader.next_reply(SmtpStage.RCPT, 1.0)
        return first, caught.value

    first, error = run(scenario())

    assert str(first) == "421 4.7.0 closing"
    assert (error.stage, error.detail) == (SmtpStage.RCPT, "the server closed the connection")


def test_it_bounds_each_wait_and_names_the_stage() -> None:
    async def scenario() -> ReplyTimeout:
        reader = ReplyReader(asyncio.get_running_loop())
        reader.data_received(b"250-partial\r\n")
        with pytest.raises(ReplyTimeout) as caught:
            await reader.next_reply(SmtpStage.RCPT, 0.05)
        return caught.value

    assert run(scenario()).detail == "no reply within 0.05 s"


def test_it_wakes_a_waiting_read_when_the_reply_arrives() -> None:
    async def scenario() -> Reply:
        loop = asyncio.get_running_loop()
        reader = ReplyReader(loop)
        loop.call_later(0.01, reader.data_received, b"250 later\r\n")
        return await reader.next_reply(SmtpStage.NOOP, 5.0)

    assert str(run(scenario())) == "250 later"


def test_it_reads_a_batch_and_returns_what_came_before_a_cut() -> None:
    async def scenario() -> tuple[list[Reply], object]:
        reader = ReplyReader(asyncio.get_running_loop())
        reader.data_received(b"250 2.1.0 Ok\r\n")
        reader.connection_lost(ConnectionResetError(104, "Connection reset by peer"))
        return await reader.read_many([SmtpStage.MAIL, SmtpStage.RCPT, SmtpStage.DATA], 1.0)

    replies, cut = run(scenario())

    assert [str(r) for r in replies] == ["250 2.1.0 Ok"]
    assert isinstance(cut, ServerDisconnected)
    assert (cut.stage, cut.detail) == (SmtpStage.RCPT, "Connection reset by peer")
