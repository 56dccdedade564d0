"""``postwarden worker``: run one delivery worker (the ``runworker`` management command).
Several may run at once, on one machine or many (PostgreSQL)."""

from __future__ import annotations

from postwarden.cli.django_setup import setup


def run(argv: list[str]) -> int:
    setup("worker")
    from django.core.management import call_command

    call_command("runworker", *argv)
    return 0
