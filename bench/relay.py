"""SMTP relay throughput: Postfix's ``smtp-source -d -s 8`` into ``postwarden relay``.

    python -m bench.relay [--messages 20000] [--sessions 8] [--repeats 3] [--anchor] [--postfix] [--json]

1. A fresh temporary data directory with SQLite (the project's settings: WAL,
   synchronous=FULL), migrated by ``postwarden migrate``.
2. ``postwarden relay`` in its own process on a free loopback port, loopback trusted
   (smtp-source does not AUTH), MAIL_FROM in the sender's domain.
3. Each repeat: ``smtp-source -d -s SESSIONS -m N -l 1900 -f noreply@example.com -t
   user@example.net``, timed from its start to its exit; every message is answered 250
   only after its rows are committed, and afterwards the database must hold exactly N
   more messages (read from the SQLite file by another connection).
4. ``--anchor``: a bare aiosmtpd server that discards mail (send-baselines.md row fa8,
   3.2k msg/s on a quiet machine) measured interleaved with each repeat, so the figure
   can be read against what aiosmtpd itself does on the machine at that moment.
5. ``--postfix``: a private Postfix instance (tests/postfix.py: its own configuration, queue
   and log under a temporary directory, smtpd on a loopback port; never the system's
   instance) fed by the same smtp-source run, interleaved: smtpd → cleanup → an fsync'd queue
   file → the discard transport, so what is compared is acceptance with the message durable
   before its 250, as the relay does. Its count is cleanup's lines in its own log. Needs
   root (Postfix's master starts as root).

Reports the median msgs/s (``relay_msgs_s``; issue #18's target >= 3k and >= 3 x Postfix), the relay's CPU per
message (utime+stime from /proc, smtp-source runs on the other core), the group
commit's batches (from the relay's "relay stopped" log line) and the load average. Every loop is bounded by
count and deadline; every process is stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.postfix import PostfixInstance, private_postfix

from bench.smtp_client import cpu_ticks, free_port

#: one smtp-source run may take this long (20k messages at 500 msg/s: 40 s)
RUN_DEADLINE = 300.0
START_DEADLINE = 60.0
SENDER, RECIPIENT = "noreply@example.com", "user@example.net"
TICKS = os.sysconf("SC_CLK_TCK")

#: the anchor: aiosmtpd with a handler that discards, as in send-baselines.md
ANCHOR = """
import asyncio, logging, sys
from aiosmtpd.smtp import SMTP
class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main(port):
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: SMTP(Discard(), hostname="anchor", loop=loop), "127.0.0.1", port)
    print("listening", flush=True)
    await asyncio.sleep(900)
