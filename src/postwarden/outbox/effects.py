"""What a delivery event does: the one owner of its effects.

A provider's webhook, a bounce message read from a mailbox and the worker's own permanent
refusal of an address (outbox/worker/record.py) all say the same kind of thing about one
recipient's mail. Each
builds a :class:`EventReport` and calls :func:`record`, which

1. writes the timeline entry (an Event row; a report with an ``event_id`` is stored once:
   a second one with the same ``(provider, event_id)`` is a no-op),
2. moves the recipient's state by the table (outbox/states.py: ``bounced`` from sent or
   delivered, ``complained`` from any of those, …; states only move forward), and
3. applies the suppression rules:

   - a hard bounce suppresses the address as ``hard_bounce`` until :data:`BOUNCE_TTL`
     from now (mailboxes are re-created); a later successful send lifts it;
   - a complaint or an unsubscribe suppresses it for good (``complaint``,
     ``unsubscribe``), and nothing weaker replaces it;
   - a soft bounce (kind ``deferred``) suppresses nothing by itself, but once an address
     has had :data:`SOFT_LIMIT` of them within :data:`SOFT_WINDOW` it is suppressed as
     ``failures``, expiring like a hard bounce.

All three happen in one transaction. A report about a message the outbox does not know
(sent by another system, or older than retention) cannot be put on a timeline; its
suppression still applies, since it is a fact about the address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.utils import timezone

from postwarden.core.i18n import Number, Text, keep
from postwarden.outbox import states, suppressions
from postwarden.outbox.models import Event, Message, Recipient

#: how long a hard bounce (or too many soft ones) keeps an address off the list
BOUNCE_TTL: Final = suppressions.BOUNCE_TTL
#: soft bounces of one address, within :data:`SOFT_WINDOW`, that suppress it (``failures``)
SOFT_LIMIT: Final = 5
SOFT_WINDOW: Final = timedelta(days=7)
#: the timeline kind of a soft bounce (a temporary failure reported after acceptance)
SOFT: Final = "deferred"


class EventOutcome(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    UNMATCHED = "unmatched"


@dataclass(frozen=True, slots=True)
class EventReport:
    """One event about one recipient's mail."""

    #: the timeline kind: delivered, bounced (hard), deferred (a soft bounce), complained,
    #: rejected, unsubscribed, opened … (kinds that name a move in
    #: :data:`postwarden.outbox.states.EVENTS` move the recipient)
    kind: str
    #: the address it is about (lower-cased here)
    address: str
    #: the remote diagnostic, in words (stored as the event's and the suppression's detail)
    detail: str = ""
    #: who says so, stored with a suppression: "ses event <id>", "bounce <DSN Message-ID>",
    #: "attempt 2 of m_…"
    source: str = ""
    #: the suppression reason it warrants (suppressions.HARD_BOUNCE, COMPLAINT,
    #: UNSUBSCRIBE, MANUAL) or None; a soft bounce counts toward :data:`SOFT_LIMIT` instead
    suppress: str | None = None
    #: the Event row's provider ("sendgrid" …, "bounce", "smtp") and de-duplication key
    provider: str = ""
    event_id: str | None = None
    at: datetime | None = None
    #: the payload as received (JSON), kept on the timeline
    raw: Any = None


def bounce(address: str, *, hard: bool, detail: str, source: str, **more: Any) -> EventReport:
    """A bounce report: hard ones are ``bounced`` and suppress, soft ones ``deferred``."""
    if hard:
        return EventReport("bounced", address, detail, source, suppressions.HARD_BOUNCE, **more)
    return EventReport(SOFT, address, detail, source, None, **more)


def refusal(address: str, *, detail: str, source: str, **more: Any) -> EventReport:
    """The receiving server refused the address for good while we sent (550 5.1.1 user
    unknown …: the reply knowledge base's ``address_gone``): a hard bounce told at once."""
    return EventReport("rejected", address, detail, source, suppressions.HARD_BOUNCE, **more)


def complaint(address: str, *, detail: str, source: str, **more: Any) -> EventReport:
    return EventReport("complained", address, detail, source, suppressions.COMPLAINT, **more)


def record(
    report: EventReport, *, message: Message | None = None, recipient: Recipient | None = None
) -> EventOutcome:
    """Apply ``report`` (see the module docstring). ``message``/``recipient``: what it is
    about, when the caller could tell (the recipient implies its message)."""
    address = suppressions.normalize(report.address or (recipient.address if recipient else ""))
    if message is None and recipient is not None:
        message = recipient.message
    if message is None:
        with transaction.atomic():
            _suppress(report, address, None)
        return EventOutcome.UNMATCHED
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the outer one usable
                row = Event.objects.create(
                    message=message,
                    recipient=recipient,
                    at=report.at or timezone.now(),
                    kind=report.kind[:32],
                    detail=str(report.detail)[:2000],
                    provider=report.provider,
                    event_id=report.event_id,
                    raw=report.raw,
                    # the detail is the remote side's words; the reason it gives the
                    # recipient is a sentence of ours around them
                    words=keep(detail=report.detail, reason=moved(report.kind, report.detail)) or None,
                )
        except IntegrityError:
            return EventOutcome.DUPLICATE
        if recipient is not None:
            advance(recipient, report.kind, report.detail)
        _suppress(report, address, row)
    return EventOutcome.STORED


def advance(recipient: Recipient, kind: str, detail: str) -> bool:
    """Move the recipient by the event ``kind`` if the table allows it from its state;
    True if it moved. Kinds that are not moves (opened, deferred …) move nothing."""
    move = states.EVENTS.get(kind)
    if move is None:
        return False
    return states.apply([recipient.pk], move, reason=str(moved(kind, detail))) == 1


#: the event kinds that move a recipient, as its reason says them
_MOVED: Final[dict[str, Text]] = {
    "delivered": Text("delivered"),
    "bounced": Text("bounced"),
    "complained": Text("complained"),
    "rejected": Text("rejected"),
    "failed": Text("failed"),
}


def moved(kind: str, detail: str) -> str:
    """The reason an event of ``kind`` gives the recipient it moves: the kind, then the
    remote side's words as they came ("bounced: 550 5.1.1 …")."""
    said = _MOVED.get(kind, kind)
    return Text("{kind}: {detail}", kind=said, detail=detail) if detail else said


def _suppress(report: EventReport, address: str, row: Event | None) -> None:
    if not address or "@" not in address:
        return
    now = timezone.now()
    if report.suppress == suppressions.HARD_BOUNCE:  # the one reason that expires
        suppressions.add_bounce(address, detail=report.detail, source=report.source, event=row, now=now)
    elif report.suppress is not None:
        suppressions.add(address, report.suppress, detail=report.detail, source=report.source, event=row)
    elif report.kind == SOFT and row is not None and _soft_bounces(address, now) >= SOFT_LIMIT:
        suppressions.add(
            address,
            suppressions.FAILURES,
            detail=Text(
                "{limit} soft bounces within {days} days; the last: {detail}",
                limit=Number(SOFT_LIMIT),
                days=Number(SOFT_WINDOW.days),
                detail=report.detail,
            ),
            source=report.source,
            event=row,
            expires_at=now + BOUNCE_TTL,
            now=now,
        )


def _soft_bounces(address: str, now: datetime) -> int:
    """The soft bounces on the timelines of ``address`` within the window."""
    return Event.objects.filter(
        kind=SOFT, recipient__address__iexact=address, at__gte=now - SOFT_WINDOW
    ).count()
