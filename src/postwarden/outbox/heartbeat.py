"""Worker heartbeats (docs/style.md §13): who is running, since when, with which settings.

The doctor's ``queue.worker_down`` reads ``last_seen``; ``config.process_drift`` compares
``fingerprint`` with the web process's own (both keyed with the service's secret key);
``/metrics`` and ``/healthz`` read the counters and the age."""

from __future__ import annotations

import functools
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
from postwarden.outbox.worker.liveness import ProcessId, gone, this_process

#: a heartbeat older than this means the worker is gone (it writes every few seconds)
STALE_AFTER = timedelta(seconds=60)
#: the statuses of a worker that may hold recipients
HOLDING = ("running", "misconfigured")


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
    here = _here()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "space": here.space,
            "pid_start": here.start,
            "version": postwarden.__version__,
            "started_at": started_at,
            "last_seen": now or timezone.now(),
            "status": status,
            "fingerprint": settings_fingerprint(settings),
            "transport": transport,
            "counters": counters,
        },
    )


def _here() -> ProcessId:
    return _process(os.getpid())  # by pid: a forked child is another process


@functools.cache
def _process(pid: int) -> ProcessId:
    return this_process()


def dead_here() -> list[str]:
    """The workers on this machine (this process's space) whose process is gone while
    their heartbeat says they may hold recipients. What they held may be taken back at
    once (worker/leases.take_back_from_dead, which marks them dead)."""
    here = _here()
    if not here.space:
        return []
    rows = WorkerHeartbeat.objects.filter(space=here.space, status__in=HOLDING).values_list(
        "worker_id", "pid", "pid_start"
    )
    return [worker for worker, pid, start in rows if gone(here, ProcessId(here.space, pid, start))]


def mark_dead(worker_ids: list[str]) -> None:
    WorkerHeartbeat.objects.filter(worker_id__in=worker_ids, status__in=HOLDING).update(status="dead")


def newest(now: datetime | None = None) -> tuple[WorkerHeartbeat | None, float | None]:
    """The most recent heartbeat of a running worker and its age in seconds."""
    row = WorkerHeartbeat.objects.filter(status="running").order_by("-last_seen").first()
    if row is None:
        return None, None
    return row, ((now or timezone.now()) - row.last_seen).total_seconds()
