"""Enqueue throughput through the batch API: ``POST /api/v1/messages/batch`` with 500
messages of ~2 KB each, into a fresh SQLite outbox (WAL, synchronous=FULL).

    python -m bench.enqueue [--messages 20000] [--json]

The request goes through Django's full stack in this process (middleware, API-key auth,
ninja's validation, the outbox's bulk statements, the response), without a socket: what
the web process spends per message. Also times ``enqueue_many`` alone, to show what the
HTTP layer adds. The target (h4 brief): >= 10k messages/s. Loops are bounded by count.
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
        from postwarden.outbox.services import Outgoing, enqueue_many

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.enqueue", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.messages - args.messages % BATCH or BATCH)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
