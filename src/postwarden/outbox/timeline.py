"""A message's story, in order: enqueued, policy decisions, every attempt with the
server's words verbatim and what they mean, people's actions and provider events.
The API's ``GET /api/v1/messages/{id}`` and the console's message page both show this."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postwarden.core.i18n import Text, kept, ntext
from postwarden.outbox.models import Attempt, Event, Message, Recipient


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    #: enqueued, attempt, policy, requeued, released, cancelled, delivered, bounced …
    kind: str
    recipient: str | None = None
    detail: str = ""
    #: for attempts: number, outcome, transport, stage, code, enhanced, reply, finding,
    #: explanation, duration_ms, retry_at, queue_id, provider_message_id;
    #: for provider events: provider, event_id; for "template": template, version; for
    #: "links": the links questioned
    data: dict[str, Any] = field(default_factory=dict)


#: entries written with the message whose data is kept in Event.raw
_NOTED = frozenset({"template", "links"})


def timeline(message: Message) -> list[Entry]:
    """Every entry of ``message``, oldest first. Three queries."""
    addresses = dict(Recipient.objects.filter(message=message).values_list("pk", "address"))
    entries = [Entry(message.created_at, "enqueued", None, _enqueued(message, len(addresses)))]
    for event in Event.objects.filter(message=message).order_by("at", "id"):
        if event.provider:
            data = {"provider": event.provider, "event_id": event.event_id}
        else:
            # what the composer noted: the template and version, the links it questioned
            data = dict(event.raw) if event.kind in _NOTED and isinstance(event.raw, dict) else {}
        entries.append(
            Entry(
                event.at,
                event.kind,
                addresses.get(event.recipient_id) if event.recipient_id else None,
                # the English, remembering the sentence where one was kept
                kept(event.words, "detail", event.detail),
                data,
            )
        )
    for attempt in Attempt.objects.filter(recipient_id__in=addresses).order_by("started_at", "id"):
        entries.append(
            Entry(
                attempt.started_at,
                "attempt",
                addresses[attempt.recipient_id],
                _said(attempt),
                {
                    "number": attempt.number,
                    "outcome": attempt.outcome,
                    "transport": attempt.transport,
                    "stage": attempt.stage,
                    "code": attempt.code,
                    "enhanced": attempt.enhanced,
                    "reply": attempt.reply,
                    "finding": attempt.finding,
                    "explanation": attempt.explanation,
                    "duration_ms": attempt.duration_ms,
                    "retry_at": attempt.retry_at,
                    "queue_id": attempt.queue_id,
                    "provider_message_id": attempt.provider_message_id,
                    "finished_at": attempt.finished_at,
                },
            )
        )
    entries.sort(key=lambda e: e.at)
    return entries


def _enqueued(message: Message, recipients: int) -> str:
    return ntext(
        "enqueued from {source} for {n} recipient",
        "enqueued from {source} for {n} recipients",
        recipients,
        source=message.source,
    )


def _said(attempt: Attempt) -> str:
    if attempt.outcome == "sending":
        return f"attempt {attempt.number} via {attempt.transport}: sending"
    where = f" at {attempt.stage}" if attempt.stage else ""
    return (
        f"attempt {attempt.number} via {attempt.transport}: {attempt.outcome}{where}: {attempt.reply}".rstrip(
            ": "
        )
    )


def without_bodies(entries: list[Entry]) -> list[Entry]:
    """The timeline for a reader who may not read mail bodies (a console viewer without the
    grant, an API key that may only read): the links the outbox questioned are the body's
    own URLs (a password-reset link among them), so only their count stays."""
    shown = []
    for entry in entries:
        if entry.kind == "links":
            count = len(entry.data.get("links") or ())
            detail = (
                ntext(
                    "{n} link would not work for recipients (the links are part of the body).",
                    "{n} links would not work for recipients (the links are part of the body).",
                    count,
                )
                if count
                else Text("Some links would not work for recipients (the links are part of the body).")
            )
            entry = Entry(entry.at, entry.kind, entry.recipient, detail, {})
        shown.append(entry)
    return shown
