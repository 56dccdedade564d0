"""Reading and checking DATA (postwarden.relay.data) on a real asyncio StreamReader."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from postwarden.relay import data


def read(wire: bytes, *, limit: int = 10_000, reader_limit: int = 64 * 1024) -> tuple[data.Data, bytes, int]:
    """Feed ``wire`` (what follows "DATA\\r\\n") to a reader; returns what read_data made of
    it, the bytes left for the next command and how often it reported progress."""

    async def run() -> tuple[data.Data, bytes, int]:
        reader = asyncio.StreamReader(limit=reader_limit)
        reader.feed_data(wire)
        reader.feed_eof()
        calls: list[None] = []
        result = await data.read_data(reader, limit, lambda: calls.append(None))
        return result, await reader.read(), len(calls)

    return asyncio.run(run())


def test_it_reads_up_to_the_terminator_and_leaves_the_next_command() -> None:
    result, rest, _ = read(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    assert result == data.Data(b"Subject: x\r\n\r\nbody\r\n")
    assert rest == b"QUIT\r\n"


@pytest.mark.parametrize(
    ("wire", "content"),
    [
        (b".\r\n", b""),
        (b"\r\n.\r\n", b"\r\n"),
        (b"x\r\n.\r\n", b"x\r\n"),
        (b"..\r\n.\r\n", b".\r\n"),
        (b"a\r\n..b\r\n...\r\n.\r\n", b"a\r\n.b\r\n..\r\n"),
    ],
)
def test_it_handles_empty_messages_and_unstuffs_dots(wire: bytes, content: bytes) -> None:
    result, rest, _ = read(wire + b"NOOP\r\n")
    assert (result, rest) == (data.Data(content), b"NOOP\r\n")


@pytest.mark.parametrize(
    ("wire", "refusal"),
    [
        # SMTP smuggling: none of these ends the data; each makes the message refused
        (b"a\r\n\n.\nMAIL FROM:<evil@x.test>\r\n", data.BARE_LF),
        (b"a\r\n\r.\r\nRCPT TO:<evil@x.test>\r\n", data.BARE_CR),
        (b"a\n.\r\nDATA\r\n", data.BARE_LF),
        (b"a\r\n.\nQUIT\r\n", data.BARE_LF),
        (b"a bare LF\nhere\r\n", data.BARE_LF),
        (b"a bare CR\r here\r\n", data.BARE_CR),
        (b"a NUL \x00 here\r\n", data.NUL),
        (b"x" * 999 + b"\r\n", data.LONG_LINE),
    ],
)
def test_it_refuses_what_could_be_smuggled_and_ends_only_at_crlf_dot_crlf(wire: bytes, refusal: str) -> None:
    result, rest, _ = read(wire + b".\r\nNOOP\r\n")
    assert result == data.Data(None, refusal)
    assert rest == b"NOOP\r\n"


def test_it_keeps_a_line_of_998_characters_and_eight_bit_text() -> None:
    wire = b"x" * 998 + b"\r\n" + "Grüße\r\n".encode()
    result, _, _ = read(wire + b".\r\n")
    assert result == data.Data(wire)


def test_it_finds_a_terminator_that_straddles_two_reads_of_a_large_message() -> None:
    body = (b"y" * 78 + b"\r\n") * 200  # 16 000 bytes against a reader limit of 1 000
    wire = body + b".\r\nRSET\r\n"

    async def run() -> tuple[data.Data, bytes, int]:
        reader = asyncio.StreamReader(limit=1000)
        calls: list[None] = []
        reading = asyncio.create_task(data.read_data(reader, 100_000, lambda: calls.append(None)))
        # arrive in pieces of 1000 bytes: the terminator (bytes 15998-16002) is cut in two
        for start in range(0, len(wire), 1000):
            reader.feed_data(wire[start : start + 1000])
            await asyncio.sleep(0)
        reader.feed_eof()
        return await reading, await reader.read(), len(calls)

    result, rest, progress = asyncio.run(run())
    assert result == data.Data(body)
    assert rest == b"RSET\r\n"
    assert progress > 1  # the idle timer was reset while the message came in


def test_it_reads_an_over_large_message_to_its_end_without_keeping_it() -> None:
    body = b"z" * 70 + b"\r\n"
    result, rest, _ = read(body * 100 + b".\r\nNOOP\r\n", limit=1000, reader_limit=500)
    assert result == data.Data(None, data.TOO_BIG)
    assert rest == b"NOOP\r\n"


@pytest.mark.parametrize("reader_limit", [64 * 1024, 64])
def test_a_message_of_exactly_the_limit_is_kept_whole(reader_limit: int) -> None:
    message = (b"x" * 98 + b"\r\n") * 10  # 1 000 bytes
    result, rest, _ = read(message + b".\r\nNOOP\r\n", limit=1000, reader_limit=reader_limit)
    assert (result, rest) == (data.Data(message), b"NOOP\r\n")
    over, _, _ = read(message + b"x\r\n.\r\n", limit=1001, reader_limit=reader_limit)
    assert over == data.Data(None, data.TOO_BIG)


def test_an_over_large_message_is_not_held_in_memory() -> None:
    piece = b"z" * 998 + b"\r\n"

    async def run() -> data.Data:
        reader = asyncio.StreamReader(limit=4096)
        reading = asyncio.create_task(data.read_data(reader, 10_000, lambda: None))
        for _ in range(2000):  # 2 MB against a 10 kB limit, fed as a client sends it
            reader.feed_data(piece)
            await asyncio.sleep(0)
        reader.feed_data(b".\r\n")
        reader.feed_eof()
        return await reading

    tracemalloc.start()
    try:
        result = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == data.Data(None, data.TOO_BIG)
    assert peak < 500_000, peak  # a few reads' worth, never the 2 MB


def test_it_refuses_a_long_line_of_words() -> None:
    line = b"word " * 200 + b"\r\n"  # 1 000 characters, no word longer than five
    result, _, _ = read(line + b".\r\n")
    assert result == data.Data(None, data.LONG_LINE)


def test_it_counts_the_size_after_unstuffing() -> None:
    assert data.check(b"..\r\n" * 10, 30) == data.Data(b".\r\n" * 10)
    assert data.check(b"x\r\n" * 11, 30) == data.Data(None, data.TOO_BIG)


def test_it_can_put_bytes_back_into_this_pythons_stream_reader() -> None:
    # data.unread/buffered reach into StreamReader._buffer (as aiosmtpd does); this
    # fails first if a Python upgrade moves it
    async def run() -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"world")
        data.unread(reader, b"hello ")
        held = data.buffered(reader)
        return held, await reader.readexactly(11)

    assert asyncio.run(run()) == (11, b"hello world")
