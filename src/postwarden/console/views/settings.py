"""Email settings: the Sending, SMTP, provider, DKIM and webhook settings of
docs/spec/config.md, presets, and the "Test connection" / "Send test email" buttons, which
use the values IN THE FORM, saved or not."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, Final

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from postwarden.configstore.runtime import current_settings, save
from postwarden.console import dkimtools, formats, settings_probes
from postwarden.console.forms.email import Current, EmailSettingsForm, current_values
from postwarden.console.language import active
from postwarden.console.language import calendar as language_calendar
from postwarden.console.presets import BY_KEY, PRESETS, SES_REGIONS
from postwarden.core import i18n
from postwarden.core.config.model import Provider, Settings
from postwarden.core.config.resolve import ConfigError
from postwarden.outbox import retrynow

log = logging.getLogger("postwarden.console.settings")
#: the media type of the live Test connection (newline-delimited JSON)
STREAM: Final = "application/x-ndjson"


def _page(request: HttpRequest, form: EmailSettingsForm, **extra: Any) -> HttpResponse:
    try:
        resolved: Settings | None = current_settings()
        problems: list[str] = []
    except ConfigError as exc:
        resolved, problems = None, [p.said() for p in exc.problems]
    context = {
        "form": form,
        "groups": form.groups(),
        "chosen_provider": form.chosen("EMAIL_PROVIDER"),
        "auth_default": form.default_of("SMTP_AUTH"),
        "presets": PRESETS,
        "regions": SES_REGIONS,
        "resolved": resolved,
        "problems": problems,
        "notes": resolved.notes if resolved else (),
        "dkim": dkimtools.status(form.current),
        "test_to": _default_recipient(request, resolved),
        **extra,
    }
    return render(request, "console/settings.html", context)


def _default_recipient(request: HttpRequest, resolved: Settings | None) -> str:
    return str(getattr(request.user, "email", "") or (resolved.sending.test_email if resolved else "") or "")


def email_settings(request: HttpRequest) -> HttpResponse:
    current = current_values()
    if request.method != "POST":
        return _page(request, EmailSettingsForm(current=current))
    if request.POST.get("action") == "preset":
        return _page(request, _with_preset(request.POST, current), preset_applied=True)
    if request.POST.get("action") == "provider":
        # without JavaScript, "Show its settings" shows the chosen transport's fields
        shown = EmailSettingsForm(request.POST, current=current)
        return _page(request, shown, provider_shown=shown.chosen("EMAIL_PROVIDER"))
    form = EmailSettingsForm(request.POST, current=current)
    if not form.is_valid():
        return _page(request, form)
    values = form.values()
    resolved = _resolve(form, values)
    if resolved is None:
        return _page(request, form)
    before = _in_force()
    save(values, request.user)
    log.info("email settings saved", extra={"by": request.user.pk, "changed": sorted(values)})
    messages.success(request, _("Email settings saved.") + _retried(before, resolved))
    _probe_after_save(request, resolved)
    return redirect("console:settings")


def _in_force() -> Settings | None:
    try:
        return current_settings()
    except ConfigError:
        return None


def _retried(before: Settings | None, after: Settings) -> str:
    """Deferred recipients the change can help go now, not after their backoff (the
    worker does the same when it sees the change; whoever comes first does it)."""
    stages = retrynow.TRANSPORT | retrynow.SENDER if before is None else retrynow.helped_by(before, after)
    count = retrynow.retry_deferred(stages, why=retrynow.SETTINGS_SAVED)
    if not count:
        return ""
    return " " + ngettext(
        "%(count)s deferred recipient that the change can help is retried now.",
        "%(count)s deferred recipients that the change can help are retried now.",
        count,
    ) % {"count": formats.number(count)}


def _resolve(form: EmailSettingsForm, values: dict[str, str]) -> Settings | None:
    """The settings these form values give, or None with the resolver's complaints on
    the fields (it says what to set, e.g. SMTP_PORT='abc' must be a whole number)."""
    try:
        return current_settings(overrides=values)
    except ConfigError as exc:
        for problem in exc.problems:
            field = problem.variable if problem.variable in form.fields else None
            form.add_error(field, forms.ValidationError(i18n.localize(problem.message)))
        return None


def _probe_after_save(request: HttpRequest, resolved: Settings) -> None:
    """Saving probes the connection and warns, without refusing, when it fails."""
    if resolved.sending.provider is not Provider.SMTP or not resolved.smtp.host:
        return
    outcome = settings_probes.test_connection(resolved)
    if not outcome.ok:
        messages.warning(
            request,
            _(
                "Saved, but the connection test failed: %(summary)s. "
                "Mail will wait in the queue until this is fixed."
            )
            % {"summary": outcome.summary},
        )


def _with_preset(data: QueryDict, current: dict[str, Current]) -> EmailSettingsForm:
    """The posted form with a preset's host, port and security filled in (no JavaScript needed)."""
    preset = BY_KEY.get(data.get("preset", ""))
    changed = data.copy()
    if preset is not None:
        changed["SMTP_HOST"] = preset.host_for(data.get("preset_region", ""))
        changed["SMTP_PORT"] = str(preset.port)
        changed["SMTP_SECURITY"] = preset.security.value
        changed["EMAIL_PROVIDER"] = Provider.SMTP.value
        changed["SMTP_AUTH"] = preset.auth
        if preset.oauth2_provider:
            changed["OAUTH2_PROVIDER"] = preset.oauth2_provider
        if preset.user:
            changed["SMTP_USER"] = preset.user
    form = EmailSettingsForm(changed, current=current)
    form.is_valid()
    return form


