"""Postwarden as an operator runs it, for the benchmark: a throwaway data directory (or a
PostgreSQL database), the ``postwarden`` command line in subprocesses (``migrate``,
``apikey``, ``web``, ``worker``), messages seeded through ``outbox.submission.enqueue_many``
(bench/seed.py), and :class:`Outbox`, a read-mostly look at the outbox tables from outside
the processes being measured (sqlite3 or psycopg, no Django in the benchmark's process).

Configuration is by environment, as spec/config.md documents it: SMTP to a local
smtp-sink without TLS or AUTH, ``MAIL_FROM`` set, a throwaway secret key. Everything from
the caller's environment that could change what is measured (``SMTP_*``, ``MAIL_*``,
``POSTWARDEN_*``, ``DATABASE_URL`` …) is dropped.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.procs import Processes, tail, wait_listening
from bench.smtp_client import free_port

SENDER = "noreply@example.com"
#: a throwaway database's key; a fixed one spares each process generating and reading one
SECRET_KEY = "bench-only-secret-key-0123456789abcdef0123456789"  # noqa: S105
CLI_TIMEOUT = 300.0
_DROPPED = ("POSTWARDEN_", "SMTP_", "MAIL_", "EMAIL_", "DKIM_", "AWS_", "DJANGO_", "TEST_EMAIL", "APP_URL")


def postwarden(*args: str) -> list[str]:
    return [sys.executable, "-m", "postwarden", *args]


def environment(data: Path, smtp_port: int, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED) and k != "DATABASE_URL"}
    env.update(
        POSTWARDEN_DATA_DIR=str(data),
        POSTWARDEN_SECRET_KEY=SECRET_KEY,
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_SECURITY="none",
        SMTP_EHLO_NAME="bench.postwarden.test",
        MAIL_FROM=SENDER,
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")])),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def run_cli(env: dict[str, str], argv: list[str], timeout: float = CLI_TIMEOUT) -> str:
    """Run a command to completion; its stdout. Raises RuntimeError with its output on failure."""
    done = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(argv[2:])} failed ({done.returncode}):\n{output}")
    return done.stdout.decode()


def migrated_sqlite(root: Path) -> Path:
    """A migrated SQLite database to copy for every stack (a migration takes seconds)."""
    data = root / "template"
    data.mkdir(parents=True)
    run_cli(environment(data, 25), postwarden("migrate"))
    return data / "postwarden.sqlite3"


@dataclass
class Stack:
    """One Postwarden installation: its environment, data directory and outbox."""

    data: Path
    env: dict[str, str]
    outbox: Outbox
    logs: dict[str, Path] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.logs.setdefault(name, self.data / f"{name}.out")


def new_stack(
    directory: Path, smtp_port: int, *, sqlite_template: Path | None = None, database_url: str | None = None
) -> Stack:
    """A fresh installation in ``directory``: a copy of the migrated SQLite template, or
    the (already migrated) PostgreSQL database at ``database_url``."""
    data = directory / "data"
    data.mkdir(parents=True)
    if database_url:
        outbox: Outbox = PostgresOutbox(database_url)
    else:
        assert sqlite_template is not None
        with contextlib.closing(sqlite3.connect(sqlite_template)) as template:
            template.execute("VACUUM INTO ?", (str(data / "postwarden.sqlite3"),))
        outbox = SqliteOutbox(data / "postwarden.sqlite3")
    outbox.mark()
    return Stack(data, environment(data, smtp_port, database_url), outbox)


def api_key(stack: Stack) -> str:
    """A new API key with the ``send`` scope (``postwarden apikey create`` prints it last)."""
    return run_cli(stack.env, postwarden("apikey", "create", "--name", "bench", "--scope", "send")).split()[
        -1
    ]


def seed(stack: Stack, count: int, *, hold: bool) -> float:
    """Enqueue ``count`` messages (bench/seed.py); returns its msgs/s. ``hold``: not due
    until :meth:`Outbox.release`, so the workers can be started and ready first."""
    argv = [sys.executable, "-m", "bench.seed", str(count), *(["--hold"] if hold else [])]
    return float(run_cli({**stack.env, "POSTWARDEN_PROCESS": "seed"}, argv).split()[-1])


def start_web(procs: Processes, stack: Stack) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = procs.start(
        postwarden("web", "--host", "127.0.0.1", "--port", str(port)), stack.env, stack.log("web")
    )
    wait_listening(port, proc, stack.log("web"))
    return proc, port


def start_workers(procs: Processes, stack: Stack, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` workers, returned once each has written its heartbeat (it is about to claim)."""
    workers = [procs.start(postwarden("worker"), stack.env, stack.log(f"worker{i}")) for i in range(count)]
    deadline = time.monotonic() + 60
    while stack.outbox.running_workers() < count:
        dead = [i for i, w in enumerate(workers) if w.poll() is not None]
        if dead or time.monotonic() > deadline:
            which = dead[0] if dead else 0
            raise RuntimeError(f"worker {which} did not start:\n{tail(stack.log(f'worker{which}'))}")
        time.sleep(0.05)
    return workers


