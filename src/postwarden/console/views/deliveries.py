"""Deliveries: search and filter messages; each message's page with per-recipient
state, the timeline (attempts with the server's words and their explanation, provider
events) and the rendered message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from postwarden.console import keyset, mail_display
from postwarden.console.access import reads_bodies
from postwarden.console.deliveries import Filters, matching, summary
from postwarden.console.failures import explanation_said, failures
from postwarden.core.i18n import Text
from postwarden.outbox import said
from postwarden.outbox.actions import REQUEUEABLE
from postwarden.outbox.models import Content, Event, Message, State
from postwarden.outbox.timeline import Entry, timeline, without_bodies

PAGE_SIZE: Final = 50
#: states a person may send again from the message's page (outbox/actions.py)
RETRYABLE: Final = frozenset(REQUEUEABLE)


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


def raw_events(message: Message) -> dict[str, Any]:
    """Provider events' raw payloads by event id: the evidence beside the normalized event."""
    rows = Event.objects.filter(message=message, raw__isnull=False).exclude(event_id=None)
    return {str(event_id): raw for event_id, raw in rows.values_list("event_id", "raw")}


@dataclass(frozen=True, slots=True)
class Shown:
    """A timeline entry on the page: Postwarden's own sentences in the reader's language
    (a sentence where one can be said, else the stored English), the remote side's words
    marked as such."""

    entry: Entry
    #: the detail is the remote side's words (quoted as they came)
    remote: bool = False
    #: for an attempt: the worker's note in place of a reply (an attempt it lost), and the
    #: knowledge base's one-line explanation of the reply
    note: str = ""
    explanation: str = ""


def shown(entries: list[Entry]) -> list[Shown]:
    found = []
    for e in entries:
        if e.kind == "attempt":
            d = e.data
            explanation = explanation_said(d["stage"], d["code"], d["reply"], d["explanation"])
            note = said.attempt_reply(d["reply"])
            found.append(Shown(e, False, note if isinstance(note, Text) else "", explanation))
        else:
            # a sentence of ours (kept) even where it quotes the remote side's words
            remote = said.is_remote(e.kind, e.data.get("provider") or "") and not isinstance(e.detail, Text)
            found.append(Shown(e, remote))
    return found


def message(request: HttpRequest, public_id: str) -> HttpResponse:
    row = get_object_or_404(Message.objects.select_related("api_key"), public_id=public_id)
    content = Content.objects.filter(message=row).first()
    recipients = list(row.recipients.order_by("id"))
    failed = failures(recipients)
    may_read = reads_bodies(request.user)
    entries = timeline(row)
    mail = mail_display.parse(bytes(content.raw)) if content else None
    context: dict[str, Any] = {
        "message": row,
        "recipients": recipients,
        "failures": failed,
        # a suppressed address would only be stopped again by the policy: not offered
        "retryable": [
            r
            for r in recipients
            if r.state in RETRYABLE and not (r.pk in failed and failed[r.pk].suppression)
        ],
        "retry_states": RETRYABLE,
        "timeline": shown(entries if may_read else without_bodies(entries)),
        "reasons": said.reasons(recipients),
        "raw_events": raw_events(row),
        "mail": mail,
        "tags": list(row.tag_rows.values_list("tag", flat=True)),
        "now": timezone.now(),
    }
    if mail is not None:
        context.update(mail_display.tabs_context(mail, request.GET.get("view", ""), may_read))
    return render(request, "console/message.html", context)


def message_html(request: HttpRequest, public_id: str) -> HttpResponse:
    content = get_object_or_404(Content, message__public_id=public_id)
    return mail_display.html_response(mail_display.parse(bytes(content.raw)).html)


def message_attachment(request: HttpRequest, public_id: str, index: int) -> HttpResponse:
    content = get_object_or_404(Content, message__public_id=public_id)
    return mail_display.attachment_response(bytes(content.raw), index)


def message_raw(request: HttpRequest, public_id: str) -> HttpResponse:
    content = get_object_or_404(Content, message__public_id=public_id)
    return mail_display.raw_response(bytes(content.raw), public_id)
