"""``/api/v1/bounces``: the mail that came back to the VERP return paths (issue #15), as the
intake read it: what was applied to a recipient's timeline, and what is kept for the
operator (a bounce for a message the outbox no longer has, one without a return path, one
nobody could read, an ignored auto-reply).

- ``GET`` (scope ``read``): newest first, filtered by ``outcome``, paginated with
  ``limit``/``offset``. The mail itself is not returned (it quotes the original message);
  the remote server's words (``diagnostic``) and the reader's note are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from postwarden.api import params
from postwarden.api.auth import scope
from postwarden.api.errors import errors
from postwarden.bounces.models import Bounce, BounceOutcome

router = Router(tags=["bounces"])

MAX_LIMIT: Final = 500


class BounceOut(Schema):
    id: int
    received_at: datetime
    #: smtp (the bounce listener) or imap (the bounce mailbox)
    source: str
    #: applied, unknown_message, no_token, unreadable, ignored, duplicate, excess
    outcome: str
    #: hard_bounce, soft_bounce, delayed, delivered, complaint, auto_reply, unknown
    kind: str
    #: rfc3464, arf, flufl, notice, auto-reply, none
    detector: str
    #: the message it is about (its public id), when the outbox has it
    message: str | None
    #: the address it is about
    address: str
    status: str
    #: the remote server's words, verbatim
    diagnostic: str
    remote_mta: str
    subject: str
    original_message_id: str
    note: str
    size: int


class BouncePage(Schema):
    count: int
    limit: int
    offset: int
    items: list[BounceOut]


class BounceListQuery(Schema):
    outcome: str | None = None
    limit: int = params.limit(50, MAX_LIMIT)
    offset: int = params.offset()

    model_config = ConfigDict(extra="forbid")


def _out(row: Bounce) -> BounceOut:
    return BounceOut(
        id=row.pk,
        received_at=row.received_at,
        source=row.source,
        outcome=row.outcome,
        kind=row.kind,
        detector=row.detector,
        message=row.message.public_id if row.message is not None else None,
        address=row.address,
        status=row.status,
        diagnostic=row.diagnostic,
        remote_mta=row.remote_mta,
        subject=row.subject,
        original_message_id=row.original_message_id,
        note=row.note,
        size=row.size,
    )


@router.get("", response={200: BouncePage, **errors(400)}, auth=scope("read"), summary="List bounces")
def list_bounces(request: HttpRequest, query: Query[BounceListQuery]) -> BouncePage:
    """Newest first. 400 for an unknown outcome; 422 naming ``limit`` outside 1…500 or
    ``offset`` outside 0…10⁹."""
    rows = Bounce.objects.select_related("message").defer("raw").order_by("-received_at", "-id")
    if query.outcome is not None:
        if query.outcome not in BounceOutcome.values:
            raise HttpError(
                400, f"unknown outcome {query.outcome!r}; one of {', '.join(BounceOutcome.values)}"
            )
        rows = rows.filter(outcome=query.outcome)
    page = rows[query.offset : query.offset + query.limit]
    items = [_out(r) for r in page]
    return BouncePage(count=rows.count(), limit=query.limit, offset=query.offset, items=items)
