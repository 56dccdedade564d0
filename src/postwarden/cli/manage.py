"""``postwarden manage COMMAND …``: a Django management command, in the install that is
there (it never makes one: ``postwarden migrate`` does)."""

from __future__ import annotations

import argparse

from postwarden.cli.django_setup import setup
from postwarden.core.i18n import gettext


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden manage",
        description=gettext(
            "A Django management command, in the install that is there (it never makes one)."
        ),
    )
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help=gettext("the command and its options"))
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["postwarden manage", *args.arguments])
    return 0
