"""``/api/v1/messages``: hand Postwarden a message; see what became of it.

- ``POST`` (scope ``send``): one message; 202 with its id and each recipient's initial
  state (queued, or held/suppressed/refused with the reason). 400/413/422 name the field.
- ``POST /batch`` (scope ``send``): up to 500 messages in one transaction; 202 with one
  result per message, in order (a refused message does not stop the others).
- ``GET /{id}`` (scope ``read``): each recipient's state and the timeline (for a key that may
  only read, without the body's links, as for a console viewer: issue #17).
- ``GET`` (scope ``read``): newest first, filtered by state, recipient, tag and time.
- ``POST /{id}/requeue`` and ``/{id}/cancel`` (scope ``send``): act on its recipients.
"""

from __future__ import annotations

import json
from typing import Any, Final

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status
from ninja.errors import HttpError

from postwarden.accounts.models import ApiKey
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.api.message_schemas import (
    AcceptedOut,
    ActionOut,
    BatchIn,
    BatchOut,
    ErrorOut,
    MessageIn,
    MessageListQuery,
    MessageOut,
    MessagePage,
    MessageSummary,
    RecipientDetail,
    RecipientOut,
    TimelineEntry,
)
from postwarden.outbox import actions, sources
from postwarden.outbox.errors import Refused
from postwarden.outbox.models import Message, Recipient, State
from postwarden.outbox.submission import Enqueued, FileIn, Outgoing, enqueue, enqueue_many
from postwarden.outbox.timeline import timeline, without_bodies

router = Router(tags=["messages"])


def _key(request: HttpRequest) -> ApiKey:
    key: ApiKey = request.api_key  # type: ignore[attr-defined]  # set by api.auth
    return key


def _outgoing(body: MessageIn) -> Outgoing:
    return Outgoing(
        to=body.to,
        cc=body.cc,
        bcc=body.bcc,
        from_address=body.from_,
        reply_to=body.reply_to,
        subject=body.subject,
        text=body.text,
        html=body.html,
        headers=body.headers,
        tags=body.tags,
        metadata={k: str(v) for k, v in body.metadata.items()},
        idempotency_key=body.idempotency_key,
        attachments=[FileIn(a.filename, a.content, a.content_type, a.content_id) for a in body.attachments],
        template=body.template,
        variables=body.variables,
    )


def _accepted(done: Enqueued) -> dict[str, Any]:
    """An :class:`AcceptedOut` as a plain dict, its fields in the schema's order."""
    return {
        "id": done.public_id,
        "message_id": done.message_id,
        "duplicate": done.duplicate,
        "recipients": [
            {"address": r.address, "kind": r.kind, "state": r.state, "reason": r.reason}
            for r in done.recipients
        ],
    }


def _item(index: int, result: Enqueued | Refused) -> dict[str, Any]:
    """A :class:`BatchItemOut` as a plain dict with every field, as the schema writes it."""
    if isinstance(result, Refused):
        error = {"detail": result.message, "field": result.field}
        return {"index": index, **_REFUSED_ITEM, "error": error}
    return {"index": index, **_accepted(result), "error": None}


