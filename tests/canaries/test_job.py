"""The canaries' job in ``postwarden monitor``: one pass per run of the job."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from postwarden.canaries import store
from postwarden.canaries.models import RunState
from postwarden.cli.monitor import JOB_SOURCES, load_jobs
from postwarden.configstore import runtime
from postwarden.monitor.jobs import JobRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_monitor_runs_a_pass_of_the_due_canaries(closed_port: int) -> None:
    [job] = [job for job in load_jobs(JOB_SOURCES) if job.name == "canaries"]
    assert job.every().total_seconds() == 5
    canary = store.create(
        store.CanaryInput(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=closed_port,
            imap_security="none",
            imap_user="canary@example.com",
            imap_password="secret-password-1",
        )
    )
    job.run(JobRun("canaries", deadline=time.monotonic() + 60))
    run = canary.runs.get()
    assert run.state == RunState.UNREACHABLE
    assert run.detail == "nothing was sent: connect: could not connect to the IMAP server: Connection refused"


def test_a_stopping_monitor_ends_the_pass_before_the_next_canary(closed_port: int) -> None:
    [job] = [job for job in load_jobs(JOB_SOURCES) if job.name == "canaries"]
    for n in range(2):
        store.create(
            store.CanaryInput(
                address=f"c{n}@example.com",
                imap_host="127.0.0.1",
                imap_port=closed_port,
                imap_security="none",
                imap_user="u",
                imap_password="secret-password-1",
            )
        )
    stopping = JobRun("canaries", deadline=time.monotonic() + 60)
    stopping.stop.set()
    job.run(stopping)
    from postwarden.canaries.models import CanaryRun

    assert CanaryRun.objects.count() == 0


def test_runs_older_than_the_retention_go_and_a_waiting_one_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from postwarden.canaries.models import Canary, CanaryRun
    from postwarden.monitor import history

    runtime.save({"POSTWARDEN_RETENTION_DAYS": "10"})
    monkeypatch.setattr(history, "BATCH", 2)  # several batches, each its own transaction
    [job] = [job for job in load_jobs(JOB_SOURCES) if job.name == "canaries.history"]
    assert job.every() == timedelta(hours=1)
    canary = Canary.objects.create(
        address="c@example.com", imap_host="127.0.0.1", imap_port=993, imap_user="u"
    )
    now = timezone.now()

    def run(token: str, age_days: int, state: str) -> None:
        CanaryRun.objects.create(
            canary=canary, token=token, state=state, started_at=now - timedelta(days=age_days)
        )

    for n in range(5):
        run(f"old{n}", 11, RunState.ARRIVED)
    run("old-missing", 30, RunState.MISSING)
    run("old-waiting", 11, RunState.WAITING)
    run("recent", 9, RunState.JUNK)
    job.run(JobRun("canaries.history", deadline=time.monotonic() + 60))
    assert sorted(CanaryRun.objects.values_list("token", flat=True)) == ["old-waiting", "recent"]


def test_retention_0_keeps_every_run() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from postwarden.canaries.jobs import prune_runs
    from postwarden.canaries.models import Canary, CanaryRun

    runtime.save({"POSTWARDEN_RETENTION_DAYS": "0"})
    canary = Canary.objects.create(
        address="c@example.com", imap_host="127.0.0.1", imap_port=993, imap_user="u"
    )
    CanaryRun.objects.create(
        canary=canary, token="t", state=RunState.ARRIVED, started_at=timezone.now() - timedelta(days=4000)
    )
    prune_runs(JobRun("canaries.history", deadline=time.monotonic() + 60))
    assert CanaryRun.objects.count() == 1


@contextmanager
def reading_beside_a_writer() -> Iterator[None]:
    """The test database is SQLite's shared in-memory one, where this thread's reads take
    table locks that make another thread's write fail at once ("database table is locked")
    instead of waiting. This thread only looks while the other writes: it reads without
    taking them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA read_uncommitted = 1")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 0")


class SilentServer:
    """Accepts IMAP connections and never greets (a mailbox host gone dark) until released."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held: list[socket.socket] = []
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.released.is_set():
            try:
                self.held.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def release(self) -> None:
        self.released.set()
        self.thread.join(5)
        for conn in self.held:
            conn.close()
        self.listener.close()


def test_a_silent_mailbox_does_not_hold_up_the_other_canaries(closed_port: int) -> None:
    """The silent mailbox's canary comes first in the pass; the other is still looked into
    (and ends unreachable) while the first waits on its server."""
    import threading

    from postwarden.canaries import runner
    from postwarden.canaries.models import Canary

    silent = SilentServer()
    try:

        def canary(address: str, port: int) -> Canary:
            return store.create(
                store.CanaryInput(
                    address=address,
                    imap_host="127.0.0.1",
                    imap_port=port,
                    imap_security="none",
                    imap_user=address,
                    imap_password="secret-password-1",
                )
            )

        dark, refused = canary("dark@example.com", silent.port), canary("refused@example.com", closed_port)
        assert dark.pk < refused.pk
        passing = threading.Thread(target=runner.run_due)
        with reading_beside_a_writer():
            passing.start()
            for _ in range(400):  # bounded: 20 s, below the IMAP timeout the dark mailbox holds
                if refused.runs.filter(state=RunState.UNREACHABLE).exists():
                    break
                time.sleep(0.05)
            assert refused.runs.get().state == RunState.UNREACHABLE
            assert passing.is_alive()  # the dark mailbox is still being waited on
            assert not dark.runs.exists()
    finally:
        silent.release()
    passing.join(60)
    assert not passing.is_alive()
    assert dark.runs.get().state == RunState.UNREACHABLE
