"""What only the console keeps: login throttling counters and the doctor runs started from
the console. (The recipient-suggestion mode, which the API follows too, is kept by accounts.)"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone


class LoginThrottle(models.Model):
    """Failed log-ins in the current window for one key (``account:<email>`` or
    ``ip:<address>``). A row in the database, not a cache entry, so that every web
    process (waitress threads, several machines on PostgreSQL) counts the same failures."""

    key = models.CharField(max_length=400, primary_key=True)
    window_start = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(default=0)

    objects: ClassVar[models.Manager[LoginThrottle]]

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class DoctorRun(models.Model):
    """One doctor report as the console ran it; the overview shows the newest."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    ok = models.BooleanField(default=False)
    root_cause = models.CharField(max_length=64, blank=True)
    #: the doctor's JSON contract (docs/spec/doctor.md), secrets already reduced to set/empty
    report: models.JSONField[Any] = models.JSONField(default=dict)
    #: the report's sentences in each shipped language but English, by their place in the
    #: report (console/doctor_pipeline.py translations): a later reader gets their own
    texts: models.JSONField[Any] = models.JSONField(default=dict)

    objects: ClassVar[models.Manager[DoctorRun]]

    class Meta:
        ordering = ("-started_at",)

    def __str__(self) -> str:
        return f"doctor {self.started_at:%Y-%m-%d %H:%M} {self.root_cause or 'ok'}"
