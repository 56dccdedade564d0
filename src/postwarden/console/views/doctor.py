"""The Doctor page: run the doctor (the same runner as ``postwarden doctor``, with the
database's facts), show its stages as a pipeline, the root cause with its evidence and
steps, every check and the SMTP transcript. Runs are kept, so the overview can show the
last result."""

from __future__ import annotations

import logging
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation

from postwarden.accounts.models import User
from postwarden.console import doctor_pipeline
from postwarden.console.models import DoctorRun
from postwarden.core.config.resolve import ConfigError
from postwarden.core.doctor.context import Options
from postwarden.doctor.report import report_json, unusable_settings_json

log = logging.getLogger("postwarden.console.doctor")
HISTORY: Final = 10


def _context(run: DoctorRun | None) -> dict[str, Any]:
    report = (
        doctor_pipeline.in_language(run.report, run.texts, translation.get_language() or "en") if run else {}
    )
    return {
        "run": run,
        "report": report,
        "stages": doctor_pipeline.pipeline(report),
        "cause": doctor_pipeline.root_cause(report),
        "others": doctor_pipeline.others(report),
        "settings_rows": doctor_pipeline.settings_rows(report),
        "history": DoctorRun.objects.select_related("started_by").only(
            "started_at", "ok", "root_cause", "started_by__email"
        )[:HISTORY],
    }


def doctor(request: HttpRequest) -> HttpResponse:
    runs = DoctorRun.objects.select_related("started_by")
    chosen = request.GET.get("run", "")
    run = runs.filter(pk=int(chosen)).first() if chosen.isdigit() else runs.first()
    return render(request, "console/doctor.html", _context(run))


def doctor_run(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("console:doctor")
    to = request.POST.get("to", "").strip() or None
    try:
        report = report_json(Options(to=to))
    except ConfigError as exc:
        # settings the resolver cannot use: the doctor's own verdict is config (exit 2 on the CLI)
        report = unusable_settings_json(exc)
    user = request.user if isinstance(request.user, User) else None
    run = DoctorRun.objects.create(
        started_by=user,
        ok=bool(report.get("ok")),
        root_cause=str(report.get("root_cause") or ""),
        report=report,
        texts=doctor_pipeline.translations(report),
    )
    log.info(
        "doctor run from the console", extra={"by": getattr(user, "pk", None), "root_cause": run.root_cause}
    )
    if request.headers.get("HX-Request"):
        return render(request, "console/doctor.html", _context(run))
    return redirect(f"{reverse('console:doctor')}?run={run.pk}")
