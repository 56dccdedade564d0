"""``postwarden migrate``, ``postwarden createadmin`` and ``postwarden manage …``."""

from __future__ import annotations

import argparse
import sys

from postwarden.cli.django_setup import setup


def run(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    setup()
    from django.core.management import call_command, execute_from_command_line

    if command == "migrate":
        parser = argparse.ArgumentParser(
            prog="postwarden migrate", description="Create or upgrade the database."
        )
        parser.parse_args(rest)
        call_command("migrate", interactive=False, verbosity=1)
        return 0
    if command == "createadmin":
        from postwarden.accounts.bootstrap import createadmin_cli

        return createadmin_cli(rest)
    execute_from_command_line(["postwarden manage", *rest])
    return 0


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
