"""The canaries' periodic jobs for ``postwarden monitor`` (cli/monitor.py's JOB_SOURCES):
a pass of :func:`postwarden.canaries.runner.run_due` every few seconds. A pass never
waits for mail (a waiting run gets one bounded look per pass), so it is short; the
monitor's lease on the job and each canary's own lease keep it to one node. Hourly, runs
older than ``POSTWARDEN_RETENTION_DAYS`` are deleted (a run still waiting is kept)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from postwarden.monitor.jobs import JobRun, PeriodicJob, fixed

#: how often a pass looks: the first look at a new run's mailbox comes this soon
EVERY: Final = timedelta(seconds=5)
#: how often old runs are pruned
PRUNE_EVERY: Final = timedelta(hours=1)


def _pass(job: JobRun) -> None:
    from postwarden.canaries.runner import run_due

    run_due(stop=job.stopping)


def prune_runs(job: JobRun) -> None:
    """Delete finished runs started before the retention cutoff."""
    from postwarden.canaries.models import CanaryRun, RunState
    from postwarden.configstore.runtime import current_settings
    from postwarden.monitor.history import cutoff, delete_in_batches

    before = cutoff(current_settings().delivery.retention_days)
    if before is not None:
        old = CanaryRun.objects.filter(started_at__lt=before).exclude(state=RunState.WAITING)
        delete_in_batches(old, job.stopping)


def monitor_jobs() -> list[PeriodicJob]:
    # a pass looks into each due mailbox once, each IMAP step bounded (30 s)
    return [
        PeriodicJob("canaries", _pass, fixed(EVERY), timeout=timedelta(minutes=15)),
        PeriodicJob("canaries.history", prune_runs, fixed(PRUNE_EVERY), timeout=timedelta(minutes=10)),
    ]
