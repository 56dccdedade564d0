"""``/metrics`` (Prometheus text) and ``/healthz`` (JSON, 200 or 503).

Both read the database, not this process's memory: the web process serves them while
the counting happens in workers, possibly on other machines, which write their counters
into their heartbeat rows (outbox/worker/stats.py). Queue gauges are live counts.
Neither needs a login (monitoring systems do not have one); they show figures, never
addresses or message content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from postwarden.outbox.heartbeat import STALE_AFTER, newest
from postwarden.outbox.models import NOT_USER_MAIL, PENDING_STATES, Recipient, State, WorkerHeartbeat

#: heartbeats older than this are left out of /metrics (a worker that is long gone)
FORGET_AFTER = timedelta(hours=1)
#: collectors of the apps above the outbox (canaries), registered by their AppConfig.ready:
#: the outbox serves /metrics but may not import them (the layers in pyproject.toml)
_EXTRA_COLLECTORS: list[Callable[[], Any]] = []


def add_collector(factory: Callable[[], Any]) -> None:
    """Have /metrics also collect ``factory()`` (a prometheus_client collector)."""
    if factory not in _EXTRA_COLLECTORS:
        _EXTRA_COLLECTORS.append(factory)


class OutboxCollector:
    """Collects every family from the database at scrape time."""

    def collect(self) -> Iterator[Any]:
        now = timezone.now()
        yield from _queue(now)
        yield from _workers(now)

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only


def _queue(now: Any) -> Iterator[Any]:
    states = GaugeMetricFamily(
        "postwarden_recipients",
        "Recipients by state (the application's mail: canaries left out)",
        labels=["state"],
    )
    counts = dict(Recipient.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    # the whole table's counts come from the state index alone; the canaries' few rows are
    # found through their messages' partial index and taken off
    ours = (
        Recipient.objects.filter(message__source__in=NOT_USER_MAIL)
        .values_list("state")
        .annotate(n=Count("id"))
    )
    for state, n in ours.values_list("state", "n"):
        counts[state] = counts.get(state, 0) - n
    for state in State.values:
        states.add_metric([state], counts.get(state, 0))
    yield states
    oldest = Recipient.objects.filter(state__in=PENDING_STATES).aggregate(at=Min("next_attempt_at"))["at"]
    waiting = GaugeMetricFamily(
        "postwarden_oldest_waiting_seconds",
        "Age of the longest-waiting queued or deferred recipient (0 when none)",
    )
    waiting.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield waiting


def _workers(now: Any) -> Iterator[Any]:
    rows = list(WorkerHeartbeat.objects.filter(last_seen__gte=now - FORGET_AFTER))
    age = GaugeMetricFamily(
        "postwarden_worker_heartbeat_age_seconds",
        "Seconds since a worker's heartbeat",
        labels=["worker", "transport", "status"],
    )
    attempts = CounterMetricFamily(
        "postwarden_attempts",
        "Delivery attempts by outcome (sent, deferred, failed, dead)",
        labels=["worker", "transport", "outcome"],
    )
    retries = CounterMetricFamily("postwarden_retries", "Attempts that ended in a retry", labels=["worker"])
    errors = CounterMetricFamily(
        "postwarden_transport_errors", "Transport exceptions (poison messages, bugs)", labels=["worker"]
    )
    latency = HistogramMetricFamily(
        "postwarden_attempt_duration_seconds", "Attempt latency per transport", labels=["worker", "transport"]
    )
    for row in rows:
        counters = row.counters or {}
        age.add_metric([row.worker_id, row.transport, row.status], (now - row.last_seen).total_seconds())
        for transport, outcomes in (counters.get("attempts") or {}).items():
            for outcome, value in outcomes.items():
                attempts.add_metric([row.worker_id, transport, outcome], value)
        retries.add_metric([row.worker_id], counters.get("retries", 0))
        errors.add_metric([row.worker_id], counters.get("errors", 0))
        for transport, hist in (counters.get("latency") or {}).items():
            latency.add_metric([row.worker_id, transport], _buckets(hist), hist.get("sum", 0.0))
    yield from (age, attempts, retries, errors, latency)


def _buckets(hist: dict[str, Any]) -> list[tuple[str, float]]:
    """Per-bucket counts -> Prometheus's cumulative ``le`` buckets."""
    bounds, counts = list(hist.get("buckets", [])), list(hist.get("counts", []))
    cumulative, total = [], 0
    for bound, count in zip([*map(str, bounds), "+Inf"], counts, strict=False):
        total += count
        cumulative.append((bound, float(total)))
    return cumulative


@login_not_required
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector())
    for factory in _EXTRA_COLLECTORS:
        registry.register(factory())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers and a worker was seen within a minute, else 503."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        row, age = newest()
    except DatabaseError as exc:
        return JsonResponse(
            {"ok": False, "database": f"unreachable: {type(exc).__name__}", "worker": None}, status=503
        )
    worker = (
        None
        if row is None
        else {
            "id": row.worker_id,
            "status": row.status,
            "transport": row.transport,
            "heartbeat_age_seconds": round(age or 0.0, 1),
            "version": row.version,
        }
    )
    fresh = age is not None and age <= STALE_AFTER.total_seconds()
    body = {"ok": fresh, "database": "ok", "worker": worker}
    if not fresh:
        body["problem"] = (
            "no worker has written a heartbeat"
            if row is None
            else f"the newest worker heartbeat is {age:.0f} s old: is `postwarden worker` running?"
        )
    return JsonResponse(body, status=200 if fresh else 503)
