"""The monitor's schedule and leases (monitor/schedule.py): one row per periodic job."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class MonitorJob(models.Model):
    """A periodic job's last run and who holds it now.

    The lease (``holder``, ``lease_until``) makes exactly one monitor run the job in a
    multi-node install; ``last_started_at`` is the schedule, kept here so that a restart
    neither runs a job early nor twice."""

    name = models.CharField(max_length=100, primary_key=True)
    #: the monitor running (or that last ran) the job: host:pid:random
    holder = models.CharField(max_length=200, blank=True)
    #: while in the future, no other monitor may start the job
    lease_until = models.DateTimeField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    #: ok, failed, or empty before the first run
    last_outcome = models.CharField(max_length=16, blank=True)
    #: the failure's type and first line, redacted (no secret)
    last_error = models.CharField(max_length=500, blank=True)
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)

    objects: ClassVar[models.Manager[MonitorJob]]

    def __str__(self) -> str:
        return self.name
