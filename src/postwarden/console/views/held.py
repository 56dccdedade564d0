"""Held and dead: recipients that wait for a person. Release held mail (the kill switch,
EMAIL_ENABLED=false, holds it), retry now what waits for its next try (deferred: after a
fix nobody should wait out the backoff), retry dead or failed recipients, cancel — one at
a time, per message (from its page) or in bulk — through the pipeline's own services."""

from __future__ import annotations

import logging
from typing import Final

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from postwarden.console import actions, keyset
from postwarden.outbox import said
from postwarden.outbox.models import Message, Recipient, State

log = logging.getLogger("postwarden.console.held")
PAGE_SIZE: Final = 100
#: the states this page shows, in its tab order
WAITING: Final = (State.DEFERRED, State.HELD, State.DEAD, State.FAILED)
#: the most rows one bulk action touches (a larger backlog takes several clicks, each a
#: bounded transaction that never locks the worker out for long)
BULK_LIMIT: Final = 5000


def _waiting(state: str) -> QuerySet[Recipient]:
    states = [state] if state in WAITING else list(WAITING)
    return Recipient.objects.filter(state__in=states)


def held(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    rows = (
        _waiting(state)
        .select_related("message")
        .only(
            "address",
            "state",
            "reason",
            "attempts",
            "last_code",
            "last_enhanced",
            "last_reply",
            "finding",
            "updated_at",
            "next_attempt_at",
            "message__public_id",
            "message__subject",
            "message__created_at",
        )
    )
    page = keyset.page(rows, keyset.Cursor.decode(request.GET.get("after")), PAGE_SIZE, field="updated_at")
    counts = {s: Recipient.objects.filter(state=s).count() for s in WAITING}
    context = {
        "page": page,
        "reasons": said.reasons(page.rows),
        "state": state,
        "states": WAITING,
        "counts": counts,
        "now": timezone.now(),
        "bulk_limit": BULK_LIMIT,
    }
    return render(request, "console/held.html", context)


def held_action(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("console:held")
    action, _sep, scope = request.POST.get("action", "").partition("_")
    state = request.POST.get("state", "")
    # from a message's page: its recipients only, and back to it
    message = Message.objects.filter(public_id=request.POST.get("message", "")).first()
    back = reverse("console:message", args=[message.public_id]) if message else _back(state)
    if scope == "all":
        ids = list(_waiting(state).order_by("id").values_list("id", flat=True)[:BULK_LIMIT])
    elif scope == "message" and message is not None:
        ids = list(_waiting("").filter(message=message).values_list("id", flat=True))
    else:
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        if message is not None:
            ids = list(Recipient.objects.filter(message=message, pk__in=ids).values_list("id", flat=True))
    if not ids:
        messages.warning(request, _("Nothing selected."))
        return redirect(back)
    if action not in actions.ACTIONS:
        messages.error(request, _("Unknown action %(action)r.") % {"action": action})
        return redirect(back)
    messages.success(request, actions.apply(action, ids, request.user))
    return redirect(back)


def _back(state: str) -> str:
    url = reverse("console:held")
    return f"{url}?state={state}" if state in WAITING else url