def _epoch(value: Any) -> float:
    """A timestamp column: SQLite gives Django's naive UTC text, PostgreSQL a datetime."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class Outbox:
    """The outbox tables seen from outside (autocommit; each call one short statement).

    Counts are of rows made after :meth:`mark` (a stack on a copy of a long history,
    bench/growth.py, counts only what its own measurement made)."""

    #: the largest message, recipient and attempt ids when :meth:`mark` was called
    floor: tuple[int, int, int] = (0, 0, 0)

    def _new(self, table: int) -> str:
        """The condition for rows made after :meth:`mark` (an int: no quoting needed)."""
        return f"id > {int(self.floor[table])}"

    def mark(self) -> None:
        self.floor = tuple(  # type: ignore[assignment]
            int(self._one(f"SELECT coalesce(max(id), 0) FROM outbox_{table}"))  # noqa: S608 - fixed names
            for table in ("message", "recipient", "attempt")
        )

    def _one(self, sql: str) -> Any:
        raise NotImplementedError

    def _do(self, sql: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def messages(self) -> int:
        return int(self._one("SELECT count(*) FROM outbox_message"))

    def busy(self) -> int:
        """Recipients queued or being sent (index rcpt_state; cheap as it empties)."""
        return int(self._one("SELECT count(*) FROM outbox_recipient WHERE state IN ('queued', 'sending')"))

    def sent(self) -> int:
        sql = "SELECT count(*) FROM outbox_recipient WHERE state = 'sent' AND " + self._new(1)  # noqa: S608
        return int(self._one(sql))

    def running_workers(self) -> int:
        return int(self._one("SELECT count(*) FROM outbox_workerheartbeat WHERE status = 'running'"))

    def window(self) -> tuple[float, float]:
        """Epoch seconds of the first claim and of the last finished attempt."""
        first = self._one("SELECT min(started_at) FROM outbox_attempt WHERE " + self._new(2))  # noqa: S608
        last = self._one("SELECT max(finished_at) FROM outbox_attempt WHERE " + self._new(2))  # noqa: S608
        return _epoch(first), _epoch(last)

    def mean_size(self) -> float:
        sql = "SELECT avg(size) FROM outbox_message WHERE " + self._new(0)  # noqa: S608
        return float(self._one(sql) or 0)

    def server_process(self) -> int | None:
        """The pid of the database server's process that serves this connection (a
        PostgreSQL backend), or None (SQLite runs in this process)."""
        return None

    def release(self) -> None:
        """Make the held messages due now (seed --hold left them without a due time).
        Through the claim's partial index (its condition, word for word, lets SQLite
        use it): on a copy of a long history, a scan of every recipient for the few
        without a due time held the write lock, and then the checkpoint, for seconds
        of the measurement (docs/performance.md)."""
        self._do(
            "UPDATE outbox_recipient SET next_attempt_at = queued_at "
            "WHERE state IN ('queued', 'deferred') AND next_attempt_at IS NULL"
        )


class SqliteOutbox(Outbox):
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)

    def _one(self, sql: str) -> Any:
        return self._db.execute(sql).fetchone()[0]

    def _do(self, sql: str) -> None:
        self._db.execute(sql)

    def close(self) -> None:
        self._db.close()


class PostgresOutbox(Outbox):
    def __init__(self, url: str) -> None:
        import psycopg

        self._db = psycopg.connect(url, autocommit=True)

    def server_process(self) -> int | None:
        return int(self._db.info.backend_pid)

    def _one(self, sql: str) -> Any:
        row = self._db.execute(sql.encode()).fetchone()
        return row[0] if row else None

    def _do(self, sql: str) -> None:
        self._db.execute(sql.encode())  # bytes: psycopg's typing wants literal str

    def close(self) -> None:
        self._db.close()


@contextlib.contextmanager
def closing_outbox(stack: Stack) -> Iterator[Outbox]:
    try:
        yield stack.outbox
    finally:
        stack.outbox.close()
