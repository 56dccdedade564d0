"""Postwarden's figures of issue #7, each on a fresh installation (bench/stack.py) with
its own smtp-sink, every server stopped by PID when the measurement ends:

* :func:`delivery` — ``n`` messages already enqueued; ``workers`` ``postwarden worker``
  processes, started and ready (heartbeat written) before the messages are released; from
  the first claim (the earliest ``Attempt.started_at``) to the moment the outbox shows no
  recipient queued or sending (polled every 20 ms from outside: the last result is then
  committed, so durable). Checks: the sink counted ``n``, the database holds ``n``
  recipients ``sent``.
* :func:`end_to_end` — the same, but the messages arrive through ``POST
  /api/v1/messages/batch`` (8 clients, 500 a batch) while the worker delivers; from
  before the first request to the last result recorded.
* :func:`api` — the web process alone: batches (8 clients × 500 messages), then single
  messages (16 clients, bounded by count and time); latencies per request.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench import http_load
from bench.delivery import BODY_LINE
from bench.procs import Processes, cpu_seconds, peak_rss_mb, server_cpu_seconds, tail
from bench.smtp_client import counted, free_port, sink_pid, smtp_sink
from bench.stack import Outbox, Stack, api_key, new_stack, seed, start_web, start_workers

POLL_S = 0.02
BATCH = 500
BATCH_CLIENTS, SINGLE_CLIENTS = 8, 16


def deadline_for(count: int) -> float:
    """Seconds a delivery of ``count`` may take (at 200 msg/s, ten times too slow)."""
    return 60.0 + count / 200


def wait_delivered(outbox: Outbox, count: int, stop_at: float) -> float:
    """Poll until nothing is queued or being sent; the epoch time it was first seen.
    Raises TimeoutError at ``stop_at`` (monotonic)."""
    while outbox.busy():
        if time.monotonic() > stop_at:
            raise TimeoutError(f"{outbox.busy()} of {count} recipients still queued or sending")
        time.sleep(POLL_S)
    return time.time()


def _bodies(count: int, per_request: int, first: int = 0) -> list[bytes]:
    text = BODY_LINE * 26

    def message(i: int) -> dict[str, Any]:
        return {"to": [f"user{i}@example.net"], "subject": f"Benchmark {i}", "text": text}

    if per_request == 1:
        return [json.dumps(message(first + i)).encode() for i in range(count)]
    return [
        json.dumps({"messages": [message(i) for i in range(s, min(count, s + per_request))]}).encode()
        for s in range(first, first + count, per_request)
    ]


def _finish(
    stack: Stack, procs: Processes, workers: list[Any], counters: Path, count: int, started: float, end: float
) -> dict[str, Any]:
    """After delivery: peak memory, stop the workers, then read the counts."""
    rss = [round(peak_rss_mb(w.pid), 1) for w in workers]
    statuses = [procs.stop(w) for w in workers]
    if any(statuses):
        raise RuntimeError(f"a worker exited with {statuses}:\n{tail(stack.log('worker0'))}")
    time.sleep(0.05)  # the sink writes its counter line as the last session ends
    sink_counted, sent = counted(counters.read_bytes()), stack.outbox.sent()
    last_finished = stack.outbox.window()[1]
    seconds = end - started
    return {
        "messages": count,
        "seconds": round(seconds, 4),
        "msgs_s": round(count / seconds, 1),
        "last_finished_s": round(last_finished - started, 4),
        "worker_rss_mb": rss,
        "bytes_per_msg": round(stack.outbox.mean_size()),
        "sink_counted": sink_counted,
        "db_sent": sent,
        "ok": sink_counted == count == sent,
    }


def delivery(
    directory: Path, count: int, workers: int, *, server_pid: int | None = None, **database: Any
) -> dict[str, Any]:
    """``count`` enqueued messages delivered by ``workers`` workers; ``database``:
    ``sqlite_template=`` or ``database_url=`` (bench/stack.py ``new_stack``). ``server_pid``:
    the database server's (PostgreSQL's postmaster), whose CPU over the same window is
    reported per message beside the workers', less what its backend serving this
    benchmark's own connection (:class:`Outbox`: the release, the polls every 20 ms)
    spent."""
    port = free_port()
    with Processes() as procs, smtp_sink(port) as (sink, counters):
        stack = new_stack(directory, port, **database)
        try:
            enqueue_rate = seed(stack, count, hold=True)
            running = start_workers(procs, stack, workers)
            pids = [w.pid for w in running]
            cpu0, sink0 = [cpu_seconds(p) for p in pids], cpu_seconds(sink_pid(sink))
            # the benchmark's own connection (the release, the polls) is served by a backend
            # of the same server: its CPU is the measurement's, not Postwarden's
            own = stack.outbox.server_process()
            server0 = _server_cpu(server_pid, own) if server_pid else 0.0
            stack.outbox.release()
            end = wait_delivered(stack.outbox, count, time.monotonic() + deadline_for(count))
            cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu0)
            server_cpu = _server_cpu(server_pid, own) - server0 if server_pid else None
            sink_cpu = cpu_seconds(sink_pid(sink)) - sink0
            first_claim = stack.outbox.window()[0]
            result = _finish(stack, procs, running, counters, count, first_claim, end)
        finally:
            stack.outbox.close()
    result.update(
        workers=workers,
        worker_cpu_us_per_msg=round(cpu / count * 1e6, 1),
        sink_cpu_share=round(sink_cpu / result["seconds"], 2),
        seed_msgs_s=round(enqueue_rate),
    )
    if server_cpu is not None:
        result["server_cpu_us_per_msg"] = round(server_cpu / count * 1e6, 1)
    return result


def _server_cpu(server_pid: int, own: int | None) -> float:
    """The server's CPU seconds so far, less its process serving the benchmark (``own``)."""
    return server_cpu_seconds(server_pid) - (cpu_seconds(own) if own else 0.0)


