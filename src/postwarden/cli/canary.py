"""``postwarden canary list|run``: the canary mailboxes from the command line.

``run`` starts a run of each canary named (``--id``, repeatable; default every enabled
one) now and drives it in this process until it ended, printing one line per canary:
what the console shows ("arrived in inbox in 4 s, SPF pass, DKIM pass, DMARC pass").
The mail goes out through the outbox, so a worker (``postwarden worker`` or ``serve``)
must be running to send it. Exit status: 0 every run arrived in the inbox, authenticated
and in time; 1 any run gave a doctor finding; 2 nothing to run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from postwarden.cli.django_setup import CommandError, setup

if TYPE_CHECKING:
    from postwarden.canaries.models import Canary


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="postwarden canary", description="Canary mailboxes: list them, run them now."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{list,run}")
    commands.add_parser("list", help="each canary with its status")
    run = commands.add_parser("run", help="run canaries now and wait for the result")
    run.add_argument(
        "--id", type=int, action="append", dest="ids", metavar="ID", help="a canary's id (repeatable)"
    )
    return root


def run(argv: list[str], *, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    setup()
    from postwarden.canaries.models import Canary

    canaries = Canary.objects.select_related("last_run").order_by("name")
    if args.command == "list":
        return _list(list(canaries), out)
    chosen = list(canaries.filter(pk__in=args.ids) if args.ids else canaries.filter(enabled=True))
    missing = sorted(set(args.ids or ()) - {c.pk for c in chosen})
    if missing:
        raise CommandError(f"no canary with id {', '.join(map(str, missing))} (postwarden canary list)")
    if not chosen:
        raise CommandError(
            "no canary to run: add one on the console's Canaries page or POST /api/v1/canaries"
        )
    return _run(chosen, out)


def _list(canaries: Sequence[Canary], out: TextIO) -> int:
    from postwarden.canaries.status import status_of

    for canary in canaries:
        status = status_of(canary)
        print(f"{canary.pk}  {canary.name}  {canary.address}  {status.code}: {status.summary}", file=out)
    return 0


def _run(canaries: Sequence[Canary], out: TextIO) -> int:
    from postwarden.canaries import runner
    from postwarden.canaries.models import Canary
    from postwarden.canaries.status import status_of

    ids = [c.pk for c in canaries]
    print(
        f"running {len(ids)} canar{'y' if len(ids) == 1 else 'ies'}; a worker must be running to send",
        file=out,
    )
    runner.drive(ids)
    worst = 0
    for canary in Canary.objects.select_related("last_run").filter(pk__in=ids).order_by("name"):
        status = status_of(canary)
        print(f"{canary.name}: {status.summary}", file=out)
        worst = max(worst, 0 if status.code == "ok" else 1)
    return worst
