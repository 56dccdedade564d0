"""Delivery throughput: the outbox and one worker against Postfix's smtp-sink.

    python -m bench.delivery [--messages 20000] [--connections 8] [--batch 500] [--profile FILE] [--json]

1. A fresh SQLite database in a temporary data directory (WAL, synchronous=FULL: the
   project's own settings), migrated.
2. ``--messages`` ~2 KB messages enqueued through ``enqueue_many`` in batches of 500
   (timed: the batch API's cost without HTTP).
3. ``smtp-sink -c -u root 127.0.0.1:PORT 1000`` (bench/smtp_client.py starts and stops it).
4. One worker in its own process (the worker's code, run as ``postwarden worker`` runs
   it: claim, send over pooled pipelining sessions, batched results, one JSON log line per
   attempt) until every recipient's result is written; it reports its wall and CPU time
   from its first claim to the write of its last result, and its peak RSS
   (``ru_maxrss``).
5. Checks: the sink counted every message, the database says every recipient is sent.

Targets (issue #18, in ``make bench``'s same round): >= 0.6 x the ``smtp-source`` ceiling
(about 15k msg/s against this machine's 25k) and >= 8 x Django's ``send_messages``; peak RSS
< 150 MB (issue #7).
Every loop is bounded by count and a deadline; the sink is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.smtp_client import counted, free_port, smtp_sink

#: the worker must be done within this (20k messages at 1k msg/s take 20 s)
WORKER_DEADLINE = 300.0
BODY_LINE = "The quick brown fox jumps over the lazy dog, again and again and again.\n"


def _django(data_dir: Path) -> None:
    os.environ["POSTWARDEN_DATA_DIR"] = str(data_dir)
    # a throwaway database: settings.py no longer generates a key (only start-up commands do)
    os.environ.setdefault("POSTWARDEN_SECRET_KEY", "bench-delivery-secret-key-0123456789abcdef")
    os.environ["DJANGO_SETTINGS_MODULE"] = "postwarden.settings"
    os.environ.setdefault("POSTWARDEN_PROCESS", "bench")
    import django

    django.setup()


def _settings(port: int, connections: int) -> Any:
    from postwarden.core.config.model import (
        DeliverySettings,
        Provider,
        Security,
        SendingSettings,
        Settings,
        SmtpSettings,
    )

    return Settings(
        sending=SendingSettings(
            provider=Provider.SMTP, from_address="noreply@example.com", from_name="Bench"
        ),
        smtp=SmtpSettings(
            host="127.0.0.1", port=port, security=Security.NONE, timeout=20, ehlo_name="bench.postwarden.test"
        ),
        delivery=DeliverySettings(smtp_connections=connections),
    )


def enqueue(count: int, port: int, connections: int) -> float:
    """Enqueue ``count`` messages; returns msgs/s."""
    from django.db import transaction

    from postwarden.outbox.submission import Outgoing, enqueue_many

    settings = _settings(port, connections)
    body = BODY_LINE * 26
    started = time.perf_counter()
    for start in range(0, count, 500):
        batch = [
            Outgoing(to=[f"user{i}@example.net"], subject=f"Benchmark {i}", text=body)
            for i in range(start, min(count, start + 500))
        ]
        with transaction.atomic():
            enqueue_many(batch, settings=settings, source="batch")
    return count / (time.perf_counter() - started)


def worker_main(port: int, connections: int, batch: int, profile: str | None) -> None:
    """In the worker process: deliver until every message's result is written; print a
    JSON report. Wall and CPU time run from the worker's first claim to the write of its
    last result (issue #7's ``delivery_msgs_s``), so the start-up (imports, the transport,
    the heartbeat) is not in the figure; the process runs as ``postwarden worker`` does."""
    import asyncio

    from postwarden.outbox.worker.loop import Worker, WorkerOptions, prepare_process, run_loop

    prepare_process()
    settings = _settings(port, connections)

    class Timed(Worker):
        """Notes the first claim and each write of results (claims write them too)."""

        first: tuple[float, float, float] | None = None
        last: tuple[float, float, float] = (0.0, 0.0, 0.0)
        recorded = 0

        async def claim_step(self, *, message_pk: int | None = None, limit: int | None = None) -> bool:
            if self.first is None:
                self.first = (time.perf_counter(), time.process_time(), os.times().system)
            writing = len(self.done)
            found = await super().claim_step(message_pk=message_pk, limit=limit)
            self._wrote(writing)
            return found

        async def flush_step(self) -> bool:
            writing = len(self.done)
            found = await super().flush_step()
            self._wrote(writing)
            return found

        def _wrote(self, count: int) -> None:
            if count:
                self.recorded += count
                self.last = (time.perf_counter(), time.process_time(), os.times().system)

    worker = Timed(
        WorkerOptions(worker_id="bench", batch_size=batch, idle_sleep=0.05),
        settings_source=lambda: settings,
    )

    async def watch(expected: int) -> None:
        deadline = time.monotonic() + WORKER_DEADLINE
        while time.monotonic() < deadline and worker.recorded < expected:
            await asyncio.sleep(0.01)
        worker.stop()

    async def main() -> None:
        expected = await worker.db(_pending)
        watcher = asyncio.create_task(watch(expected))
        await worker.run()
        await watcher

    if profile:
        import cProfile

        cProfile.runctx("run_loop(main())", globals(), {"run_loop": run_loop, "main": main}, profile)
    else:
        run_loop(main())
    assert worker.first is not None
    attempts = dict(worker.stats.attempts.get("smtp", {}))
    print(
        json.dumps(
            {
                "wall_s": worker.last[0] - worker.first[0],
                "cpu_s": worker.last[1] - worker.first[1],
                "system_cpu_s": worker.last[2] - worker.first[2],
                "recorded": worker.recorded,
                "attempts": attempts,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def _pending() -> int:
    from postwarden.outbox.models import Recipient

    return Recipient.objects.filter(state__in=("queued", "deferred", "sending")).count()


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pw-delivery-") as tmp:
        data = Path(tmp)
        _django(data)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        port = free_port()
        enqueue_rate = enqueue(args.messages, port, args.connections)
        with smtp_sink(port) as (_sink, counters):
            cmd = [
                sys.executable,
                "-m",
                "bench.delivery",
                "--worker",
                "--port",
                str(port),
                "--connections",
                str(args.connections),
                "--batch",
                str(args.batch),
            ]
            if args.profile:
                cmd += ["--profile", args.profile]
            log = data / "worker.log"
            with log.open("wb") as err:
                done = subprocess.run(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=dict(os.environ),
                    timeout=WORKER_DEADLINE + 60,
                    check=False,
                )
            if done.returncode != 0:
                raise SystemExit(f"the worker failed ({done.returncode}):\n{log.read_text()[-3000:]}")
            report = json.loads(done.stdout.decode().strip().splitlines()[-1])
            time.sleep(0.5)  # the sink writes its counter line when it is idle
            sink_count = counted(counters.read_bytes())
        from postwarden.outbox.models import Recipient

        sent = Recipient.objects.filter(state="sent").count()
        log_lines = sum(1 for line in log.open("rb") if b'"attempt sent"' in line)
    rate = args.messages / report["wall_s"]
    return {
        "messages": args.messages,
        "connections": args.connections,
        "enqueue_msgs_per_s": round(enqueue_rate),
        "worker_wall_s": round(report["wall_s"], 3),
        "worker_msgs_per_s": round(rate),
        "worker_cpu_us_per_msg": round(report["cpu_s"] / args.messages * 1e6, 1),
        "worker_system_cpu_us_per_msg": round(report["system_cpu_s"] / args.messages * 1e6, 1),
        "worker_peak_rss_mb": round(report["maxrss_mb"], 1),
        "sink_counted": sink_count,
        "db_sent": sent,
        "attempt_log_lines": log_lines,
        "ok": sink_count == args.messages == sent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch", type=int, default=500, help="recipients per claim")
    parser.add_argument("--profile", help="write a cProfile of the worker to this file")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _django(Path(os.environ["POSTWARDEN_DATA_DIR"]))
        worker_main(args.port, args.connections, args.batch, args.profile)
        return 0
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
