"""What the fault runs read from (and enqueue into) a place's database, in a process of its
own with the place's settings, as its workers have them:
``python -m tests.reliability.probe attempts``.

tests/outbox/procs.py enqueues numbered mail and counts states; this adds every attempt of
every recipient (retry windows, durations) and mail to chosen addresses."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

from tests.outbox.procs import Place


def query(place: Place, name: str, *args: str) -> Any:
    """Run ``name`` (with ``args``) against the place's database; its JSON answer."""
    return place.script(name, *args, module="tests.reliability.probe")


def _attempts() -> list[dict[str, Any]]:
    from postwarden.outbox.models import Attempt

    rows = Attempt.objects.order_by("recipient_id", "number").values_list(
        "recipient__address",
        "recipient__queued_at",
        "number",
        "outcome",
        "stage",
        "reply",
        "started_at",
        "finished_at",
        "retry_at",
        "duration_ms",
    )
    names = (
        "address", "queued_at", "number", "outcome", "stage", "reply", "started", "finished", "retry_at",
        "duration_ms",
    )  # fmt: skip
    return [
        {k: (v.timestamp() if isinstance(v, datetime) else v) for k, v in zip(names, row, strict=True)}
        for row in rows
    ]


def _enqueue_to(addresses: list[str]) -> list[str]:
    """One message to each address, in this order; their Message-IDs."""
    from django.db import transaction

    from postwarden.outbox.submission import Outgoing, enqueue_many

    with transaction.atomic():
        done = enqueue_many([Outgoing(to=[a], subject=a, text="x") for a in addresses], source="batch")
    return [d.message_id for d in done if not isinstance(d, Exception)]


def main(argv: list[str]) -> Any:
    import django

    django.setup()
    if argv[0] == "attempts":
        return _attempts()
    if argv[0] == "enqueue-to":
        return _enqueue_to(argv[1:])
    raise SystemExit(f"unknown query {argv[0]}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
