"""``postwarden migrate``: make or upgrade the install without starting anything: the
data directory, its secret key, the database's tables and the first admin (what
``postwarden serve`` does when it starts). For a one-shot step before the services start
(a container's init, a systemd ``ExecStartPre``), under the same start-up lock."""

from __future__ import annotations

import argparse

from postwarden.cli.django_setup import start_up
from postwarden.core.i18n import gettext


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="postwarden migrate",
        description=gettext(
            "Make or upgrade the install without starting anything: the data directory, its secret key, "
            "the database's tables and the first admin."
        ),
    )


def run(argv: list[str]) -> int:
    build_parser().parse_args(argv)
    start_up("migrate", verbosity=1)
    return 0
