"""POSTWARDEN_SEND_RATE: messages per second for a transport, across every worker.

A shared time-slot reservation, not a per-process bucket: one row per transport holds
the moment from which the next message may go, and a worker reserves ``n`` slots with
one conditional UPDATE (``next_at = max(next_at, now) + n / rate``), which is atomic on
SQLite (one writer) and on PostgreSQL (row lock), so two workers can never hold the same
slot. Workers reserve small chunks and pace them locally, so the database sees a few
statements per second whatever the rate. A recipient counts as one message, as
Amazon SES counts its sending rate per recipient.

Clocks: slots are wall-clock seconds; workers on several machines need synchronised
clocks (NTP), as the leases do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final

from django.db import connection, transaction

from postwarden.outbox.models import RateSlot

#: seconds of sending one reservation covers: short enough that an idle worker does not
#: sit on slots another could use, long enough to keep the statements few
CHUNK_SECONDS: Final = 0.25
MAX_CHUNK: Final = 500
#: seconds after which an unused slot is dropped
STALE_AFTER: Final = 0.05


def reserve(key: str, count: int, rate: float, now: float | None = None) -> float:
    """Reserve ``count`` consecutive slots; returns the time (epoch seconds) of the first.
    Runs in its own short transaction."""
    moment = time.time() if now is None else now
    span = count / rate
    quote = connection.ops.quote_name
    table, column = quote(RateSlot._meta.db_table), quote("key")
    sql = (
        f"UPDATE {table} SET next_at = CASE WHEN next_at > %s THEN next_at ELSE %s END + %s "  # noqa: S608
        f"WHERE {column} = %s RETURNING next_at"
    )
    with transaction.atomic():
        RateSlot.objects.get_or_create(key=key)
        with connection.cursor() as cursor:
            cursor.execute(sql, [moment, moment, span, key])
            row = cursor.fetchone()
    assert row is not None
    (next_at,) = row
    return float(next_at) - span


class RateLimiter:
    """Hands out send permits at ``rate`` per second; ``rate`` 0 means unlimited.
    ``reserver(key, count, rate)`` runs :func:`reserve` on the worker's DB thread."""

    def __init__(
        self, key: str, rate: float, reserver: Callable[[str, int, float], Awaitable[float]]
    ) -> None:
        self.key = key
        self.rate = rate
        self._reserver = reserver
        self._slots: list[float] = []
        self._lock = asyncio.Lock()

    async def acquire(self, count: int = 1) -> None:
        """Wait until ``count`` messages may go."""
        if self.rate <= 0:
            return
        async with self._lock:
            # a slot left over from a quiet spell is spent: using it now would add to
            # the slots other workers hold for this moment
            stale = time.time() - STALE_AFTER
            while self._slots and self._slots[0] < stale:
                self._slots.pop(0)
            while len(self._slots) < count:
                chunk = max(count - len(self._slots), min(MAX_CHUNK, int(self.rate * CHUNK_SECONDS) or 1))
                first = await self._reserver(self.key, chunk, self.rate)
                self._slots.extend(first + i / self.rate for i in range(chunk))
            last = self._slots[count - 1]
            del self._slots[:count]
        wait = last - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
