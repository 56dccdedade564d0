"""The message text of DATA: read it in one piece, refuse what could be smuggled.

aiosmtpd 1.4.6 reads DATA a line at a time (37 reads for a 2 KB mail) and keeps bare
LF, bare CR and NUL in the content it accepts. Since 1.4.5 it no longer ends the data at
``<LF>.<LF>`` (CVE-2024-27305), but a message that carries such a sequence is still
passed on, and the next server in line may read it differently: that difference is what
SMTP smuggling (CVE-2023-51764, -51765, -51766) exploits. So here:

* the data ends only at ``<CRLF>.<CRLF>`` (RFC 5321 4.1.1.4), searched for in the
  stream's buffer in C (one ``readuntil`` per message, or per 64 KiB of a large one);
* a message with a bare LF, a bare CR or a NUL anywhere is refused whole (RFC 5321
  2.3.8: lines end with CRLF and nothing else; RFC 6152: no NUL even with 8BITMIME), so
  ``<LF>.<LF>``, ``<CR>.<LF>`` and ``<LF>.<CRLF>`` are neither an end nor a way in;
* a line over 998 octets (RFC 5322 2.1.1; RFC 5321 4.5.3.1.6) is refused;
* a message over the size limit is read to its end without being kept, then refused
  with 552 5.3.4 (RFC 5321 4.2.5: answer after the end of data), so the session stays
  in step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

TERMINATOR: Final = b"\r\n.\r\n"
#: RFC 5322 2.1.1: 998 characters, excluding the CRLF
MAX_LINE: Final = 998

TOO_BIG: Final = "552 5.3.4 Error: message size exceeds fixed maximum message size"
BARE_LF: Final = "550 5.6.0 Error: bare <LF> in the message; lines must end with <CR><LF> (RFC 5321 2.3.8)"
BARE_CR: Final = "550 5.6.0 Error: bare <CR> in the message; lines must end with <CR><LF> (RFC 5321 2.3.8)"
NUL: Final = "550 5.6.0 Error: NUL character in the message"
LONG_LINE: Final = "550 5.6.0 Error: a line of the message is longer than 998 characters (RFC 5322 2.1.1)"


@dataclass(frozen=True, slots=True)
class Data:
    """What DATA brought: the message (dot-unstuffed) or the refusal to answer with."""

    content: bytes | None
    refusal: str | None = None


def unread(reader: asyncio.StreamReader, data: bytes) -> None:
    """Put ``data`` back in front of what ``reader`` holds.

    The CRLF that ended the DATA command line also begins the terminator, so putting it
    back lets one search find ``<CRLF>.<CRLF>`` even when the message is empty. asyncio
    offers no unread, and aiosmtpd itself reaches into ``_buffer`` (it clears it after
    STARTTLS); tests/relay/test_data.py pins this against the installed Python."""
    buffer: bytearray = reader._buffer  # type: ignore[attr-defined]
    buffer[:0] = data


def buffered(reader: asyncio.StreamReader) -> int:
    """How many bytes ``reader`` holds that were not read yet (see :func:`unread`)."""
    return len(reader._buffer)  # type: ignore[attr-defined]


async def read_data(reader: asyncio.StreamReader, limit: int, progress: Callable[[], None]) -> Data:
    """Read up to and including ``<CRLF>.<CRLF>``; check and unstuff the text.

    ``limit`` is the largest message in bytes; ``progress`` is called for every chunk of
    a large message (it resets the idle timeout). Raises what the reader raises when the
    connection goes away (IncompleteReadError, CancelledError)."""
    unread(reader, b"\r\n")
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await reader.readuntil(TERMINATOR)
            last = True
        except asyncio.LimitOverrunError as overrun:
            # no terminator in the first `limit` bytes held: take them (the last four
            # stay, in case the terminator straddles) and keep reading
            chunk = await reader.read(overrun.consumed)
            last = False
            progress()
        size += len(chunk)
        if size <= limit + len(TERMINATOR) + 2:
            parts.append(chunk)
        else:
            parts.clear()
        if last:
            break
    if size > limit + len(TERMINATOR) + 2:
        return Data(None, TOO_BIG)
    wire = b"".join(parts)[2:-3]
    return check(wire, limit)


def check(wire: bytes, limit: int) -> Data:
    """Refuse or unstuff the text between the DATA line and the terminator (each line
    with its CRLF). Pure; the order names the most telling problem first."""
    crlf = wire.count(b"\r\n")
    if wire.count(b"\n") != crlf:
        return Data(None, BARE_LF)
    if wire.count(b"\r") != crlf:
        return Data(None, BARE_CR)
    if b"\x00" in wire:
        return Data(None, NUL)
    content = unstuff(wire)
    if len(content) > limit:
        return Data(None, TOO_BIG)
    if len(content) > MAX_LINE and max(map(len, content.split(b"\r\n"))) > MAX_LINE:
        return Data(None, LONG_LINE)
    return Data(content)


def unstuff(wire: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with a period loses that period."""
    if wire.startswith(b"."):
        wire = wire[1:]
    if b"\r\n." in wire:
        wire = wire.replace(b"\r\n.", b"\r\n")
    return wire
