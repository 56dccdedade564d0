"""The schedule and the leases, in the database (models.MonitorJob).

Claiming is one conditional UPDATE: the job is due (never started, or started at least
an interval ago) and nobody holds it (no lease, or an expired one). Two monitors asking
at once both run the statement; the database serializes them (SQLite's single writer,
PostgreSQL's row lock, after which the second re-reads the row and finds the lease
taken), so exactly one gets the row. The start time is written in the same statement:
a monitor that crashes mid-run, or restarts, does not run the job again before its
next turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from postwarden.monitor.models import MonitorJob

#: a lease lasts a run's time limit and this much more: the monitor holding it exits at
#: the time limit, so no other node can start the job while that run may still be going
LEASE_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class Slot:
    """A job's schedule as read: when it last started and whether a lease holds it."""

    name: str
    last_started_at: datetime | None
    lease_until: datetime | None

    def due_at(self, every: timedelta) -> datetime | None:
        """When the job may next start; None: now (it never ran)."""
        free_at = self.lease_until
        next_at = None if self.last_started_at is None else self.last_started_at + every
        if free_at is None:
            return next_at
        return free_at if next_at is None else max(free_at, next_at)


def ensure(names: Iterable[str], later: Iterable[str] = (), now: datetime | None = None) -> None:
    """A row for each job: due at once, or for those in ``later`` one interval from now
    (their start counted as now); a row that is there stays as it is."""
    now = now or timezone.now()
    wait = set(later)
    rows = [MonitorJob(name=name, last_started_at=now if name in wait else None) for name in names]
    MonitorJob.objects.bulk_create(rows, ignore_conflicts=True)


def read(names: Iterable[str]) -> dict[str, Slot]:
    rows = MonitorJob.objects.filter(name__in=list(names)).values_list(
        "name", "last_started_at", "lease_until"
    )
    return {name: Slot(name, started, lease) for name, started, lease in rows}


def claim(
    name: str, holder: str, every: timedelta, timeout: timedelta, now: datetime | None = None
) -> datetime | None:
    """Take the job if it is due and free; returns the run's start time, None when another
    monitor holds it or it is not due."""
    now = now or timezone.now()
    taken = (
        MonitorJob.objects.filter(name=name)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .filter(Q(last_started_at__isnull=True) | Q(last_started_at__lte=now - every))
        .update(
            holder=holder[:200],
            lease_until=now + timeout + LEASE_GRACE,
            last_started_at=now,
            runs=F("runs") + 1,
        )
    )
    return now if taken else None


def finish(name: str, holder: str, started: datetime, error: str | None, now: datetime | None = None) -> None:
    """Record the run's end and give the lease back (only this run's: a lease that expired
    and was taken by another monitor stays theirs)."""
    fields: dict[str, object] = {
        "lease_until": None,
        "last_finished_at": now or timezone.now(),
        "last_outcome": "ok" if error is None else "failed",
        "last_error": (error or "")[:500],
    }
    if error is not None:
        fields["failures"] = F("failures") + 1
    MonitorJob.objects.filter(name=name, holder=holder[:200], last_started_at=started).update(**fields)
