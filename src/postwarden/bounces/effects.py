"""Hands what a bounce says to the outbox's one owner of a delivery event's effects
(:mod:`postwarden.outbox.effects`: timeline entry, recipient state, suppression), so that a
bounce does exactly what a provider's webhook event of the same kind does (hard bounces and
complaints suppress, soft ones count toward the threshold). This module only translates."""

from __future__ import annotations

import enum
from typing import Any

from postwarden.outbox import effects
from postwarden.outbox.models import Event, Recipient

#: the Event rows' provider for bounces and complaints read here
PROVIDER = "bounce"


class Effect(enum.StrEnum):
    """The timeline kinds a bounce can write (the same words as provider events)."""

    BOUNCED = "bounced"
    #: a soft bounce: the remote side gave up for now
    DEFERRED = effects.SOFT
    #: ``Action: delayed``: a note, nothing changes
    DELAYED = "delayed"
    COMPLAINED = "complained"


def record(
    effect: Effect, recipient: Recipient, *, detail: str, source: str, event_id: str, raw: dict[str, Any]
) -> Event | None:
    """Apply one bounce to ``recipient``; its timeline entry, or None when this event id
    was recorded before (nothing is done twice)."""
    more: dict[str, Any] = {"provider": PROVIDER, "event_id": event_id[:255], "raw": raw}
    if effect is Effect.COMPLAINED:
        report = effects.complaint(recipient.address, detail=detail, source=source, **more)
    elif effect is Effect.DELAYED:
        report = effects.EventReport(Effect.DELAYED.value, recipient.address, detail, source, None, **more)
    else:
        report = effects.bounce(
            recipient.address, hard=effect is Effect.BOUNCED, detail=detail, source=source, **more
        )
    if effects.record(report, recipient=recipient) is not effects.EventOutcome.STORED:
        return None
    return Event.objects.filter(provider=PROVIDER, event_id=report.event_id).first()
