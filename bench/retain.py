"""Run the product's retention pass as if ``DAYS`` days had passed, until it has nothing
left to do (run in the installation's environment; bench/growth.py calls it to measure
the database's bytes per message before and after).

    python -m bench.retain DAYS

Prints the totals as one JSON line.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

#: passes at most: each is bounded by its own time budget
PASSES = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retain", description=__doc__.splitlines()[0])
    parser.add_argument("days", type=float)
    args = parser.parse_args(argv)
    from postwarden.cli.django_setup import setup

    setup("retain")
    from django.utils import timezone

    from postwarden.configstore.runtime import current_settings
    from postwarden.outbox.retention import prune

    later = timezone.now() + timedelta(days=args.days)
    totals = {"bodies": 0, "messages": 0, "pages": 0, "passes": 0}
    for _ in range(PASSES):
        pruned = prune(current_settings().delivery, now=later)
        totals["bodies"] += pruned.bodies
        totals["messages"] += pruned.messages
        totals["pages"] += pruned.pages
        totals["passes"] += 1
        if not pruned.more:
            break
    print(json.dumps(totals))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
