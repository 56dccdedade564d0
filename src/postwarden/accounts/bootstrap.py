"""Start-up work that must happen once per install (migrations, the first admin), and the
first admin itself: from POSTWARDEN_ADMIN_EMAIL/POSTWARDEN_ADMIN_PASSWORD, or a generated
password printed once on the terminal (never logged: log files outlive the terminal).

Several nodes may start at once on one database (two containers of compose.yaml, two
hosts): the second used to crash creating the same first admin while both migrated. The
work runs under a lock: a file lock in the data directory (SQLite, or nodes sharing it),
and on PostgreSQL an advisory lock; the node that waits finds it done and carries on.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils.translation import gettext

from postwarden.accounts.models import Role, User
from postwarden.core.config.service import data_dir_lock

DEFAULT_ADMIN_EMAIL = "admin@localhost"
#: the PostgreSQL advisory lock of the start-up work (any fixed 64-bit number; this one
#: is "pwstart" in ASCII, so it is recognisable in pg_locks)
ADVISORY_LOCK = 0x70_77_73_74_61_72_74


def start_up_once(verbosity: int = 0) -> str | None:
    """Migrate and create the first admin, one node at a time. Returns the line to print
    once about a created admin, or None."""
    with start_up_lock():
        _new_sqlite_gives_space_back()
        call_command("migrate", interactive=False, verbosity=verbosity)
        return ensure_first_admin()


def _new_sqlite_gives_space_back() -> None:
    """A new SQLite database gets auto_vacuum=INCREMENTAL, so retention can hand freed pages
    back to the file system (outbox/retention.py). SQLite takes it only before the first
    table; asked on every connection it would take the write lock each time, and a reader
    would wait for whoever writes."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master")
        if cursor.fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("VACUUM")  # writes the setting into the still empty file


@contextmanager
def start_up_lock() -> Iterator[None]:
    """Held by one process per install at a time: the data directory's file lock, then
    (PostgreSQL) the database's advisory lock, on the connection the work then uses."""
    with _file_locks(Path(settings.DATA_DIR), _sqlite_directory()):
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK])


def _sqlite_directory() -> Path | None:
    """Where the SQLite database is, when that is not the data directory (DATABASE_URL)."""
    if connection.vendor != "sqlite":
        return None
    return Path(str(connection.settings_dict["NAME"])).resolve().parent


@contextmanager
def _file_locks(data_dir: Path, database_dir: Path | None) -> Iterator[None]:
    """The data directory's lock, and the database directory's when that is elsewhere
    (nodes with data directories of their own may share an SQLite file)."""
    with data_dir_lock(data_dir):
        if database_dir is None or database_dir == data_dir.resolve():
            yield
            return
        with data_dir_lock(database_dir):
            yield


@transaction.atomic
def ensure_first_admin() -> str | None:
    """Create the first admin when there is no user yet. Returns the line to print once
    (with a generated password), or None when nothing was created or nothing must be shown."""
    if User.objects.exists():
        return None
    service = settings.SERVICE_SETTINGS.service
    email = service.admin_email or DEFAULT_ADMIN_EMAIL
    password = service.admin_password.reveal()
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    create_admin(email, password)
    if generated:
        return gettext(
            "Created the first admin: %(email)s with password %(password)s "
            "(shown once; change it in the console)"
        ) % {"email": email, "password": password}
    return gettext("Created the first admin: %(email)s (password from POSTWARDEN_ADMIN_PASSWORD)") % {
        "email": email
    }


def create_admin(email: str, password: str, role: Role = Role.ADMIN, *, read_bodies: bool = False) -> User:
    user = User(username=email, email=email, role=role, is_staff=role == Role.ADMIN, read_bodies=read_bodies)
    user.set_password(password)
    user.save()
    return user
