"""Seed an outbox with ``COUNT`` ~2 KB messages through ``outbox.submission.enqueue_many``,
500 per transaction, as the batch API stores them (run in the installation's environment;
bench/stack.py calls it).

    python -m bench.seed COUNT [--hold]

``--hold``: leave every recipient without a due time, so no worker claims any until the
benchmark releases them all at once (``Outbox.release``) — the workers are then started
and ready, and their start-up is not part of the delivery figure. Prints the enqueue rate
(msgs/s) as the last line.
"""

from __future__ import annotations

import argparse
import time

from bench.delivery import BODY_LINE

BATCH = 500


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args(argv)
    from postwarden.cli.django_setup import setup

    setup("seed")
    from django.db import transaction

    from postwarden.outbox.models import Recipient
    from postwarden.outbox.submission import Enqueued, Outgoing, enqueue_many

    body = BODY_LINE * 26
    started = time.perf_counter()
    for start in range(0, args.count, BATCH):
        batch = [
            Outgoing(to=[f"user{i}@example.net"], subject=f"Benchmark {i}", text=body)
            for i in range(start, min(args.count, start + BATCH))
        ]
        with transaction.atomic():
            results = enqueue_many(batch, source="batch")
        refused = [r for r in results if not isinstance(r, Enqueued)]
        if refused:
            raise SystemExit(f"enqueue_many refused {len(refused)} messages: {refused[0]!r}")
    rate = args.count / (time.perf_counter() - started)
    if args.hold:
        Recipient.objects.filter(state="queued").update(next_attempt_at=None)
    print(f"{rate:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
