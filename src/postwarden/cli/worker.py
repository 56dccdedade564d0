"""``postwarden worker``: run one delivery worker (the ``runworker`` management command).
Several may run at once, on one machine or many (PostgreSQL)."""

from __future__ import annotations

import argparse

from postwarden.cli.django_setup import setup, start_up
from postwarden.core.i18n import gettext


def build_parser() -> argparse.ArgumentParser:
    # the options are runworker's (outbox/management/commands/runworker.py): passed on as
    # they are, and its own --help lists them
    parser = argparse.ArgumentParser(
        prog="postwarden worker", description=gettext("Run one delivery worker."), add_help=False
    )
    parser.add_argument(
        "options", nargs=argparse.REMAINDER, help=gettext("the worker's options (see --help)")
    )
    return parser


def run(argv: list[str]) -> int:
    if {"-h", "--help"} & set(argv):
        # the help needs Django (the options are a management command's), not an install;
        # it lists the worker's own options, in the reader's language, not Django's
        setup("worker", install=False)
        from postwarden.outbox.management.commands.runworker import Command

        parser = argparse.ArgumentParser(
            prog="postwarden worker", description=gettext("Run one delivery worker.")
        )
        Command().add_arguments(parser)
        parser.parse_args(argv)
        return 0
    start_up("worker")
    from django.core.management import call_command

    call_command("runworker", *argv)
    return 0