def end_to_end(directory: Path, count: int, sqlite_template: Path) -> dict[str, Any]:
    """From before the first batch request to the last result recorded (SQLite, one worker)."""
    port = free_port()
    bodies = _bodies(count, BATCH)
    with Processes() as procs, smtp_sink(port) as (_sink, counters):
        stack = new_stack(directory, port, sqlite_template=sqlite_template)
        try:
            token = api_key(stack)
            web, web_port = start_web(procs, stack)
            running = start_workers(procs, stack, 1)
            _warm(web_port, token, web.pid)
            started = time.time()
            load = http_load.run(
                web_port, token, "/api/v1/messages/batch", bodies, BATCH_CLIENTS, deadline_for(count), web.pid
            )
            if load.errors or load.accepted != count:
                raise RuntimeError(f"the API accepted {load.accepted} of {count}: {load.errors[:3]}")
            end = wait_delivered(stack.outbox, count, time.monotonic() + deadline_for(count))
            result = _finish(stack, procs, running, counters, count, started, end)
        finally:
            stack.outbox.close()
    result.update(api_seconds=round(load.wall_s, 4), client_cpu_s=round(load.client_cpu_s, 3))
    return result


def _warm(port: int, token: str, pid: int) -> None:
    """An empty batch: the web process loads its URL map and API on its first request
    (over a second), which a running service has long done."""
    warm = http_load.run(port, token, "/api/v1/messages/batch", [b'{"messages": []}'], 1, 30, pid)
    if warm.errors:
        raise RuntimeError(f"the API refused an empty batch: {warm.errors[0]}")


def api(
    directory: Path, count: int, singles: int, single_deadline: float, sqlite_template: Path
) -> dict[str, Any]:
    """Batches of 500 (``count`` messages, 8 clients), then up to ``singles`` single
    messages (16 clients, at most ``single_deadline`` seconds); the web process only."""
    batch_bodies, single_bodies = _bodies(count, BATCH), _bodies(singles, 1, first=count)
    with Processes() as procs:
        stack = new_stack(directory, free_port(), sqlite_template=sqlite_template)
        try:
            token = api_key(stack)
            web, port = start_web(procs, stack)
            warm = http_load.run(
                port, token, "/api/v1/messages", _bodies(SINGLE_CLIENTS, 1, first=-100), 16, 30, web.pid
            )
            before = stack.outbox.messages()
            batch = http_load.run(
                port,
                token,
                "/api/v1/messages/batch",
                batch_bodies,
                BATCH_CLIENTS,
                deadline_for(count),
                web.pid,
            )
            single = http_load.run(
                port, token, "/api/v1/messages", single_bodies, SINGLE_CLIENTS, single_deadline, web.pid
            )
            stored = stack.outbox.messages() - before
        finally:
            stack.outbox.close()
    errors = warm.errors + batch.errors + single.errors
    return {
        "batch": _load_facts(batch, count),
        "single": _load_facts(single, single.requests),
        "stored": stored,
        "errors": errors[:5],
        "ok": not errors and batch.accepted == count and stored == count + single.accepted,
    }


def _load_facts(load: http_load.Load, expected: int) -> dict[str, Any]:
    return {
        "requests": load.requests,
        "accepted": load.accepted,
        "expected": expected,
        "seconds": round(load.wall_s, 4),
        "msgs_s": round(load.accepted / load.wall_s, 1),
        "rps": round(load.requests / load.wall_s, 1),
        "p50_ms": round(sorted(load.latencies_ms)[len(load.latencies_ms) // 2], 2)
        if load.latencies_ms
        else 0,
        "p99_ms": round(load.p99_ms(), 2),
        "client_cpu_us_per_request": round(load.client_cpu_s / max(1, load.requests) * 1e6, 1),
        "server_cpu_share": round(load.server_cpu_s / load.wall_s, 2),
    }
