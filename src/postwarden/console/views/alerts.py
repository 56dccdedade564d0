"""Alerts: where they go (add and remove apprise URLs, shown without their tokens), a
"Send test alert" button, what is firing now, and the history of every alert with each
destination's outcome (sent, pending with the last failure, failed with the reason)."""

from __future__ import annotations

import logging
from typing import Final

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from postwarden.alerts.delivery import send_test_alert
from postwarden.alerts.destinations import configured, digest, label
from postwarden.alerts.models import Alert, Condition
from postwarden.configstore.runtime import current_settings, save, stored_values
from postwarden.console import keyset
from postwarden.console.forms.alerts import AlertUrlForm

log = logging.getLogger("postwarden.console.alerts")
PAGE_SIZE: Final = 50
NAME: Final = "POSTWARDEN_ALERT_URLS"
LOCKED: Final = gettext_lazy(
    "The alert URLs are set by the environment (POSTWARDEN_ALERT_URLS): change them there."
)


def _saved() -> list[str]:
    return stored_values().get(NAME, "").split()


def alerts(request: HttpRequest) -> HttpResponse:
    settings = current_settings()
    locked = settings.source(NAME).locks_console_field
    form = AlertUrlForm(request.POST or None)
    if request.method == "POST":
        if locked:
            messages.error(request, LOCKED)
            return redirect("console:alerts")
        if form.is_valid():
            url = form.cleaned_data["url"]
            save({NAME: " ".join(dict.fromkeys([*_saved(), url]))}, request.user)
            log.info("alert destination added", extra={"by": request.user.pk, "destination": label(url)})
            messages.success(
                request, _("Alerts now also go to %(destination)s.") % {"destination": label(url)}
            )
            return redirect("console:alerts")
    page = keyset.page(
        Alert.objects.prefetch_related("deliveries"),
        keyset.Cursor.decode(request.GET.get("after")),
        PAGE_SIZE,
    )
    context = {
        "form": form,
        "locked": locked,
        "destinations": configured(settings),
        "firing": Condition.objects.filter(firing=True).order_by("since"),
        "page": page,
        "limits": settings.alerts,
    }
    return render(request, "console/alerts.html", context)


def alert_destination_remove(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if current_settings().source(NAME).locks_console_field:
            messages.error(request, LOCKED)
            return redirect("console:alerts")
        key = request.POST.get("destination", "")
        saved = _saved()
        kept = [url for url in saved if digest(url) != key]
        if len(kept) == len(saved):
            messages.warning(request, _("That destination is not among the saved ones."))
        else:
            gone = next(url for url in saved if digest(url) == key)
            save({NAME: " ".join(kept)}, request.user)
            log.info("alert destination removed", extra={"by": request.user.pk, "destination": label(gone)})
            messages.success(
                request, _("Alerts no longer go to %(destination)s.") % {"destination": label(gone)}
            )
    return redirect("console:alerts")


def alert_test(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        alert = send_test_alert(current_settings())
        log.info("test alert", extra={"by": request.user.pk, "alert": alert.pk, "status": alert.status})
        if alert.status == Alert.Status.NO_DESTINATION:
            messages.warning(request, _("No alert URL is configured: add one first."))
        for delivery in alert.deliveries.all():
            if delivery.status == "sent":
                messages.success(
                    request, _("Test alert sent to %(destination)s.") % {"destination": delivery.label}
                )
            else:
                messages.error(
                    request,
                    _("Test alert to %(destination)s failed: %(error)s")
                    % {"destination": delivery.label, "error": delivery.last_error},
                )
    return redirect("console:alerts")
