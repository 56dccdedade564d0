"""A bare asyncio server for what aiosmtpd cannot do, and the behaviours it can have."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

from tests.smtpd.loop import LoopThread, reply_text

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


async def _hold(reader: asyncio.StreamReader) -> None:
    """Read and ignore until the client closes (or the server stops)."""
    while await reader.read(65536):
        pass


def silent() -> Behaviour:
    """Accept the connection and never send a byte: no greeting."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await _hold(reader)

    return run


def close_at_once() -> Behaviour:
    """Close the connection right after accepting it."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        writer.close()

    return run


def banner(*lines: str, then: Behaviour | None = None) -> Behaviour:
    """Send ``lines`` (e.g. ``"421 4.7.0 Too many connections"`` or an IMAP banner), then
    behave as ``then`` (default: say nothing more). ``then=close_at_once()`` closes."""
    after = then or silent()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await writer.drain()
        await after(reader, writer, server)

    return run


def scripted(
    replies: Mapping[str, str | Sequence[str]] | None = None,
    *,
    greeting: str = "220 raw.test ESMTP",
    ehlo: Sequence[str] = ("250-raw.test", "250-PIPELINING", "250 8BITMIME"),
    delay: float = 0.0,
    greeting_delay: float = 0.0,
) -> Behaviour:
    """A minimal SMTP responder: ``replies`` by verb (``"."`` for the end of data,
    default 250), every reply after ``delay`` seconds. Records chunks in ``server.chunks``."""
    table: dict[str, str] = {"EHLO": reply_text(ehlo), "DATA": "354 go ahead", "QUIT": "221 bye"}
    table.update({k.upper(): reply_text(v) for k, v in (replies or {}).items()})

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await asyncio.sleep(greeting_delay)
        writer.write(f"{greeting}\r\n".encode())
        in_data, buffer = False, b""
        while chunk := await reader.read(65536):
            server.chunks.append(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if in_data:
                    in_data = line.rstrip(b"\r") != b"."
                    verb = "" if in_data else "."
                else:
                    verb = line.decode("utf-8", "replace").strip().split(" ")[0].upper()
                    in_data = verb == "DATA" and table["DATA"].startswith("354")
                if verb:
                    await asyncio.sleep(delay)
                    writer.write((table.get(verb, "250 ok") + "\r\n").encode())
                if verb == "QUIT":
                    writer.close()
                    return

    return run


class RawServer:
    """A bare asyncio TCP server running ``behaviour`` for each connection."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.host, self.port = host, 0
        self.chunks: list[bytes] = []
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._thread = LoopThread("raw-smtpd")
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await self.behaviour(reader, writer, self)

    def start(self) -> RawServer:
        async def listen() -> asyncio.Server:
            return await asyncio.start_server(self._serve, self.host, 0)

        self._server = self._thread.call(listen())
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in self._writers:
                writer.transport.abort()

        if not self._thread.loop.is_closed():
            with contextlib.suppress(Exception):
                self._thread.call(close())
        self._thread.stop()
