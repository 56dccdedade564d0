"""Old history rows deleted in small batches: the one way the monitor's jobs prune.

The outbox prunes its own messages (outbox/retention.py, with its rule about unfinished
recipients); what other apps keep as history — canary runs, sent alerts — ages out after the
same ``POSTWARDEN_RETENTION_DAYS`` through :func:`delete_in_batches`. Each batch is its own
short transaction so the worker's and the API's writes never wait long for SQLite's lock,
and a run that is told to stop stops between batches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

#: rows per delete: each batch is one short write transaction
BATCH: Final = 500


def cutoff(days: int, now: datetime | None = None) -> datetime | None:
    """The moment before which history goes; ``None`` for 0 days (kept for ever)."""
    return (now or timezone.now()) - timedelta(days=days) if days > 0 else None


def delete_in_batches(rows: QuerySet[Any], stopping: Callable[[], bool], batch: int = BATCH) -> int:
    """Delete ``rows`` (with what cascades from them) a batch at a time; how many went."""
    total = 0
    while not stopping():
        ids = list(rows.values_list("pk", flat=True)[:batch])
        if not ids:
            break
        with transaction.atomic():
            rows.model.objects.filter(pk__in=ids).delete()
        total += len(ids)
    return total
