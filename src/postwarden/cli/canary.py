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
from postwarden.core.i18n import Text, format_number, gettext, localize, ngettext

if TYPE_CHECKING:
    from postwarden.canaries.models import Canary


def build_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="postwarden canary", description=gettext("Canary mailboxes: list them, run them now.")
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="{list,run}")
    commands.add_parser("list", help=gettext("each canary with its status"))
    run = commands.add_parser("run", help=gettext("run canaries now and wait for the result"))
    run.add_argument(
        "--id",
        type=int,
        action="append",
        dest="ids",
        metavar="ID",
        help=gettext("a canary's id (repeatable)"),
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
        raise CommandError(
            Text("no canary with id {ids} (postwarden canary list)", ids=", ".join(map(str, missing)))
        )
    if not chosen:
        raise CommandError(
            Text("no canary to run: add one on the console's Canaries page or POST /api/v1/canaries")
        )
    return _run(chosen, out)


def _list(canaries: Sequence[Canary], out: TextIO) -> int:
    from postwarden.canaries.status import status_of

    for canary in canaries:
        status = status_of(canary)
        print(
            f"{canary.pk}  {canary.name}  {canary.address}  {status.code}: {localize(status.summary)}",
            file=out,
        )
    return 0


def _run(canaries: Sequence[Canary], out: TextIO) -> int:
    from postwarden.canaries import runner
    from postwarden.canaries.models import Canary
    from postwarden.canaries.status import status_of

    ids = [c.pk for c in canaries]
    running = ngettext(
        "running {n} canary; a worker must be running to send",
        "running {n} canaries; a worker must be running to send",
        len(ids),
    )
    print(running.format(n=format_number(len(ids))), file=out)
    runner.drive(ids)
    worst = 0
    for canary in Canary.objects.select_related("last_run").filter(pk__in=ids).order_by("name"):
        status = status_of(canary)
        print(f"{canary.name}: {localize(status.summary)}", file=out)
        worst = max(worst, 0 if status.code == "ok" else 1)
    return worst
