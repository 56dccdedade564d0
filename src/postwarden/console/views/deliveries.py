"""Deliveries: search and filter messages; each message's page with per-recipient
state, the timeline (attempts with the server's words and their explanation, provider
events) and the rendered message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from postwarden.console import keyset, mailview
from postwarden.console.deliveries import Filters, matching, summary
from postwarden.outbox.models import Attempt, Content, Event, Message, State

PAGE_SIZE: Final = 50


def deliveries(request: HttpRequest) -> HttpResponse:
    filters = Filters.from_query(request.GET.dict())
    page = keyset.page(matching(filters), keyset.Cursor.decode(request.GET.get("after")), PAGE_SIZE)
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "page": page,
        "recipients": summary(page.rows),
        "filters": filters,
        "states": State.values,
        "query": query.urlencode(),
        "now": timezone.now(),
        "first": "after" not in request.GET,
    }
    return render(request, "console/deliveries.html", context)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a message's timeline."""

    at: datetime
    kind: str
    css: str
    attempt: Attempt | None = None
    event: Event | None = None


def timeline(message: Message) -> list[Entry]:
    attempts = Attempt.objects.filter(recipient__message=message).select_related("recipient")
    events = Event.objects.filter(message=message).select_related("recipient")
    entries = [Entry(message.created_at, "enqueued", "queued")]
    entries += [Entry(a.started_at, "attempt", a.outcome, attempt=a) for a in attempts]
    entries += [Entry(e.at, e.kind, e.kind, event=e) for e in events]
    return sorted(entries, key=lambda e: e.at)


def message(request: HttpRequest, public_id: str) -> HttpResponse:
    row = get_object_or_404(Message.objects.select_related("api_key"), public_id=public_id)
    content = Content.objects.filter(message=row).first()
    context: dict[str, Any] = {
        "message": row,
        "recipients": row.recipients.order_by("id"),
        "timeline": timeline(row),
        "mail": mailview.parse(bytes(content.raw)) if content else None,
        "tags": list(row.tag_rows.values_list("tag", flat=True)),
        "now": timezone.now(),
    }
    return render(request, "console/message.html", context)


def message_html(request: HttpRequest, public_id: str) -> HttpResponse:
    content = get_object_or_404(Content, message__public_id=public_id)
    return mailview.html_response(mailview.parse(bytes(content.raw)).html)


def message_raw(request: HttpRequest, public_id: str) -> HttpResponse:
    content = get_object_or_404(Content, message__public_id=public_id)
    return mailview.raw_response(bytes(content.raw), public_id)
