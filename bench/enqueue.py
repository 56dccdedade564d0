"""Enqueue throughput through the batch API: ``POST /api/v1/messages/batch`` with 500
messages of ~2 KB each, into a fresh SQLite outbox (WAL, synchronous=FULL).

    python -m bench.enqueue [--messages 20000] [--json]
    python -m bench.enqueue --http [--runs 3] [--singles 3000] [--json]

``--http``: the real web process (``postwarden web``) on loopback, measured as ``make
bench`` does (bench/pipeline.py's ``api``: 8 clients x 500-message batches, then 16
clients posting one message each), ``--runs`` times; per run the rates, latencies, the
load average and the web process's CPU time per message and per single request.

The request goes through Django's full stack in this process (middleware, API-key auth,
ninja's validation, the outbox's bulk statements, the response), without a socket: what
the web process spends per message. Also times ``enqueue_many`` alone, to show what the
HTTP layer adds. The targets (issue #18): >= 10k messages/s in batches; a single
message's p99 < 25 ms at 16 clients. Loops are bounded by count.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.delivery import BODY_LINE, _django

BATCH = 500


def _messages(start: int, count: int) -> list[dict[str, Any]]:
    body = BODY_LINE * 26
    return [
        {"to": [f"user{i}@example.net"], "subject": f"Benchmark {i}", "text": body}
        for i in range(start, start + count)
    ]


def run(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pw-enqueue-") as tmp:
        _django(Path(tmp))
        from django.core.management import call_command
        from django.db import transaction
        from django.test import Client

        from postwarden.accounts.models import ApiKey
        from postwarden.configstore import runtime
        from postwarden.outbox.submission import Outgoing, enqueue_many

        call_command("migrate", verbosity=0)
        runtime.save({"MAIL_FROM": "noreply@example.com"})
        _, key = ApiKey.issue("bench", ["send"])
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
        bodies = [json.dumps({"messages": _messages(start, BATCH)}) for start in range(0, count, BATCH)]
        client.post(
            "/api/v1/messages/batch",
            json.dumps({"messages": _messages(count, 1)}),
            content_type="application/json",
        )  # the first request imports the URL map
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v1/messages/batch", body, content_type="application/json")
            if response.status_code != 202 or response.json()["accepted"] != BATCH:
                raise SystemExit(f"the API answered {response.status_code}: {response.content[:300]!r}")
        api_rate = count / (time.perf_counter() - started)
        items = [Outgoing(to=m["to"], subject=m["subject"], text=m["text"]) for m in _messages(0, BATCH)]
        started = time.perf_counter()
        for _ in range(0, count, BATCH):
            with transaction.atomic():
                enqueue_many(items, source="batch")
        direct_rate = count / (time.perf_counter() - started)
    return {
        "messages": count,
        "api_batch_msgs_per_s": round(api_rate),
        "enqueue_many_msgs_per_s": round(direct_rate),
    }


def http(count: int, singles: int, runs: int) -> dict[str, Any]:
    """``runs`` measurements of the web process (bench/pipeline.py's ``api``); the
    medians and each run's figures, with the load average before it."""
    import os
    import statistics

    from bench import pipeline, stack

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pw-enqueue-http-") as tmp:
        template = stack.migrated_sqlite(Path(tmp))
        for number in range(runs):
            load = [round(x, 2) for x in os.getloadavg()]
            result = pipeline.api(Path(tmp) / f"run{number}", count, singles, 10.0, template)
            if not result["ok"]:
                raise SystemExit(f"run {number}: {result['errors'] or result}")
            batch, single = result["batch"], result["single"]
            rows.append(
                {
                    "load_avg": load,
                    "api_batch_msgs_s": batch["msgs_s"],
                    "batch_server_cpu_us_per_msg": _cpu_us(batch, batch["accepted"]),
                    "api_single_rps": single["rps"],
                    "api_single_p50_ms": single["p50_ms"],
                    "api_single_p99_ms": single["p99_ms"],
                    "single_server_cpu_us_per_request": _cpu_us(single, single["requests"]),
                }
            )
    medians = {key: statistics.median(row[key] for row in rows) for key in rows[0] if key != "load_avg"}
    return {"messages": count, "runs": rows, "median": medians}


def _cpu_us(facts: dict[str, Any], count: int) -> float:
    return round(float(facts["server_cpu_share"]) * float(facts["seconds"]) / max(1, count) * 1e6, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enqueue", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--http", action="store_true", help="measure the web process over loopback")
    parser.add_argument("--runs", type=int, default=3, help="--http: measurements (default 3)")
    parser.add_argument("--singles", type=int, default=3000, help="--http: single requests at most")
    args = parser.parse_args(argv)
    count = args.messages - args.messages % BATCH or BATCH
    if args.http:
        print(json.dumps(http(count, args.singles, max(1, args.runs)), indent=None if args.json else 2))
        return 0
    result = run(count)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
