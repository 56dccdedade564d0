"""Throughput of the SMTP client (core/smtp) against Postfix's smtp-sink.

    python -m bench.smtp_client [--messages 20000] [--sessions 8] [--repeats 3]
                                [--client core|many|bare|all] [--json]

Starts ``smtp-sink -c -u root 127.0.0.1:PORT 1000`` on a free loopback port (Debian's
postfix package; the daemon is never started), sends pre-built ~2 KB messages over N
concurrent reused sessions (PIPELINING, as smtp-sink offers it), and reports msgs/s and
the client's CPU µs per message (process CPU time inside the timed region, which runs
from before the first connect to after the last QUIT). Each repeat is checked against
smtp-sink's own message counter, and clients run in interleaved rounds.

Clients: ``core`` calls ``SmtpSession.send`` per message (two round trips), ``many``
hands batches to ``SmtpSession.send_many`` (one round trip a message), ``bare`` is a
bare pipelining client, the floor to compare with. Every loop is bounded by count and
by a deadline; the sink is stopped by PID whatever happens. Compare with
shared/reference/send-baselines.md (x8: a 40-line pipelining client, 16k msg/s at
61 µs/msg; aiosmtplib x8: 4.4k msg/s). The client and the sink share the 2 cores: run
it with nothing else running, or compare clients by CPU µs/msg rather than msgs/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from postwarden.core.config.model import Security
from postwarden.core.smtp.session import Endpoint, SendResult, SmtpOutgoing, SmtpSession

#: a timed run that takes longer than this is abandoned (the sink keeps 25k msg/s)
RUN_DEADLINE = 60.0
SINK_START_DEADLINE = 10.0
SENDER = "noreply@example.com"
RECIPIENT = "user@example.net"
#: messages per send_many call, as a worker claims a batch of rows
BATCH = 100


@dataclass(frozen=True)
class RunResult:
    client: str
    messages: int
    sessions: int
    wall_s: float
    msgs_per_s: float
    client_cpu_us_per_msg: float
    client_cpu_share: float
    sink_cpu_share: float
    sink_counted: int | None


def build_messages(count: int, size: int) -> list[bytes]:
    """``count`` distinct RFC 5322 messages of about ``size`` bytes, CRLF line ends."""
    head = (
        "From: Postwarden <noreply@example.com>\r\nTo: user@example.net\r\n"
        "Subject: Benchmark message {i}\r\nMessage-ID: <{i}.bench@example.com>\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
    )
    line = "The quick brown fox jumps over the lazy dog, again and again.\r\n"
    messages = []
    for i in range(count):
        text = head.format(i=i)
        body = line * max(1, (size - len(text)) // len(line))
        messages.append((text + body).encode())
    return messages


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@contextlib.contextmanager
def smtp_sink(port: int) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """smtp-sink on 127.0.0.1:port, stopped by PID on exit (wrapped in ``timeout`` too).
    Yields the process and the file its ``-c`` counters go to: a pipe nobody reads
    would fill after ~2.7k messages and stall the sink."""
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.path.exists(sink):
        raise SystemExit("smtp-sink is not installed: apt-get install postfix (see Makefile system-deps)")
    cmd = ["timeout", "900", sink, "-c", "-u", "root", f"127.0.0.1:{port}", "1000"]
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        counters = Path(tmp) / "counters.txt"
        with counters.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_listening(port)
            yield proc, counters
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + SINK_START_DEADLINE
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise SystemExit(f"smtp-sink did not listen on port {port} within {SINK_START_DEADLINE} s")


def sink_pid(proc: subprocess.Popen[bytes]) -> int:
    """The smtp-sink process under ``timeout`` (its only child)."""
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{proc.pid}/task/{proc.pid}/children") as kids:
        return int(kids.read().split()[0])
    return proc.pid


async def _session(endpoint: Endpoint, messages: list[bytes], cursor: list[int]) -> int:
    sent = 0
    async with SmtpSession(endpoint) as session:
        while cursor[0] < len(messages):
            index = cursor[0]
            cursor[0] += 1
            await session.send(SENDER, [RECIPIENT], messages[index])
            sent += 1
    return sent


async def _batched_session(endpoint: Endpoint, messages: list[bytes], cursor: list[int]) -> int:
    """As the worker would: claim a batch, hand it to send_many (one round trip a message)."""
    sent = 0
    async with SmtpSession(endpoint) as session:
        while cursor[0] < len(messages):
            start = cursor[0]
            cursor[0] = min(start + BATCH, len(messages))
            batch = [SmtpOutgoing(SENDER, [RECIPIENT], data) for data in messages[start : cursor[0]]]
            outcomes = await session.send_many(batch)
            sent += sum(1 for outcome in outcomes if isinstance(outcome, SendResult))
    return sent


async def _bare_reply(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    while line[3:4] == b"-":
        line = await reader.readline()
    return line


async def _bare_session(port: int, messages: list[bytes], cursor: list[int]) -> int:
    """The floor to compare with: a bare pipelining client on asyncio streams, with no
    error handling, no stages, no parsing beyond the reply code (as x8 in
    send-baselines.md). The gap between it and core/smtp is what our features cost."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _bare_reply(reader)
    writer.write(b"EHLO bench.postwarden.test\r\n")
    await _bare_reply(reader)
    envelope = f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RECIPIENT}>\r\nDATA\r\n".encode()
    sent = 0
    while cursor[0] < len(messages):
        index = cursor[0]
        cursor[0] += 1
        writer.write(envelope)
        for _ in range(3):
            await _bare_reply(reader)
        writer.write(messages[index] + b".\r\n")
        if not (await _bare_reply(reader)).startswith(b"250"):
            raise RuntimeError("the sink refused a message")
        sent += 1
    writer.write(b"QUIT\r\n")
    await _bare_reply(reader)
    writer.close()
    return sent