_REFUSED_ITEM: Final[dict[str, Any]] = {"id": None, "message_id": None, "duplicate": False, "recipients": []}


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    """The answer the router would render from ``body``, without validating it against
    the response schema again: for a batch that was 500 model instances built and dumped
    (a tenth of the request: docs/performance.md), for data this module has just built in the schema's shape
    (tests/api hold the two to the same bytes). The schema still documents the route."""
    return HttpResponse(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


@router.post(
    "",
    response={202: AcceptedOut, 400: ErrorOut, 413: ErrorOut},
    auth=scope("send"),
    summary="Send a message",
)
def send_message(request: HttpRequest, body: MessageIn) -> HttpResponse | Status[ErrorOut]:
    """Queue one message. The same ``idempotency_key`` within 24 hours answers with the
    first message (``duplicate: true``) instead of queueing another."""
    try:
        done = enqueue(_outgoing(body), source="api", api_key=_key(request))
    except Refused as refused:
        return Status(refused.status, ErrorOut(detail=refused.message, field=refused.field))
    return _json(202, _accepted(done))


@router.post("/batch", response={202: BatchOut}, auth=scope("send"), summary="Send up to 500 messages")
def send_batch(request: HttpRequest, body: BatchIn) -> HttpResponse:
    """One transaction for the whole batch; each message is accepted or refused on its own."""
    results = enqueue_many([_outgoing(m) for m in body.messages], source="batch", api_key=_key(request))
    items = [_item(index, result) for index, result in enumerate(results)]
    refused = sum(1 for result in results if isinstance(result, Refused))
    return _json(202, {"accepted": len(items) - refused, "refused": refused, "results": items})


@router.get("", response={200: MessagePage, **errors(400)}, auth=scope("read"), summary="List messages")
def list_messages(request: HttpRequest, query: Query[MessageListQuery]) -> MessagePage:
    """Newest first. 400 for an unknown parameter or state; 422 naming ``limit`` outside
    1…200 or ``offset`` outside 0…10⁹ (api/params.py)."""
    unknown = sorted(set(request.GET) - set(MessageListQuery.model_fields))
    if unknown:
        raise HttpError(
            400,
            f"unknown parameter {unknown[0]!r}; the filters are {', '.join(MessageListQuery.model_fields)}",
        )
    if query.state is not None and query.state not in State.values:
        raise HttpError(400, f"unknown state {query.state!r}; one of {', '.join(State.values)}")
    rows = list(
        _filtered(query).prefetch_related(Prefetch("recipients", queryset=Recipient.objects.order_by("id")))[
            query.offset : query.offset + query.limit + 1
        ]
    )
    items = [
        MessageSummary(
            id=m.public_id,
            message_id=m.message_id,
            created_at=m.created_at,
            source=m.source,
            subject=m.subject,
            tags=list(m.tags),
            recipients=[
                RecipientOut(address=r.address, kind=r.kind, state=r.state, reason=r.reason)
                for r in m.recipients.all()
            ],
        )
        for m in rows[: query.limit]
    ]
    return MessagePage(limit=query.limit, offset=query.offset, more=len(rows) > query.limit, items=items)


def _filtered(query: MessageListQuery) -> QuerySet[Message]:
    rows = Message.objects.order_by("-id")
    if query.state:
        rows = rows.filter(pk__in=Recipient.objects.filter(state=query.state).values("message_id"))
    if query.recipient:
        rows = rows.filter(
            pk__in=Recipient.objects.filter(address=query.recipient.strip()).values("message_id")
        )
    if query.tag:
        rows = rows.filter(tag_rows__tag=query.tag)
    if query.since:
        rows = rows.filter(created_at__gte=query.since)
    if query.until:
        rows = rows.filter(created_at__lt=query.until)
    return rows


def _message(public_id: str) -> Message:
    found = Message.objects.filter(public_id=public_id).first()
    if found is None:
        raise HttpError(404, f"no message {public_id!r}")
    return found


@router.get(
    "/{public_id}",
    response={200: MessageOut, **errors(404)},
    auth=scope("read"),
    summary="A message and its timeline",
    by_alias=True,
)
def get_message(request: HttpRequest, public_id: str) -> MessageOut:
    """404 for an unknown id."""
    message = _message(public_id)
    recipients = [
        RecipientDetail(
            address=r.address,
            kind=r.kind,
            state=r.state,
            reason=r.reason,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            sent_at=r.sent_at,
            last_reply=r.last_reply,
            finding=r.finding,
            transport=r.transport,
            provider_message_id=r.provider_message_id,
            updated_at=r.updated_at,
        )
        for r in Recipient.objects.filter(message=message).order_by("id")
    ]
    story = timeline(message)
    # a key that may only read is a viewer's: the body's links stay out (one that may send
    # is the application's own, which wrote them)
    shown = story if _key(request).allows("send") else without_bodies(story)
    entries = [
        TimelineEntry(at=e.at, kind=e.kind, recipient=e.recipient, detail=e.detail, data=e.data)
        for e in shown
    ]
    return MessageOut(
        id=message.public_id,
        message_id=message.message_id,
        created_at=message.created_at,
        source=message.source,
        **{"from": message.from_address},
        envelope_from=message.envelope_from,
        subject=message.subject,
        size=message.size,
        tags=list(message.tags),
        metadata=dict(message.metadata),
        recipients=recipients,
        timeline=entries,
    )


@router.post(
    "/{public_id}/requeue",
    response={200: ActionOut, **errors(404)},
    auth=scope("send"),
    summary="Send deferred, dead, failed or held recipients again, now",
)
def requeue_message(request: HttpRequest, public_id: str) -> ActionOut:
    ids = Recipient.objects.filter(message=_message(public_id)).values_list("pk", flat=True)
    done = actions.requeue(ids, by=sources.api_key(_key(request).name))
    return ActionOut(changed=done.changed, skipped=done.skipped, stopped=done.stopped)


@router.post(
    "/{public_id}/cancel",
    response={200: ActionOut, **errors(404)},
    auth=scope("send"),
    summary="Cancel what has not been sent",
)
def cancel_message(request: HttpRequest, public_id: str) -> ActionOut:
    ids = Recipient.objects.filter(message=_message(public_id)).values_list("pk", flat=True)
    done = actions.cancel(ids, by=sources.api_key(_key(request).name))
    return ActionOut(changed=done.changed, skipped=done.skipped)