def _tested(request: HttpRequest) -> tuple[EmailSettingsForm, Settings | None, list[str]]:
    form = EmailSettingsForm(request.POST, current=current_values())
    if not form.is_valid():
        return (
            form,
            None,
            [f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items()],
        )
    try:
        return form, current_settings(overrides=form.overrides()), []
    except ConfigError as exc:
        return form, None, [p.said() for p in exc.problems]


def _result(request: HttpRequest, form: EmailSettingsForm, context: dict[str, Any]) -> HttpResponse:
    """htmx asks for the result panel only; without JavaScript the whole page comes back."""
    if request.headers.get("HX-Request"):
        return render(request, "console/partials/test_result.html", context)
    return _page(request, form, **context)


def test_connection(request: HttpRequest) -> HttpResponseBase:
    if request.method != "POST":
        return redirect("console:settings")
    form, resolved, problems = _tested(request)
    if STREAM in request.headers.get("Accept", ""):
        return _live(request, resolved, problems)
    outcome = settings_probes.test_connection(resolved) if resolved else None
    return _result(request, form, {"outcome": outcome, "problems_in_form": problems, "kind": "connection"})


def _live(request: HttpRequest, resolved: Settings | None, problems: list[str]) -> StreamingHttpResponse:
    """The page's script asks for the test as it happens: one JSON object per line (each
    stage as it starts and ends, then the result as the partial renders it). A stream, not
    a job to poll, so any web process answers it alone; a proxy that buffers it only
    delays the progress, the result still comes."""

    # the lines are made while the server sends them, after the language middleware has
    # returned: they are made in the request's language and calendar explicitly
    language, calendar = translation.get_language() or "en", language_calendar()

    def lines() -> Iterator[str]:
        with active(language, calendar):
            yield from _lines()

    def _lines() -> Iterator[str]:
        outcome: settings_probes.ProbeOutcome | None = None
        events: Iterator[dict[str, Any]] = (
            settings_probes.test_connection_live(resolved)
            if resolved
            else iter([{"event": "begin", "stages": []}])
        )
        for event in events:
            if event["event"] == "outcome":
                outcome = event["outcome"]
            else:
                yield json.dumps(event) + "\n"
        context = {"outcome": outcome, "problems_in_form": problems, "kind": "connection"}
        html = render_to_string("console/partials/test_result.html", context, request)
        yield json.dumps({"event": "outcome", "ok": bool(outcome and outcome.ok), "html": html}) + "\n"

    response = StreamingHttpResponse(lines(), content_type=STREAM)
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each line on as it comes
    return response


def send_test_mail(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("console:settings")
    form, resolved, problems = _tested(request)
    to = request.POST.get("test_to", "").strip() or _default_recipient(request, resolved)
    outcome = settings_probes.send_test_mail(resolved, to, request.user) if resolved else None
    return _result(
        request, form, {"outcome": outcome, "problems_in_form": problems, "kind": "send", "test_to": to}
    )


def dkim_generate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        done = dkimtools.generate(
            request.POST.get("selector", ""), request.POST.get("domain", ""), request.user
        )
        (messages.success if done.ok else messages.error)(request, done.message)
    return redirect("console:settings")


def dkim_check(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("console:settings")
    try:
        resolved: Settings | None = current_settings()
    except ConfigError:
        resolved = None
    result = dkimtools.check_published(resolved)
    return render(request, "console/partials/dkim_check.html", {"check": result})
