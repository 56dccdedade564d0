"""``postwarden worker``: run one delivery worker (the ``runworker`` management command).
Several may run at once, on one machine or many (PostgreSQL)."""

from __future__ import annotations

import argparse

from postwarden.cli.django_setup import setup, start_up


def build_parser() -> argparse.ArgumentParser:
    # the options are runworker's (outbox/management/commands/runworker.py): passed on as
    # they are, and its own --help lists them
    parser = argparse.ArgumentParser(
        prog="postwarden worker", description=__doc__.splitlines()[0], add_help=False
    )
    parser.add_argument("options", nargs=argparse.REMAINDER, help="runworker's options (see --help)")
    return parser


def run(argv: list[str]) -> int:
    from_help = bool({"-h", "--help"} & set(argv))
    # the help needs Django (the options are a management command's), not an install
    setup("worker", install=False) if from_help else start_up("worker")
    from django.core.management import call_command

    call_command("runworker", *argv)
    return 0
