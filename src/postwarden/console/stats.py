"""The overview's figures. Every query reads an index (rcpt_pending, rcpt_state) and a
bounded range, so the page stays fast on a database of a million messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.db.models import Count, Min
from django.db.models.functions import TruncHour
from django.utils import timezone

from postwarden.outbox.models import PENDING_STATES, Recipient, State, WorkerHeartbeat

#: chart series -> the recipient states counted in it
SERIES: Final[dict[str, tuple[str, ...]]] = {
    "sent": (State.SENT, State.DELIVERED),
    "failed": (State.FAILED, State.DEAD),
    "bounced": (State.BOUNCED, State.COMPLAINED),
    "suppressed": (State.SUPPRESSED,),
}
#: a worker not seen for this long is shown as down (it beats every few seconds)
STALE_AFTER: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Queue:
    depth: int
    oldest: datetime | None
    sending: int
    held: int
    dead: int


def queue() -> Queue:
    pending = Recipient.objects.filter(state__in=PENDING_STATES)
    waiting_since = pending.aggregate(oldest=Min("message__created_at"))["oldest"]
    counts = dict(
        Recipient.objects.filter(state__in=(State.SENDING, State.HELD, State.DEAD))
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Queue(
        depth=pending.count(),
        oldest=waiting_since,
        sending=counts.get(State.SENDING, 0),
        held=counts.get(State.HELD, 0),
        dead=counts.get(State.DEAD, 0),
    )


def last_day(
    now: datetime | None = None,
) -> tuple[list[datetime], dict[datetime, dict[str, int]], dict[str, int]]:
    """Hourly slots of the last 24 h, counts per slot and series, and totals per series."""
    now = now or timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    slots = [start + timedelta(hours=i) for i in range(24)]
    by_state = {state: name for name, states in SERIES.items() for state in states}
    rows = (
        Recipient.objects.filter(state__in=list(by_state), updated_at__gte=start)
        .annotate(hour=TruncHour("updated_at"))
        .values_list("hour", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[datetime, dict[str, int]] = {}
    totals = dict.fromkeys(SERIES, 0)
    for hour, state, n in rows:
        name = by_state[state]
        slot = counts.setdefault(hour, {})
        slot[name] = slot.get(name, 0) + n
        totals[name] += n
    return slots, counts, totals


@dataclass(frozen=True, slots=True)
class Worker:
    row: WorkerHeartbeat
    alive: bool
    drift: bool


def workers(web_fingerprint: str, now: datetime | None = None) -> list[Worker]:
    """Workers seen in the last day, newest first; ``drift`` when a live worker runs with
    other sending settings than this web process (spec/doctor.md config.process_drift)."""
    now = now or timezone.now()
    rows = WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(days=1)).order_by("-last_seen")[:20]
    found = []
    for row in rows:
        alive = row.status == "running" and now - row.last_seen <= STALE_AFTER
        found.append(
            Worker(row, alive, alive and bool(row.fingerprint) and row.fingerprint != web_fingerprint)
        )
    return found