asyncio.run(main(int(sys.argv[1])))
"""


def _environment(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "EMAIL_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="postwarden.settings",
        POSTWARDEN_DATA_DIR=str(data_dir),
        POSTWARDEN_SECRET_KEY="bench-relay-secret-key-0123456789abcdef",  # noqa: S106 - a throwaway database
        POSTWARDEN_SMTP_LISTEN=f"127.0.0.1:{port}",
        POSTWARDEN_RELAY_TRUSTED_NETWORKS="127.0.0.0/8",
        MAIL_FROM=SENDER,
    )
    env.pop("DATABASE_URL", None)
    return env


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} (exit status {process.poll()})")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; SIGTERM (then SIGKILL) by PID."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _smtp_source(port: int, messages: int, sessions: int) -> float:
    """Run smtp-source; returns its wall time. Raises SystemExit when it reports errors."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not os.path.exists(source):
        raise SystemExit("smtp-source is not installed: apt-get install postfix (see Makefile system-deps)")
    argv = [
        source, "-d", "-s", str(sessions), "-m", str(messages), "-l", "1900",
        "-f", SENDER, "-t", RECIPIENT, f"127.0.0.1:{port}",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, timeout=RUN_DEADLINE, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or done.stderr:
        raise SystemExit(f"smtp-source failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return wall


def _stored(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
        return int(db.execute("SELECT count(*) FROM outbox_message").fetchone()[0])


def _timed(pid: int, port: int, messages: int, sessions: int) -> tuple[float, float]:
    """``(msgs/s, server CPU µs per message)`` of one smtp-source run into ``port``."""
    before = cpu_ticks(pid)
    wall = _smtp_source(port, messages, sessions)
    cpu = (cpu_ticks(pid) - before) / TICKS
    return messages / wall, cpu / messages * 1e6


def _stopped_line(log: Path) -> dict[str, Any]:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if '"relay stopped"' in line:
            return dict(json.loads(line))
    return {}


def _postfix_rate(instance: PostfixInstance, messages: int, sessions: int) -> float:
    """One smtp-source run into the private Postfix; msgs/s. Raises SystemExit when its log
    does not show every message accepted."""
    before = instance.accepted()
    wall = _smtp_source(instance.port, messages, sessions)
    accepted = instance.wait_accepted(before + messages) - before
    if accepted != messages:
        raise SystemExit(f"Postfix answered 250 for {messages} messages but its log shows {accepted}")
    return messages / wall


def run(
    messages: int,
    sessions: int,
    repeats: int,
    anchor: bool,
    postfix: bool = False,
    template: Path | None = None,
) -> dict[str, Any]:
    """``template``: a migrated SQLite database to start from (a copy), e.g. a long history
    (bench/growth.py); by default a fresh one."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pw-relay-bench-") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        env = _environment(data, port)
        if template is not None:
            data.mkdir()
            with contextlib.closing(sqlite3.connect(template)) as source:
                source.execute("VACUUM INTO ?", (str(data / "postwarden.sqlite3"),))
        migrated = subprocess.run(
            [sys.executable, "-m", "postwarden", "migrate"], env=env, cwd=tmp,
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip
        if migrated.returncode != 0:
            raise SystemExit(f"migrate failed: {migrated.stdout.decode()[-2000:]}{migrated.stderr.decode()}")
        relay_log, anchor_port = Path(tmp) / "relay.log", free_port()
        rates: list[float] = []
        cpus: list[float] = []
        anchors: list[float] = []
        postfix_rates: list[float] = []
        with contextlib.ExitStack() as stack:
            mta = stack.enter_context(private_postfix(free_port())) if postfix else None
            relay = stack.enter_context(
                _process([sys.executable, "-m", "postwarden", "relay"], env, relay_log, port)
            )
            sink = (
                stack.enter_context(
                    _process(
                        [sys.executable, "-c", ANCHOR, str(anchor_port)],
                        env,
                        Path(tmp) / "a.log",
                        anchor_port,
                    )
                )
                if anchor
                else None
            )
            database = data / "postwarden.sqlite3"
            for _ in range(repeats):
                before = _stored(database)
                rate, cpu = _timed(relay.pid, port, messages, sessions)
                stored = _stored(database) - before
                if stored != messages:
                    raise SystemExit(f"the relay answered 250 for {messages} messages but stored {stored}")
                rates.append(rate)
                cpus.append(cpu)
                if sink is not None:
                    anchors.append(_timed(sink.pid, anchor_port, messages, sessions)[0])
                if mta is not None:
                    postfix_rates.append(_postfix_rate(mta, messages, sessions))
        stats = _stopped_line(relay_log)
    committed, batches = int(stats.get("committed", 0)), int(stats.get("batches", 0))
    result: dict[str, Any] = {
        "messages": messages,
        "sessions": sessions,
        "relay_msgs_s": round(statistics.median(rates)),
        "relay_runs_msgs_s": [round(r) for r in rates],
        "relay_cpu_us_per_msg": round(statistics.median(cpus)),
        "mean_batch": round(committed / batches, 1) if batches else None,
        "write_ms_per_batch": round(float(stats.get("write_seconds", 0)) / batches * 1e3, 2)
        if batches
        else None,
        "stored_ok": True,
        #: 1-minute load average before the first and after the last run (others' jobs
        #: share the two cores: read the wall figures against it, the CPU ones less so)
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if anchors:
        result["aiosmtpd_discard_msgs_s"] = round(statistics.median(anchors))
        result["relay_vs_aiosmtpd"] = round(result["relay_msgs_s"] / result["aiosmtpd_discard_msgs_s"], 2)
    if postfix_rates:
        result["postfix_accept_msgs_s"] = round(statistics.median(postfix_rates))
        result["postfix_runs_msgs_s"] = [round(r) for r in postfix_rates]
        #: the ratio of each repeat, whose two runs were taken moments apart, then the median
        each = [r / p for r, p in zip(rates, postfix_rates, strict=True)]
        result["relay_vs_postfix_runs"] = [round(x, 2) for x in each]
        result["relay_vs_postfix"] = round(statistics.median(each), 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--anchor", action="store_true", help="also measure a bare aiosmtpd server, interleaved"
    )
    parser.add_argument(
        "--postfix",
        action="store_true",
        help="also measure a private Postfix instance's acceptance, interleaved",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.messages, args.sessions, args.repeats, args.anchor, args.postfix)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
