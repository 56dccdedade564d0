"""Set up Django for the commands that need the database, and say in one line what is
wrong instead of a traceback from inside Django.

Two kinds of command (docs/deploy.md "The data directory"): the start-up commands
(``serve``, ``web``, ``worker``, ``relay``, ``migrate``) make the install when there is
none (the data directory, its secret key, the database's tables); every other command
needs the install that is there, and refuses with the fix when it is not: run from another
directory or without the server's ``POSTWARDEN_DATA_DIR``, they used to make a second,
empty install silently and fail in it (issue #11). The check runs before Django opens
the database, since opening an SQLite file creates it.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from postwarden.core import i18n
from postwarden.core.config.model import Settings
from postwarden.core.config.resolve import ConfigError, env_layers, redact_url, resolve
from postwarden.core.config.service import ensure_secret_key
from postwarden.core.i18n import Text, ntext


class CommandError(Exception):
    """A command cannot run: one line for the user (``str()``) and the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        #: a :class:`~postwarden.core.i18n.Text` where the words are Postwarden's: the
        #: command line says it in the reader's language, ``str()`` stays English
        self.message = message
        self.status = status


#: set by ``postwarden serve`` for the processes it starts: it did the start-up work
STARTED_UP = "POSTWARDEN_STARTED_UP"


def setup(process: str = "cli", *, create: bool = False, install: bool = True) -> None:
    """Set Django up for ``process``. With ``create``, make what the install lacks (the
    data directory and the secret key; :func:`start_up` migrates); without, raise
    :class:`CommandError` unless a migrated install is there; with ``install=False``
    (a command's help) neither look nor make. Raises CommandError."""
    from django.apps import apps

    if apps.ready:  # already set up in this process (a test, or a caller that did)
        return
    settings = resolved()
    if create:
        settings.service.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_secret_key(settings)
    elif install:
        require_install(settings)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postwarden.settings")
    os.environ.setdefault("POSTWARDEN_PROCESS", process)
    import django

    django.setup()
    if process not in SERVERS:
        speak_the_commands_language()
    if install and not create:
        require_migrated(settings)


#: the processes that serve others: each request (console) or message picks its own
#: language, and the API stays English, so none is made active for the whole process
SERVERS = frozenset({"serve", "web", "worker", "relay", "monitor", "bounces"})


def speak_the_commands_language() -> None:
    """Django's words (a canary's status, the first admin's line, a system check) in the
    language :func:`postwarden.cli.main.main` chose for the core from ``LANG`` (then
    POSTWARDEN_LANGUAGE): one choice for both halves of a command's output."""
    from django.utils import translation

    translation.activate(i18n.get_language())


def start_up(process: str, *, verbosity: int = 0) -> None:
    """For the start-up commands: make what the install lacks, set Django up, and do the
    work that must happen once per install (migrations, the first admin) under the
    start-up lock, so that nodes starting together on one database take turns
    (accounts/bootstrap.py). Skipped in the processes ``serve`` starts: it did it."""
    setup(process, create=True)
    if os.environ.get(STARTED_UP) == "1":
        return
    from django.utils import translation

    from postwarden.accounts.bootstrap import start_up_once

    with translation.override(i18n.get_language()):  # the line below is read by a person
        created = start_up_once(verbosity=verbosity)
    if created:
        print(created, flush=True)


def resolved() -> Settings:
    """The service's settings from the environment. Raises CommandError."""
    try:
        return resolve(*env_layers())
    except ConfigError as exc:
        raise CommandError(exc.said(one_line=True)) from None


#: what to do when a command finds no install
_FIX = Text(
    "start the server once (postwarden serve or postwarden migrate) to make it, "
    "or set POSTWARDEN_DATA_DIR (or DATABASE_URL) to the server's"
)


def sqlite_file(database_url: str) -> Path | None:
    """The database file of an SQLite URL; None for another engine or an in-memory one."""
    if not database_url.startswith("sqlite:"):
        return None
    import dj_database_url  # framework-free: it only parses the URL

    name = str(dj_database_url.parse(database_url)["NAME"])
    return None if name in ("", ":memory:") else Path(name)


def require_install(settings: Settings) -> None:
    """Raise CommandError unless the data directory holds an install: its SQLite database
    with Django's tables (read-only: nothing is created), and a secret key."""
    service = settings.service
    where = service.data_dir
    path = sqlite_file(service.database_url)
    if path is not None:
        if not path.is_file():
            missing = (
                Text("no such directory")
                if not where.is_dir()
                else Text("no database {name} in it", name=path.name)
            )
            raise CommandError(
                Text(
                    "no Postwarden install in {where} ({missing}): {fix}",
                    where=where,
                    missing=missing,
                    fix=_FIX,
                )
            )
        if not _has_tables(path):
            raise CommandError(
                Text(
                    "the database {path} has no Postwarden tables (not set up): run postwarden migrate, "
                    "or set POSTWARDEN_DATA_DIR to the server's data directory",
                    path=path,
                )
            )
    if not service.secret_key:
        raise CommandError(
            Text(
                "no secret key: POSTWARDEN_SECRET_KEY is not set and {where} has no secret_key file: "
                "give this command the server's POSTWARDEN_SECRET_KEY or POSTWARDEN_DATA_DIR",
                where=where,
            )
        )


def _has_tables(path: Path) -> bool:
    """Whether the SQLite file has Django's migration table, opened read-only (``mode=ro``
    writes nothing; an empty or foreign file is "no")."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='django_migrations'"
            ).fetchone()
    except sqlite3.Error:
        return False
    return found is not None


def require_migrated(settings: Settings) -> None:
    """Raise CommandError when the database cannot be reached or lacks migrations."""
    from django.db import DatabaseError, connection
    from django.db.migrations.executor import MigrationExecutor

    shown = redact_url(settings.service.database_url)
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(
            Text(
                "cannot use the database {database}: {error}: check that it runs, "
                "or set DATABASE_URL to the server's database",
                database=shown,
                error=first,
            )
        ) from None
    if pending and not executor.loader.applied_migrations:
        raise CommandError(
            Text(
                "the database {database} has no Postwarden tables (not set up): {fix}",
                database=shown,
                fix=_FIX,
            )
        )
    if pending:
        raise CommandError(
            ntext(
                "the database {database} is not up to date ({n} migration not applied): "
                "run postwarden migrate (postwarden serve does it when it starts)",
                "the database {database} is not up to date ({n} migrations not applied): "
                "run postwarden migrate (postwarden serve does it when it starts)",
                len(pending),
                database=shown,
            )
        )
