"""Overview: is mail flowing? Workers, queue, the last 24 hours, the last doctor run."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from postwarden.configstore.runtime import current_settings
from postwarden.console import charts, stats
from postwarden.console.models import DoctorRun
from postwarden.core.config.resolve import ConfigError
from postwarden.outbox.heartbeat import settings_fingerprint


def web_fingerprint() -> str:
    """This process's settings fingerprint, keyed as the worker keys its heartbeat."""
    try:
        return settings_fingerprint(current_settings())
    except ConfigError:
        return ""


def overview(request: HttpRequest) -> HttpResponse:
    slots, counts, totals = stats.last_day_cached()
    context = {
        "workers": stats.workers(web_fingerprint()),
        "queue": stats.queue(),
        "totals": totals,
        "chart": charts.stacked(slots, counts, list(stats.SERIES)),
        "series": list(stats.SERIES),
        "last_doctor": DoctorRun.objects.select_related("started_by").first(),
        "now": timezone.now(),
    }
    return render(request, "console/overview.html", context)
