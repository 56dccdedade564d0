"""Hands what a bounce says to the outbox's owner of a delivery event's effects (timeline
entry, recipient state, suppression), so that a bounce does exactly what a provider's
webhook event of the same kind does. This module only translates; it decides nothing.

Until the outbox's single owner (outbox/effects.py, issue #13) is on main, this calls the
pieces the provider webhooks use today (webhooks/events.py, outbox/suppressions.py)."""

from __future__ import annotations

import enum
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from postwarden.outbox import suppressions
from postwarden.outbox.models import Event, Recipient
from postwarden.webhooks import events

#: the Event rows' provider for bounces and complaints read here
PROVIDER = "bounce"


class Effect(enum.StrEnum):
    """The timeline kinds a bounce can write (the same words as provider events)."""

    BOUNCED = "bounced"
    #: a soft bounce: the remote side gave up for now
    DEFERRED = "deferred"
    #: ``Action: delayed``: a note, nothing changes
    DELAYED = "delayed"
    COMPLAINED = "complained"


#: the suppression each effect warrants (as the provider webhooks' verdicts)
_SUPPRESS = {
    Effect.BOUNCED: suppressions.HARD_BOUNCE,
    Effect.COMPLAINED: suppressions.COMPLAINT,
}


def record(
    effect: Effect, recipient: Recipient, *, detail: str, source: str, event_id: str, raw: dict[str, Any]
) -> Event | None:
    """Write the timeline entry, move the recipient, suppress the address; one
    transaction. None when this event id was recorded before (nothing done twice)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = Event.objects.create(
                    message_id=recipient.message_id,
                    recipient=recipient,
                    at=timezone.now(),
                    kind=effect.value,
                    detail=detail[:2000],
                    provider=PROVIDER,
                    event_id=event_id[:255],
                    raw=raw,
                )
        except IntegrityError:
            return None
        events.advance(recipient, effect.value, detail)
        reason = _SUPPRESS.get(effect)
        if reason == suppressions.HARD_BOUNCE:
            suppressions.add_bounce(recipient.address, detail=detail, source=source, event=row)
        elif reason is not None:
            suppressions.add(recipient.address, reason, detail=detail, source=source, event=row)
    return row
