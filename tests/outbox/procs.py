"""Real worker processes for the fault tests: a database of their own (an SQLite file or a
PostgreSQL database of the throwaway cluster), settings from the environment as in
production, ``python -m postwarden worker`` as the process, and a small script
(``python -m tests.outbox.procs …``) to enqueue into and read from that database.

Every process is stopped at teardown (SIGTERM, then SIGKILL after a bound).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: seconds any one process call or wait may take
BOUND = 30.0


@dataclass
class Place:
    """Where the processes run: their data directory, database and SMTP server."""

    root: Path
    database_url: str
    smtp_port: int
    extra: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environ(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "POSTWARDEN_DATA_DIR": str(self.root / "data"),
                "POSTWARDEN_SECRET_KEY": "fault-tests-secret-key-0123456789",
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "postwarden.settings",
                "EMAIL_PROVIDER": "smtp",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp_port),
                "SMTP_SECURITY": "none",
                "MAIL_FROM": "ops@example.com",
                "SMTP_TIMEOUT": "5",
                **self.extra,
            }
        )
        return env

    def script(self, *args: str, module: str = "tests.outbox.procs") -> Any:
        """Run ``module`` (this one by default) as a script in the place's environment;
        returns its JSON answer (the last line it prints)."""
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.environ(),
            cwd=self.root,
            capture_output=True,
            timeout=BOUND * 2,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"{module} {args} failed:\n{done.stderr.decode()[-3000:]}")
        return json.loads(done.stdout.decode().strip().splitlines()[-1])

    def worker(self, *args: str, name: str = "worker") -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "postwarden",
                "worker",
                "--retry-base",
                "0.05",
                "--idle-sleep",
                "0.05",
                "--worker-id",
                name,
                *args,
            ],
            env={**self.environ(), "POSTWARDEN_PROCESS": name},
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def serve(self, name: str = "serve") -> subprocess.Popen[bytes]:
        """``postwarden serve`` (web, worker and relay under one supervisor) in a process
        group of its own, so that a test can kill all of it at once (``os.killpg``). The
        place's ``extra`` must give it free ports (POSTWARDEN_PORT, POSTWARDEN_SMTP_LISTEN)."""
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "postwarden", "serve"],
            env=self.environ(),
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=BOUND)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=BOUND)


def wait_for(condition: Callable[[], bool], what: str, bound: float = BOUND, every: float = 0.1) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {bound} s waiting for {what}")
        time.sleep(every)


@pytest.fixture
def place_factory(tmp_path: Path) -> Iterator[Callable[..., Place]]:
    made: list[Place] = []

    def make(database_url: str | None, smtp_port: int, **extra: str) -> Place:
        place = Place(
            tmp_path, database_url or f"sqlite:///{tmp_path / 'outbox.sqlite3'}", smtp_port, dict(extra)
        )
        (tmp_path / "data").mkdir(exist_ok=True)
        place.script("migrate")
        made.append(place)
        return place

    try:
        yield make
    finally:
        for place in made:
            place.stop_all()


# -- the script side -------------------------------------------------------------------------


def _main(argv: list[str]) -> Any:
    import django

    django.setup()
    command = argv[0]
    if command == "migrate":
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return {"ok": True}
    if command == "enqueue":
        return _enqueue(int(argv[1]))
    if command == "states":
        return _states()
    raise SystemExit(f"unknown command {command}")


def _enqueue(count: int) -> list[str]:
    from django.db import transaction

    from postwarden.outbox.submission import Outgoing, enqueue_many

    ids: list[str] = []
    for start in range(0, count, 500):
        with transaction.atomic():
            results = enqueue_many(
                [
                    Outgoing(to=[f"user{i}@example.com"], subject=f"Message {i}", text="x")
                    for i in range(start, min(count, start + 500))
                ],
                source="batch",
            )
        ids += [r.message_id for r in results if not isinstance(r, Exception)]
    return ids


def _states() -> dict[str, Any]:
    from django.db.models import Count

    from postwarden.outbox.models import Attempt, Recipient

    by_state = dict(Recipient.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    lost = list(
        Attempt.objects.filter(outcome="lost").values_list("recipient__message__message_id", flat=True)
    )
    per_worker = dict(
        Attempt.objects.filter(outcome="sent")
        .values_list("worker")
        .annotate(n=Count("id"))
        .values_list("worker", "n")
    )
    # attempts that may have put the message on the server: sent, or cut short ("lost");
    # a worker's late report turns its lost attempt into the sent one it was
    reached = list(
        Attempt.objects.filter(outcome__in=("sent", "lost")).values_list(
            "recipient__message__message_id", flat=True
        )
    )
    lost_why = dict(
        Attempt.objects.filter(outcome="lost")
        .values_list("reply")
        .annotate(n=Count("id"))
        .values_list("reply", "n")
    )
    return {"states": by_state, "lost": lost, "reached": reached, "lost_why": lost_why, "sent_by": per_worker}


if __name__ == "__main__":
    print(json.dumps(_main(sys.argv[1:])))
