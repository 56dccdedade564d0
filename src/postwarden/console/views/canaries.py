"""Canaries: the mailboxes a canary is sent to, each with its status, the last 30 days as
charts (where the canaries landed, how long they took, what the receiver concluded) and
every run's details with the headers that matter. Runs start from the monitor's schedule,
or now with "Run now"."""

from __future__ import annotations

import logging
import statistics
from datetime import datetime, timedelta
from typing import Any, Final

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from postwarden.canaries import store
from postwarden.canaries.models import Canary, CanaryRun, RunState
from postwarden.canaries.status import status_of
from postwarden.console import charts
from postwarden.console.forms.canary import CanaryForm
from postwarden.core.doctor.checks.canary import FAILING

log = logging.getLogger("postwarden.console.canaries")
DAYS: Final = 30
RUNS_SHOWN: Final = 50
PLACEMENTS: Final = ("inbox", "junk", "other", "missing", "unreachable")
VERDICTS: Final = ("pass", "fail", "unreported")


def canaries(request: HttpRequest) -> HttpResponse:
    form = CanaryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        canary = form.save()
        if canary is not None:
            log.info("canary added", extra={"by": request.user.pk, "canary": canary.name})
            messages.success(
                request,
                _("Canary %(name)s added; its first run starts at the next pass.") % {"name": canary.name},
            )
            return redirect("console:canary", pk=canary.pk)
    rows = [(c, status_of(c)) for c in Canary.objects.select_related("last_run").order_by("name")]
    return render(request, "console/canaries.html", {"rows": rows, "form": form, "now": timezone.now()})


def canary(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Canary.objects.select_related("last_run"), pk=pk)
    form = CanaryForm(request.POST or None, canary=row)
    if request.method == "POST" and form.is_valid() and form.save() is not None:
        log.info("canary changed", extra={"by": request.user.pk, "canary": row.name})
        messages.success(request, _("Canary %(name)s saved.") % {"name": row.name})
        return redirect("console:canary", pk=row.pk)
    now = timezone.now()
    runs = list(row.runs.order_by("-started_at", "-id")[:RUNS_SHOWN])
    context: dict[str, Any] = {
        "canary": row,
        "status": status_of(row),
        "running": any(r.state == RunState.WAITING for r in runs),
        "runs": runs,
        "form": form,
        "now": now,
        "placements": PLACEMENTS,
        "verdicts": VERDICTS,
        **_charts(row, now),
    }
    return render(request, "console/canary.html", context)


def canary_run(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Canary, pk=pk)
    if request.method == "POST":
        if store.request_run(row):
            log.info("canary run requested", extra={"by": request.user.pk, "canary": row.name})
            messages.success(
                request,
                _("A run of %(name)s starts at the monitor's next pass (within seconds).")
                % {"name": row.name},
            )
        else:
            messages.warning(
                request, _("%(name)s has a run under way; wait for it to end.") % {"name": row.name}
            )
    return redirect("console:canary", pk=row.pk)


def canary_delete(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Canary, pk=pk)
    if request.method != "POST":
        return redirect("console:canary", pk=row.pk)
    name = row.name
    row.delete()
    log.info("canary deleted", extra={"by": request.user.pk, "canary": name})
    messages.success(request, _("Canary %(name)s and its runs are deleted.") % {"name": name})
    return redirect("console:canaries")


def _charts(canary: Canary, now: datetime) -> dict[str, Any]:
    """Per day (UTC) of the last 30: where the runs' mail landed, the median arrival, and
    whether the receiver's verdicts all passed."""
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=i) for i in range(DAYS)]
    placement: dict[datetime, dict[str, int]] = {}
    latency: dict[datetime, list[float]] = {}
    verdicts: dict[datetime, dict[str, int]] = {}
    runs = canary.runs.filter(started_at__gte=start).exclude(state=RunState.WAITING)
    for run in runs.only("started_at", "arrived_at", "state", "placement", "spf", "dkim", "dmarc"):
        day = run.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
        where = run.placement or ("unreachable" if run.state == RunState.UNREACHABLE else "missing")
        _bump(placement, day, where)
        if run.arrival_seconds is not None:
            latency.setdefault(day, []).append(run.arrival_seconds)
            _bump(verdicts, day, _verdict(run))
    medians = {day: {"latency": round(statistics.median(values))} for day, values in latency.items()}
    shape, every = "day", 5
    return {
        "placement_chart": charts.stacked(days, placement, PLACEMENTS, label_shape=shape, label_every=every),
        "latency_chart": charts.stacked(
            days, medians, ("latency",), label_shape=shape, label_every=every, unit=" s"
        ),
        "verdict_chart": charts.stacked(days, verdicts, VERDICTS, label_shape=shape, label_every=every),
    }


def _bump(counts: dict[datetime, dict[str, int]], day: datetime, series: str) -> None:
    slot = counts.setdefault(day, {})
    slot[series] = slot.get(series, 0) + 1


def _verdict(run: CanaryRun) -> str:
    results = (run.spf, run.dkim, run.dmarc)
    if any(r in FAILING for r in results):
        return "fail"
    return "pass" if all(r == "pass" for r in results) else "unreported"
