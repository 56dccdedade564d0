"""The anchors Postwarden is compared with (issue #7, send-baselines.md), each into a fresh
Postfix ``smtp-sink`` whose own counter must equal the messages sent:

* ``ceiling``: Postfix's ``smtp-source -d -s 8`` (C, 8 reused sessions), 1900-byte
  payloads (~2035 B on the wire);
* ``naive``: Python building each mail with ``email.message.EmailMessage`` and opening a
  new ``smtplib`` connection per mail;
* ``django``: Django's SMTP ``EmailBackend.send_messages`` over one connection, in
  chunks of 500 (the ``EmailMessage`` objects are built before the timer; Django renders
  them inside ``send_messages``, so that is timed).

The Python anchors run in a fresh process each (``python -m bench.anchors naive|django
--port P --n N``), timed from before the first connect to after the last QUIT; they print
one JSON line. Every loop is bounded by count and by a deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from bench.delivery import BODY_LINE
from bench.procs import cpu_seconds
from bench.smtp_client import counted, free_port, sink_pid, smtp_sink

SENDER, DOMAIN = "noreply@example.com", "example.com"
#: Django's chunk per send_messages call (send-baselines.md: 10 chunks of 500)
CHUNK = 500


def deadline_for(count: int) -> float:
    """Seconds a run of ``count`` messages may take (the slowest anchor does ~700 msg/s)."""
    return 60.0 + count / 100


def _sink_run(argv: list[str], count: int, port: int, *, quiet: bool = False) -> dict[str, Any]:
    """Run ``argv`` against a fresh smtp-sink on ``port``; the wall time, the sink's count
    and CPU share, and the child's JSON line if it printed one. ``quiet``: anything on the
    child's stderr is a failure (smtp-source reports refused mail only there)."""
    with smtp_sink(port) as (proc, counters):
        pid = sink_pid(proc)
        sink0, child0 = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, timeout=deadline_for(count) + 30, check=False)
        wall = time.perf_counter() - started
        sink_cpu = cpu_seconds(pid) - sink0
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or (quiet and done.stderr):
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{argv[0]} {argv[1:3]} failed ({done.returncode}):\n{output}")
        time.sleep(0.05)  # the sink writes its counter line as the last session ends
        sink_counted = counted(counters.read_bytes())
    lines = done.stdout.decode().strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    child_cpu = child.ru_utime + child.ru_stime - child0.ru_utime - child0.ru_stime
    return {"wall_s": wall, "sink_cpu_share": sink_cpu / wall, "sink_counted": sink_counted,
            "child_cpu_s": child_cpu, **report}  # fmt: skip


def ceiling(count: int) -> dict[str, Any]:
    """``smtp-source -d -s 8`` into smtp-sink, timed from its start to its exit (process
    start included, as in send-baselines.md); client CPU from the child's rusage."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    port = free_port()
    argv = [source, "-d", "-s", "8", "-m", str(count), "-l", "1900", "-f", SENDER, "-t", "user@example.net",
            f"127.0.0.1:{port}"]  # fmt: skip
    run = _sink_run(argv, count, port, quiet=True)
    return _result(count, run["wall_s"], run["child_cpu_s"], run)


def python_anchor(kind: str, count: int) -> dict[str, Any]:
    """The ``naive`` or ``django`` anchor in a fresh process."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.anchors", kind, "--port", str(port), "--n", str(count)]
    run = _sink_run(argv, count, port)
    return _result(int(run.get("sent", 0)), run["timed_s"], run["cpu_s"], run, expected=count)


def _result(
    sent: int, wall: float, cpu: float, run: dict[str, Any], expected: int | None = None
) -> dict[str, Any]:
    expected = sent if expected is None else expected
    return {
        "messages": expected,
        "sent": sent,
        "seconds": round(wall, 4),
        "msgs_s": round(sent / wall, 1),
        "client_cpu_us_per_msg": round(cpu / max(1, sent) * 1e6, 1),
        "sink_cpu_share": round(run["sink_cpu_share"], 2),
        "sink_counted": run["sink_counted"],
        "ok": run["sink_counted"] == expected == sent,
    }


def _naive(port: int, count: int, stop_at: float) -> int:
    body = BODY_LINE * 26
    sent = 0
    for i in range(count):
        if time.monotonic() > stop_at:
            break
        msg = EmailMessage()
        msg["From"] = f"Bench <{SENDER}>"
        msg["To"] = f"user{i}@example.net"
        msg["Subject"] = f"Benchmark {i}"
        msg["Date"] = formatdate()
        msg["Message-ID"] = make_msgid(domain=DOMAIN)
        msg.set_content(body)
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.example", timeout=20) as smtp:
            smtp.send_message(msg)
        sent += 1
    return sent


def _django_messages(port: int, count: int) -> tuple[Any, list[Any]]:
    from django.conf import settings

    settings.configure(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=20,
        DEFAULT_FROM_EMAIL=f"Bench <{SENDER}>",
    )
    import django

    django.setup()
    from django.core.mail import EmailMessage as DjangoMessage
    from django.core.mail import get_connection

    body = BODY_LINE * 26
    messages = [DjangoMessage(f"Benchmark {i}", body, None, [f"user{i}@example.net"]) for i in range(count)]
    return get_connection(), messages


def _django(backend: Any, messages: list[Any], stop_at: float) -> int:
    sent = 0
    backend.open()
    try:
        for start in range(0, len(messages), CHUNK):
            if time.monotonic() > stop_at:
                break
            sent += backend.send_messages(messages[start : start + CHUNK]) or 0
    finally:
        backend.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchors", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["naive", "django"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    prepared = _django_messages(args.port, args.n) if args.kind == "django" else None
    stop_at = time.monotonic() + deadline_for(args.n)
    cpu0, started = time.process_time(), time.perf_counter()
    sent = _django(*prepared, stop_at) if prepared is not None else _naive(args.port, args.n, stop_at)
    timed, cpu = time.perf_counter() - started, time.process_time() - cpu0
    print(json.dumps({"sent": sent, "timed_s": timed, "cpu_s": cpu}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
