"""The alerts' monitor jobs with intervals for tests (``postwarden monitor --source
tests.alerts.fast_jobs:jobs``): the database's conditions looked at every second instead
of every minute; the jobs themselves are the real ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from postwarden.alerts.jobs import monitor_jobs
from postwarden.monitor.jobs import PeriodicJob, fixed


def jobs() -> list[PeriodicJob]:
    quick = {"alerts.evaluate": timedelta(seconds=1), "alerts.send": timedelta(milliseconds=200)}
    return [replace(job, every=fixed(quick[job.name])) for job in monitor_jobs() if job.name in quick]
