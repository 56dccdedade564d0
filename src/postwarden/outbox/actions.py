"""What a person does to recipients from the console or the API: re-queue what died,
failed, was held or waits for a retry (retry now, after a fix), and cancel what has not
gone yet. Each action is an Event on the
timeline, with who did it.

Re-queueing gives a recipient a fresh retry budget (``attempts_base``) and a fresh age,
and asks the policies again: an address suppressed or refused since is not sent to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from postwarden.configstore.runtime import current_settings
from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text, join, keep
from postwarden.outbox import bulk_sql, policy, states
from postwarden.outbox.models import Event, Recipient, State
from postwarden.outbox.states import Move
from postwarden.outbox.suppressions import normalize

#: states a person may send again
REQUEUEABLE = states.sources(Move.REQUEUED)
#: states a person may cancel (not yet sent, not being sent)
CANCELLABLE = states.sources(Move.CANCELLED)


class _Target(NamedTuple):
    """A recipient a person acts on, as it is read (the fields are the ORM's names)."""

    pk: int
    message_id: int
    address: str
    state: str


class _Event(NamedTuple):
    """A person's action on a recipient's timeline, as it is inserted."""

    message: int
    recipient: int
    kind: str
    at: datetime
    detail: str
    provider: str = ""
    #: the detail and the reason as sentences (core/i18n.py keep)
    words: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    #: recipients changed
    changed: int
    #: recipients that were not in a state the action applies to
    skipped: int
    #: of the changed ones, how many a policy stopped (refused or suppressed now)
    stopped: int = 0


def requeue(recipient_ids: Iterable[int], *, by: str = "", settings: Settings | None = None) -> ActionResult:
    """Queue dead, failed, held or deferred recipients again (now). ``by`` names who asked ("console:
    ops@example.com", "api key deploy-bot")."""
    ids = sorted(set(recipient_ids))
    resolved = settings or current_settings()
    now = timezone.now()
    with transaction.atomic():
        rows = [
            _Target(*row)
            for row in Recipient.objects.select_for_update()
            # a message whose body retention deleted can't be sent again
            .filter(pk__in=ids, state__in=REQUEUEABLE, message__content__isnull=False)
            .values_list(*_Target._fields)
        ]
        decisions = policy.decide([r.address for r in rows], resolved, now=now)
        moves: dict[Move, dict[int, str]] = {}
        events, stopped = [], 0
        for row in rows:
            pk, address, old = row.pk, row.address, row.state
            state, reason = decisions[normalize(address)]
            # releasing is what the person asked for, even while sending is switched off
            move = Move.REQUEUED if state in (State.QUEUED, State.HELD) else states.DECISIONS[state]
            stopped += move is not Move.REQUEUED
            kind = "released" if old == State.HELD else "requeued"
            why = reason if move is not Move.REQUEUED else _done(kind, by)
            moves.setdefault(move, {})[pk] = why
            events.append(_event(row.message_id, pk, kind, now, address, why))
        for move, reasons in moves.items():
            states.apply(
                reasons,
                move,
                reason=reasons,
                now=now,
                finding=policy.FINDINGS.get(states.target(move), ""),
                next_attempt_at=now,
                queued_at=now,
                attempts_base=F("attempts"),
            )
        bulk_sql.insert(Event, _Event._fields, events)
    return ActionResult(len(rows), len(ids) - len(rows), stopped)


def cancel(recipient_ids: Iterable[int], *, by: str = "") -> ActionResult:
    """Cancel recipients that have not been sent and are not being sent."""
    ids = sorted(set(recipient_ids))
    now = timezone.now()
    with transaction.atomic():
        rows = [
            _Target(*row)
            for row in Recipient.objects.select_for_update()
            .filter(pk__in=ids, state__in=CANCELLABLE)
            .values_list(*_Target._fields)
        ]
        why = _done("cancelled", by)
        states.apply([r.pk for r in rows], Move.CANCELLED, reason=why, now=now)
        bulk_sql.insert(
            Event,
            _Event._fields,
            [_event(r.message_id, r.pk, "cancelled", now, r.address, why) for r in rows],
        )
    return ActionResult(len(rows), len(ids) - len(rows))


def _done(kind: str, by: str) -> Text:
    """What a person did, as the recipient's reason: "released by console: ops@example.com"."""
    if kind == "released":
        return Text("released by {by}", by=by) if by else Text("released")
    if kind == "cancelled":
        return Text("cancelled by {by}", by=by) if by else Text("cancelled")
    return Text("re-queued by {by}", by=by) if by else Text("re-queued")


def _event(message: int, recipient: int, kind: str, at: datetime, address: str, why: str) -> _Event:
    """The timeline entry of an action: the address and why, in English and as sentences."""
    detail = join(": ", [address, why])
    return _Event(message, recipient, kind, at, str(detail), "", keep(detail=detail, reason=why))
