"""``manage.py runworker`` (what ``postwarden worker`` runs): deliver the outbox until
SIGTERM or SIGINT, then finish what is in flight and exit 0."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from postwarden.core.i18n import gettext
from postwarden.outbox.worker.loop import WorkerOptions, run_worker

DEFAULTS = WorkerOptions()


class Command(BaseCommand):
    help = "Deliver the outbox: claim, send, retry; stop gracefully on SIGTERM/SIGINT."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULTS.batch_size,
            help=gettext("recipients claimed at a time (default %(default)s)"),
        )
        parser.add_argument(
            "--lease",
            type=float,
            default=DEFAULTS.lease,
            help=gettext(
                "seconds a claim lasts unrenewed before another worker may take it back "
                "(default: POSTWARDEN_WORKER_TIMEOUT)"
            ),
        )
        parser.add_argument(
            "--idle-sleep",
            type=float,
            default=DEFAULTS.idle_sleep,
            help=gettext("seconds to wait when nothing is due (default %(default)s)"),
        )
        parser.add_argument(
            "--retry-base",
            type=float,
            default=None,
            help=gettext("seconds before the first retry (default 60; tests use less)"),
        )
        parser.add_argument(
            "--worker-id", default=None, help=gettext("name in heartbeats (default host:pid:random)")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        status = run_worker(
            WorkerOptions(
                batch_size=options["batch_size"],
                lease=options["lease"],
                idle_sleep=options["idle_sleep"],
                retry_base=options["retry_base"],
                worker_id=options["worker_id"],
            )
        )
        if status:
            raise SystemExit(status)
