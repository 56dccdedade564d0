"""The canaries' job in ``postwarden monitor``: one pass per run of the job."""

from __future__ import annotations

import time

import pytest

from postwarden.canaries import store
from postwarden.canaries.models import RunState
from postwarden.cli.monitor import JOB_SOURCES, load_jobs
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
