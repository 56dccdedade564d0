"""The overview's figures. Every query reads an index (rcpt_pending, rcpt_state) and a
bounded range, so the page stays fast on a database of a million messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from django.core.cache import cache
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from postwarden.outbox.models import NOT_USER_MAIL, PENDING_STATES, Message, Recipient, State, WorkerHeartbeat

#: chart series -> the recipient states counted in it
SERIES: Final[dict[str, tuple[str, ...]]] = {
    "sent": (State.SENT, State.DELIVERED),
    "failed": (State.FAILED, State.DEAD),
    "bounced": (State.BOUNCED, State.COMPLAINED),
    "suppressed": (State.SUPPRESSED,),
}
#: a worker not seen for this long is shown as down (it beats every few seconds)
STALE_AFTER: Final = timedelta(seconds=60)
HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Queue:
    depth: int
    oldest: datetime | None
    sending: int
    held: int
    dead: int
    #: refused permanently (all time: they stay until a person retries or cancels them)
    failed: int = 0
    #: of ``depth``, waiting for their next try after a failure
    deferred: int = 0


def queue() -> Queue:
    pending = Recipient.objects.filter(state__in=PENDING_STATES)
    # queued_at, not the message's created_at: MIN over a join cannot stop early and reads
    # every message (1.6 s on a million); the pending rows are few and found by index
    waiting_since = pending.aggregate(oldest=Min("queued_at"))["oldest"]
    counts = dict(
        Recipient.objects.filter(
            state__in=(State.SENDING, State.HELD, State.DEAD, State.FAILED, State.DEFERRED)
        )
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
        failed=counts.get(State.FAILED, 0),
        deferred=counts.get(State.DEFERRED, 0),
    )


Day = tuple[list[datetime], dict[datetime, dict[str, int]], dict[str, int]]
#: the chart reads a day of messages (0.4 s for 43k on SQLite): the overview reuses it briefly
DAY_CACHE_SECONDS: Final = 30


def last_day_cached() -> Day:
    cached: Day | None = cache.get("console:last_day")
    if cached is None:
        cached = last_day()
        cache.set("console:last_day", cached, DAY_CACHE_SECONDS)
    return cached


def last_day(now: datetime | None = None) -> Day:
    """Hourly slots of the last 24 h (by enqueue time), recipients per slot and series (by
    their state now), and totals per series."""
    now = now or timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    slots = [start + timedelta(hours=i) for i in range(24)]
    by_state = {state: name for name, states in SERIES.items() for state in states}
    # Recipients of the messages enqueued in the last 24 h, by their state now: a range
    # of the messages' created_at index, then each message's recipients by their index.
    # (Recipient.updated_at has no index: every result write touches it.) One filtered
    # COUNT per hour, compared in the database, instead of truncating every row's
    # timestamp (a Python function per row on SQLite: 1.4 s on a day of 43k messages).
    # Driven from Message: grouping Recipient by state makes SQLite walk the whole state index.
    buckets = {
        f"h{i}": Count("recipients__id", filter=Q(created_at__gte=slot, created_at__lt=slot + HOUR))
        for i, slot in enumerate(slots)
    }
    day = Message.objects.filter(created_at__gte=start)
    counts: dict[datetime, dict[str, int]] = {}
    totals = dict.fromkeys(SERIES, 0)
    # The application's mail only: the canaries' few messages are counted through their
    # partial index and taken off, so the day's query stays on the covering created_at index.
    for rows, sign in (
        (day.values(state=F("recipients__state")).annotate(**buckets).order_by(), 1),
        (
            day.filter(source__in=NOT_USER_MAIL)
            .values(state=F("recipients__state"))
            .annotate(**buckets)
            .order_by(),
            -1,
        ),
    ):
        _add(rows, slots, by_state, counts, totals, sign)
    counts = {slot: {k: n for k, n in hour.items() if n} for slot, hour in counts.items()}
    return slots, {slot: hour for slot, hour in counts.items() if hour}, totals


def _add(
    rows: Any,
    slots: list[datetime],
    by_state: dict[str, str],
    counts: dict[datetime, dict[str, int]],
    totals: dict[str, int],
    sign: int,
) -> None:
    row: dict[str, Any]
    for row in rows:
        name = by_state.get(row["state"])
        if name is None:
            continue
        for i, slot in enumerate(slots):
            n = int(row[f"h{i}"]) * sign
            if n:
                hour = counts.setdefault(slot, {})
                hour[name] = hour.get(name, 0) + n
                totals[name] += n


@dataclass(frozen=True, slots=True)
class WorkerRow:
    row: WorkerHeartbeat
    alive: bool
    drift: bool

    @property
    def condition(self) -> str:
        """running, misconfigured, stopped (it said so on its way out: a clean stop or a
        restart), crashed (another worker found its process gone) or silent (no
        heartbeat for a while and no goodbye: killed, hung, or its machine is down)."""
        status = self.row.status
        if self.alive or status == "stopped":
            return status
        if status == "dead":
            return "crashed"
        return "silent"


def workers(web_fingerprint: str, now: datetime | None = None) -> list[WorkerRow]:
    """Workers seen in the last day, newest first; ``drift`` when a live worker runs with
    other sending settings than this web process (docs/spec/doctor.md config.process_drift)."""
    now = now or timezone.now()
    rows = WorkerHeartbeat.objects.filter(last_seen__gte=now - timedelta(days=1)).order_by("-last_seen")[:20]
    found = []
    for row in rows:
        alive = row.status in ("running", "misconfigured") and now - row.last_seen <= STALE_AFTER
        found.append(
            WorkerRow(row, alive, alive and bool(row.fingerprint) and row.fingerprint != web_fingerprint)
        )
    return found
