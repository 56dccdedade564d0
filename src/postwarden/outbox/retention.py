"""Retention: what a finished message keeps, and for how long.

A message's body, raw source and attachments (its :class:`Content` row: most of the bytes
an install stores) are deleted ``POSTWARDEN_RETENTION_BODY_DAYS`` after it was enqueued; the
message itself, its recipients, attempts and timeline ``POSTWARDEN_RETENTION_DAYS`` after.
Only *finished* messages are touched: a message with a recipient still queued, being sent,
deferred or held keeps everything, whatever its age. Suppressions are never deleted by age:
a complaint or an unsubscribe must outlive the message that caused it (bounce suppressions
expire by their own rule, :mod:`postwarden.outbox.suppressions`).

Deletes go in small batches, each its own short transaction, so the worker's and the API's
writes wait at most one batch for SQLite's single write lock. On SQLite the freed pages are
then handed back to the file system a bounded number at a time (``PRAGMA incremental_vacuum``:
databases made by this version are created with ``auto_vacuum=INCREMENTAL``, accounts/bootstrap.py; an
older database reuses its free pages but only shrinks after one ``VACUUM``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from postwarden.core.config.model import DeliverySettings
from postwarden.outbox.models import Content, Message, Recipient, State

#: a recipient in one of these states may still need the message's body
UNFINISHED = (State.QUEUED, State.SENDING, State.DEFERRED, State.HELD)
#: messages per delete: each batch is one short write transaction
BATCH = 200
#: free pages handed back per ``incremental_vacuum`` call (4 KiB each)
VACUUM_PAGES = 2000


@dataclass(frozen=True, slots=True)
class Pruned:
    #: messages whose body, raw source and attachments were deleted
    bodies: int = 0
    #: messages deleted with their recipients, attempts and timeline
    messages: int = 0
    #: pages SQLite gave back to the file system
    pages: int = 0
    #: stopped at the time budget with more to do
    more: bool = False


def _finished(before: datetime) -> QuerySet[Message]:
    """Messages enqueued before ``before`` whose every recipient is done."""
    open_recipient = Recipient.objects.filter(message=OuterRef("pk"), state__in=UNFINISHED)
    return Message.objects.filter(created_at__lt=before).exclude(Exists(open_recipient))


def _delete_bodies(before: datetime) -> int:
    with transaction.atomic():
        ids = list(
            _finished(before)
            .filter(Exists(Content.objects.filter(message=OuterRef("pk"))))
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        Content.objects.filter(message_id__in=ids).delete()
    return len(ids)


def _delete_messages(before: datetime) -> int:
    with transaction.atomic():
        ids = list(_finished(before).order_by("pk").values_list("pk", flat=True)[:BATCH])
        Message.objects.filter(pk__in=ids).delete()
    return len(ids)


def _drain(step: Callable[[datetime], int], before: datetime, deadline: float) -> tuple[int, bool]:
    """Run ``step`` until it finds less than a batch, or the deadline passes (then True)."""
    total = 0
    while time.monotonic() <= deadline:
        done = step(before)
        total += done
        if done < BATCH:
            return total, False
    return total, True


def _give_back_pages(deadline: float) -> int:
    """Hand free pages back to the file system (SQLite, incremental auto-vacuum only), at
    most :data:`VACUUM_PAGES` per statement."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return 0  # executescript would commit the caller's transaction first
    connection.ensure_connection()
    raw = connection.connection  # the sqlite3 connection
    if _pragma(raw, "auto_vacuum") != 2:
        return 0
    given = 0
    free = _pragma(raw, "freelist_count")
    while free and time.monotonic() <= deadline:
        # executescript steps the statement to its end: execute() would step it once, and
        # each step frees one page
        raw.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")
        left = _pragma(raw, "freelist_count")
        if left >= free:
            break  # nothing could be freed now: the next pass tries again
        given, free = given + free - left, left
    return given


def _pragma(raw: Any, name: str) -> int:
    """The value of ``PRAGMA name`` (one row, one column) on the sqlite3 connection."""
    (value,) = raw.execute(f"PRAGMA {name}").fetchone()
    return int(value)


def prune(settings: DeliverySettings, *, now: datetime | None = None, budget: float = 5.0) -> Pruned:
    """Delete what the retention settings say is due, batch by batch, for at most about
    ``budget`` seconds (``more`` then says there is more to do)."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget
    bodies = messages = 0
    more = False
    if settings.retention_body_days:
        bodies, more = _drain(_delete_bodies, now - timedelta(days=settings.retention_body_days), deadline)
    if settings.retention_days and not more:
        messages, more = _drain(_delete_messages, now - timedelta(days=settings.retention_days), deadline)
    return Pruned(bodies, messages, _give_back_pages(deadline), more)
