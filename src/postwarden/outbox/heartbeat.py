"""Worker heartbeats (STYLE.md §13): who is running, since when, with which settings.

The doctor's ``queue.worker_down`` reads ``last_seen``; ``config.process_drift`` compares
``fingerprint`` with the web process's own (both keyed with the service's secret key);
``/metrics`` and ``/healthz`` read the counters and the age."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.utils import timezone

import postwarden
from postwarden.core.config.model import Settings
from postwarden.core.config.service import fingerprint
from postwarden.core.secrets import Secret
from postwarden.outbox.models import WorkerHeartbeat

#: a heartbeat older than this means the worker is gone (it writes every few seconds)
STALE_AFTER = timedelta(seconds=60)


def settings_fingerprint(settings: Settings) -> str:
    """The fingerprint this process runs with, comparable with any other process's."""
    return fingerprint(settings, Secret(django_settings.SECRET_KEY))


def beat(
    worker_id: str,
    *,
    settings: Settings,
    transport: str,
    status: str,
    counters: dict[str, Any],
    started_at: datetime,
    now: datetime | None = None,
) -> None:
    """Write (or refresh) this worker's row."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "version": postwarden.__version__,
            "started_at": started_at,
            "last_seen": now or timezone.now(),
            "status": status,
            "fingerprint": settings_fingerprint(settings),
            "transport": transport,
            "counters": counters,
        },
    )


def newest(now: datetime | None = None) -> tuple[WorkerHeartbeat | None, float | None]:
    """The most recent heartbeat of a running worker and its age in seconds."""
    row = WorkerHeartbeat.objects.filter(status="running").order_by("-last_seen").first()
    if row is None:
        return None, None
    return row, ((now or timezone.now()) - row.last_seen).total_seconds()
