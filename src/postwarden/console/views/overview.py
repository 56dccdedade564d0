"""Overview: is mail flowing? Where it goes (a banner when only to capture, or nowhere),
workers, queue, the last 24 hours, the doctor's last run beside the newest attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation

from postwarden.configstore.runtime import current_settings
from postwarden.console import charts, doctor_pipeline, stats
from postwarden.console.models import DoctorRun
from postwarden.core.config.model import Provider, Settings
from postwarden.core.config.resolve import ConfigError
from postwarden.outbox.heartbeat import settings_fingerprint
from postwarden.outbox.models import Attempt


def web_fingerprint() -> str:
    """This process's settings fingerprint, keyed as the worker keys its heartbeat."""
    try:
        return settings_fingerprint(current_settings())
    except ConfigError:
        return ""


def _in_force() -> Settings | None:
    try:
        return current_settings()
    except ConfigError:
        return None


@dataclass(frozen=True, slots=True)
class DoctorCard:
    """The last doctor run and what happened since: a run that found a problem is shown
    as history, not as the present, once mail went out after it."""

    run: DoctorRun | None
    #: the newest finished attempt: (outcome, finding, when)
    latest: tuple[str, str, datetime] | None

    @property
    def cause_title(self) -> object:
        """The root cause's title in the reader's language (as kept with the run)."""
        if self.run is None or not self.run.root_cause:
            return ""
        report = doctor_pipeline.in_language(
            self.run.report, self.run.texts, translation.get_language() or "en"
        )
        found = [f for f in report.get("findings", []) if f.get("code") == self.run.root_cause]
        return found[0].get("title", "") if found else ""

    @property
    def recovered(self) -> bool:
        return bool(
            self.run is not None
            and not self.run.ok
            and self.latest is not None
            and self.latest[0] == "sent"
            and self.latest[2] > self.run.started_at
        )


def _latest_attempt() -> tuple[str, str, datetime] | None:
    # the newest by id (the primary key's index): never a scan of the attempts
    row = (
        Attempt.objects.exclude(outcome="sending")
        .order_by("-id")
        .values_list("outcome", "finding", "finished_at", "started_at")
        .first()
    )
    if row is None:
        return None
    outcome, finding, finished, started = row
    return str(outcome), str(finding), finished or started


def overview(request: HttpRequest) -> HttpResponse:
    slots, counts, totals = stats.last_day_cached()
    resolved = _in_force()
    context = {
        "workers": stats.workers(web_fingerprint()),
        "queue": stats.queue(),
        "totals": totals,
        "chart": charts.stacked(slots, counts, list(stats.SERIES)),
        "series": list(stats.SERIES),
        "doctor": DoctorCard(DoctorRun.objects.select_related("started_by").first(), _latest_attempt()),
        "capture_only": resolved is not None and resolved.sending.provider is Provider.CAPTURE,
        "sending_off": resolved is not None and not resolved.sending.enabled,
        "now": timezone.now(),
    }
    return render(request, "console/overview.html", context)