async def _run(port: int, messages: list[bytes], sessions: int, client: str = "core") -> int:
    endpoint = Endpoint("127.0.0.1", port, Security.NONE, ehlo_name="bench.postwarden.test", timeout=10)
    cursor = [0]
    if client == "core":
        jobs = [_session(endpoint, messages, cursor) for _ in range(sessions)]
    elif client == "many":
        jobs = [_batched_session(endpoint, messages, cursor) for _ in range(sessions)]
    else:
        jobs = [_bare_session(port, messages, cursor) for _ in range(sessions)]
    counts = await asyncio.wait_for(asyncio.gather(*jobs), RUN_DEADLINE)
    return sum(counts)


def timed_run(
    port: int, pid: int, messages: list[bytes], sessions: int, client: str
) -> tuple[float, float, float, int]:
    gc.collect()
    ticks0, cpu0, t0 = cpu_ticks(pid), time.process_time(), time.perf_counter()
    sent = asyncio.run(_run(port, messages, sessions, client))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sink_cpu = (cpu_ticks(pid) - ticks0) / os.sysconf("SC_CLK_TCK")
    return wall, cpu, sink_cpu, sent


def counted(output: bytes) -> int | None:
    found = re.findall(rb"mesg=(\d+)", output)
    return int(found[-1]) if found else None


def one_run(client: str, messages: list[bytes], sessions: int) -> RunResult:
    """One timed run against a fresh smtp-sink."""
    port = free_port()
    with smtp_sink(port) as (proc, counters):
        wall, cpu, sink_cpu, sent = timed_run(port, sink_pid(proc), messages, sessions, client)
        proc.terminate()
        proc.wait(timeout=5)
        output = counters.read_bytes()
    return RunResult(
        client=client,
        messages=sent,
        sessions=sessions,
        wall_s=round(wall, 3),
        msgs_per_s=round(sent / wall),
        client_cpu_us_per_msg=round(cpu / sent * 1e6, 1),
        client_cpu_share=round(cpu / wall, 2),
        sink_cpu_share=round(sink_cpu / wall, 2),
        sink_counted=counted(output),
    )


def measure(count: int, sessions: int, repeats: int, size: int, clients: list[str]) -> list[RunResult]:
    """Interleaved rounds (round 1 of every client, then round 2 …), as send-baselines.md
    does, so a noisy neighbour on the 2 cores hurts every client alike."""
    messages = build_messages(count, size)
    return [one_run(client, messages, sessions) for _ in range(repeats) for client in clients]


def report(runs: list[RunResult], clients: list[str]) -> None:
    print("client  msgs/s   wall s  client µs/msg  client CPU  sink CPU  sink counted")
    for r in runs:
        print(
            f"{r.client:6}  {r.msgs_per_s:>6}  {r.wall_s:>7}  {r.client_cpu_us_per_msg:>13}  "
            f"{r.client_cpu_share:>10}  {r.sink_cpu_share:>8}  {r.sink_counted}"
        )
    for client in clients:
        mine = [r for r in runs if r.client == client]
        rate = statistics.median(r.msgs_per_s for r in mine)
        cpu = statistics.median(r.client_cpu_us_per_msg for r in mine)
        sessions = mine[0].sessions
        print(f"median {client}: {rate:.0f} msg/s, {cpu} µs client CPU per message ({sessions} sessions)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=2048, help="approximate message size in bytes")
    parser.add_argument(
        "--client",
        choices=["core", "many", "bare", "all"],
        default="all",
        help="core: SmtpSession.send per message; many: SmtpSession.send_many in batches of "
        f"{BATCH}; bare: a bare pipelining client for comparison",
    )
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")
    args = parser.parse_args(argv)
    clients = ["core", "many", "bare"] if args.client == "all" else [args.client]
    runs = measure(args.messages, args.sessions, args.repeats, args.size, clients)
    if args.json:
        print(json.dumps([asdict(r) for r in runs], indent=2))
    else:
        report(runs, clients)
    bad = [r for r in runs if r.sink_counted is not None and r.sink_counted != r.messages]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
