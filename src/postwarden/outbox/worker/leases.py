"""The worker's leases: renewing what a worker holds, returning to the queue what a
silent or dead worker held (reaping) and what a stopping worker never sent (release).
Each only moves rows as they were read (same attempt, still ``sending``), so a result
written meanwhile is never undone; the row classes name the columns they set.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from django.db import connection, transaction

from postwarden.core.i18n import Text
from postwarden.outbox import bulk_sql, heartbeat, states
from postwarden.outbox.models import Attempt, Recipient, State
from postwarden.outbox.states import Move

if TYPE_CHECKING:
    from postwarden.outbox.worker.claim import Job


#: what an attempt cut short by a silent worker says in the timeline
LOST: Final = Text(
    "the worker holding this recipient stopped before it reported (its lease expired); "
    "the server may or may not have the message"
)


#: … and one whose worker's process was found gone (a worker on the same machine)
DIED: Final = Text(
    "the worker holding this recipient died before it reported (its process is gone); "
    "the server may or may not have the message"
)


def back_in_queue(why: str) -> Text:
    """A recipient's reason once a silent worker's claim on it is taken back."""
    return Text("back in the queue: {why}", why=why)


#: the sentences the worker stores by batched SQL (an attempt's reply, a recipient's
#: reason), by their English: said again in the reader's language where they are shown
SAID: Final[dict[str, Text]] = {str(t): t for t in (LOST, DIED, back_in_queue(LOST), back_in_queue(DIED))}


class _Requeue(NamedTuple):
    """A recipient queued again (reaped or released): the columns it sets, then the row
    as it was read (same attempt count, still ``was``)."""

    state: str
    next_attempt_at: datetime
    lease_until: None
    claimed_by: str
    reason: str
    updated_at: datetime
    # WHERE
    id: int
    attempts: int
    was: str


_REQUEUE = _Requeue._fields[:-3]


_REQUEUE_KEY = ("id", "attempts", "state")


class _Release(NamedTuple):
    """A claimed recipient given back unsent: queued as if never claimed."""

    state: str
    next_attempt_at: datetime
    lease_until: None
    claimed_by: str
    attempts: int
    updated_at: datetime
    # WHERE
    id: int
    attempt: int
    held_by: str
    was: str


_RELEASE = _Release._fields[:-4]


_RELEASE_KEY = ("id", "attempts", "claimed_by", "state")


def reap_expired(now: datetime) -> int:
    """Return recipients whose lease expired to the queue; their attempt is marked lost."""
    return _requeue(Recipient.objects.filter(state=State.SENDING, lease_until__lt=now), now, LOST)


def take_back(worker_ids: Sequence[str], now: datetime) -> int:
    """Return what the given workers held to the queue, lease or not: their processes are
    gone (heartbeat.dead_here). Their attempts are marked lost."""
    if not worker_ids:
        return 0
    return _requeue(Recipient.objects.filter(state=State.SENDING, claimed_by__in=worker_ids), now, DIED)


def take_back_from_dead(now: datetime) -> tuple[list[str], int]:
    """Find the workers of this machine whose process is gone (a read, no lock) and
    return what they held to the queue (one transaction): the worker ids and the number
    of recipients. Two workers finding the same dead one take each row back once."""
    dead = heartbeat.dead_here()
    if not dead:
        return [], 0
    with transaction.atomic():
        heartbeat.mark_dead(dead)
        return dead, take_back(dead, now)


def _requeue(rows: Any, now: datetime, why: str) -> int:
    """Queue ``rows`` (sending) again, their open attempts marked lost with ``why``; each
    row only as it was read (same attempt count, still sending), so a result recorded
    meanwhile is never undone."""
    found = list(rows.values_list("pk", "attempts"))
    if not found:
        return 0
    bulk_sql.update(
        Attempt,
        ("outcome", "finished_at", "reply"),
        ("recipient", "number", "outcome"),
        [("lost", now, str(why), pk, attempts, "sending") for pk, attempts in found],
    )
    # the move's one source and its target, from the table (a batched UPDATE compares with =)
    was, landing = states.source_of(Move.LOST).value, states.target(Move.LOST).value
    reason = str(back_in_queue(why))
    bulk_sql.update(
        Recipient,
        _REQUEUE,
        _REQUEUE_KEY,
        [_Requeue(landing, now, None, "", reason, now, pk, attempts, was) for pk, attempts in found],
    )
    return len(found)


def release(jobs: Sequence[Job], worker_id: str, now: datetime) -> int:
    """Give back claimed recipients that were never sent (shutdown): queued again, as if
    never claimed; their "sending" attempts are deleted."""
    claimed = [c for job in jobs for c in job.recipients]
    if not claimed:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"DELETE FROM {bulk_sql.table(Attempt)} "  # noqa: S608
                "WHERE recipient_id = %s AND number = %s AND outcome = 'sending'",
                [(c.pk, c.attempt) for c in claimed],
            )
        was, landing = states.source_of(Move.RELEASED).value, states.target(Move.RELEASED).value
        bulk_sql.update(
            Recipient,
            _RELEASE,
            _RELEASE_KEY,
            [
                _Release(landing, now, None, "", c.attempt - 1, now, c.pk, c.attempt, worker_id, was)
                for c in claimed
            ],
        )
    return len(claimed)


def renew(worker_id: str, until: datetime) -> set[int]:
    """Extend the lease of every recipient this worker still holds; returns their ids.
    A recipient it claimed that is not among them was taken back (the worker was silent
    longer than its lease) and must not be sent by it any more."""
    in_flight = ", ".join(f"'{s.value}'" for s in states.IN_FLIGHT)
    sql = (
        f"UPDATE {bulk_sql.table(Recipient)} SET lease_until = %s "  # noqa: S608
        f"WHERE state IN ({in_flight}) AND claimed_by = %s RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [bulk_sql.datetime_adapter()(until), worker_id])
        return {pk for (pk,) in cursor.fetchall()}
