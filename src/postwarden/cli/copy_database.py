"""``postwarden copy-database TARGET_URL``: copy this install's database into another,
empty one, e.g. from SQLite to PostgreSQL (docs/deploy.md "From SQLite to PostgreSQL").

Everything goes: queued and deferred mail with its raw bodies and attempts, the timeline,
suppressions, API keys, console users, settings saved in the console (still encrypted
with this install's secret key, so keep it). The source is not changed. The target gets
the tables first (migrations), then every row with its id, then the row counts of both
are compared table by table. Stop every Postwarden process first: a worker that sends
while the copy runs changes what is copied. Exit 0 copied, 1 refused (a running worker,
a target that is not empty, counts that differ), 2 could not run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from postwarden.cli.django_setup import CommandError, setup
from postwarden.core.config.resolve import redact_url
from postwarden.core.i18n import Text, gettext

#: the alias of the target database while the copy runs
TARGET = "target"
#: Django's own rows that migrate makes in any database; copying them would collide
MADE_BY_MIGRATE = ("contenttypes", "auth.permission")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden copy-database",
        description=gettext(
            "Copy this install's database into another, empty one, e.g. from SQLite to PostgreSQL."
        ),
    )
    parser.add_argument(
        "target",
        metavar="TARGET_URL",
        help=gettext("the empty database, e.g. {example}").format(example="postgres://user:pw@host/db"),
    )
    return parser


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    setup("cli")
    from django.conf import settings
    from django.db import connections

    from postwarden.settings import _database

    shown = redact_url(args.target)
    if args.target == settings.SERVICE_SETTINGS.service.database_url:
        raise CommandError(Text("the target is this install's own database"))
    # Django fills each entry's defaults when it reads DATABASES: the same for this one
    both = {"default": settings.DATABASES["default"], TARGET: _database(args.target)}
    connections.databases[TARGET] = connections.configure_settings(both)[TARGET]
    if (busy := _running_worker()) is not None:
        print(
            "postwarden copy-database: " + gettext("{busy}: stop Postwarden first").format(busy=busy),
            file=sys.stderr,
        )
        return 1
    return _copy(shown)


def _running_worker() -> str | None:
    from django.utils import timezone

    from postwarden.outbox.models import WorkerHeartbeat

    recent = timezone.now() - timedelta(minutes=2)
    row = WorkerHeartbeat.objects.filter(last_seen__gte=recent).exclude(status="stopped").first()
    if row is None:
        return None
    running = gettext("worker {id} is running (last seen {when})")
    return running.format(id=row.worker_id, when=f"{row.last_seen:%H:%M:%S}")


def _copy(shown: str) -> int:
    from django.core.management import call_command
    from django.db import DatabaseError

    try:
        call_command("migrate", database=TARGET, interactive=False, verbosity=0)
        if filled := _non_empty(TARGET):
            not_empty = gettext("{database} is not empty ({tables} have rows): give an empty database")
            print(
                "postwarden copy-database: " + not_empty.format(database=shown, tables=", ".join(filled[:3])),
                file=sys.stderr,
            )
            return 1
        with tempfile.TemporaryDirectory(prefix="postwarden-copy-") as work:
            dump = Path(work) / "rows.json"
            call_command(
                "dumpdata",
                natural_foreign=True,
                natural_primary=True,
                exclude=list(MADE_BY_MIGRATE),
                output=str(dump),
                verbosity=0,
            )
            call_command("loaddata", str(dump), database=TARGET, verbosity=0)
    except DatabaseError as exc:
        raise CommandError(
            Text("cannot use {database}: {error}", database=shown, error=str(exc).strip().splitlines()[0])
        ) from None
    return _compare(shown)


def _tables() -> list[type]:
    from django.apps import apps

    skip = {"contenttypes.contenttype", "auth.permission"}
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.label_lower not in skip]


def _non_empty(alias: str) -> list[str]:
    return [m._meta.db_table for m in _tables() if m._default_manager.using(alias).exists()]  # type: ignore[attr-defined]


def _compare(shown: str) -> int:
    from postwarden.outbox.models import PENDING_STATES, Recipient, State

    differ, total = [], 0
    for model in _tables():
        manager = model._default_manager  # type: ignore[attr-defined]
        source, copied = manager.using("default").count(), manager.using(TARGET).count()
        total += copied
        if source != copied:
            differ.append(f"{model._meta.db_table} {source} -> {copied}")  # type: ignore[attr-defined]
    if differ:
        differs = gettext("the counts differ: {tables}").format(tables="; ".join(differ))
        print(f"postwarden copy-database: {differs}", file=sys.stderr)
        return 1
    waiting = Recipient.objects.using(TARGET).filter(state__in=(*PENDING_STATES, State.SENDING)).count()
    copied = gettext("Copied {total} rows into {database}; {waiting} recipients are waiting to be sent.")
    print(copied.format(total=total, database=shown, waiting=waiting))
    now = gettext("Now set DATABASE_URL={database} (keep this install's secret key) and start Postwarden.")
    print(now.format(database=shown))
    return 0
