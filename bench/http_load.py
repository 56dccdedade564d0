"""A lean HTTP/1.1 load client for the Messages API: asyncio streams, one keep-alive
connection per simulated client, requests prepared before the timer.

Why not httpx: the client shares the machine's 2 cores with the server it measures, and
a full client library spends several times the CPU per request of these few lines, which
only need ``POST`` with a ``Content-Length`` body and a response framed by
``Content-Length`` or ``chunked`` (RFC 9112 §6). The client's own CPU time is reported
with every load so a reader can judge what it took from the server.

Every load is bounded by its request count and by a deadline (no new request after it;
the whole load is abandoned 30 s later).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

from bench.procs import cpu_seconds

#: seconds past the deadline after which requests in flight are abandoned
GRACE = 30.0


@dataclass
class Load:
    """What one load did: requests answered, messages accepted, each latency (ms)."""

    requests: int = 0
    accepted: int = 0
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[98] if len(self.latencies_ms) > 1 else 0.0


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self._head = (
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        ).encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        writer.write(
            b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
            % (path.encode(), self._head, len(body), body)
        )
        status, headers = await _head(reader)
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            payload = await _chunked(reader)
        else:
            payload = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            await writer.wait_closed()


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readline()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readline()
    while await reader.readline() not in (b"\r\n", b"\n", b""):
        pass  # trailer fields
    return b"".join(parts)


async def _client(
    conn: Connection, path: str, bodies: list[bytes], cursor: list[int], stop_at: float, load: Load
) -> None:
    try:
        while cursor[0] < len(bodies) and time.monotonic() < stop_at:
            body = bodies[cursor[0]]
            cursor[0] += 1
            started = time.perf_counter()
            status, payload = await conn.post(path, body)
            load.latencies_ms.append((time.perf_counter() - started) * 1000)
            load.requests += 1
            if status != 202:
                load.errors.append(f"{status}: {payload[:200]!r}")
                continue
            load.accepted += _accepted(payload)
    finally:
        await conn.close()


def _accepted(payload: bytes) -> int:
    """1 for a single message; the batch answer's ``accepted`` count."""
    answer = json.loads(payload)
    return int(answer["accepted"]) if "accepted" in answer else 1


def run(
    port: int, token: str, path: str, bodies: list[bytes], clients: int, deadline_s: float, server_pid: int
) -> Load:
    """POST ``bodies`` to ``path`` from ``clients`` concurrent connections, each taking the
    next body until none are left or ``deadline_s`` passed. Timed from before the first
    connect to the last answer; client CPU is this process's, server CPU the PID's."""
    load = Load()
    cursor = [0]

    async def main() -> None:
        stop_at = time.monotonic() + deadline_s
        jobs = [_client(Connection(port, token), path, bodies, cursor, stop_at, load) for _ in range(clients)]
        await asyncio.wait_for(asyncio.gather(*jobs), deadline_s + GRACE)

    server0, cpu0, started = cpu_seconds(server_pid), time.process_time(), time.perf_counter()
    asyncio.run(main())
    load.wall_s = time.perf_counter() - started
    load.client_cpu_s = time.process_time() - cpu0
    load.server_cpu_s = cpu_seconds(server_pid) - server0
    return load
