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

from django.db import transaction
from django.utils import timezone

from postwarden.configstore.runtime import current_settings
from postwarden.core.config.model import Settings
from postwarden.outbox import bulk, policy
from postwarden.outbox.models import Event, Recipient, State
from postwarden.outbox.suppressions import normalize

#: states a person may send again
REQUEUEABLE = (State.DEAD, State.FAILED, State.HELD, State.DEFERRED)
#: states a person may cancel (not yet sent, not being sent)
CANCELLABLE = (State.QUEUED, State.DEFERRED, State.HELD)


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
        rows = list(
            Recipient.objects.select_for_update()
            # a message whose body retention deleted can't be sent again
            .filter(pk__in=ids, state__in=REQUEUEABLE, message__content__isnull=False)
            .values_list("pk", "message_id", "address", "attempts", "state")
        )
        decisions = policy.decide([r[2] for r in rows], resolved, now=now)
        updates, events, stopped = [], [], 0
        for pk, message_pk, address, attempts, old in rows:
            state, reason = decisions[normalize(address)]
            if state == State.HELD:
                state, reason = State.QUEUED, ""  # releasing is what the person asked for
            stopped += state != State.QUEUED
            why = reason or f"{'released' if old == State.HELD else 're-queued'}{f' by {by}' if by else ''}"
            updates.append((state, why, policy.FINDINGS.get(state, ""), now, now, attempts, now, pk))
            kind = "released" if old == State.HELD else "requeued"
            events.append((message_pk, pk, kind, now, f"{address}: {why}", ""))
        bulk.update(
            Recipient,
            ("state", "reason", "finding", "next_attempt_at", "queued_at", "attempts_base", "updated_at"),
            ("id",),
            updates,
        )
        bulk.insert(Event, ("message", "recipient", "kind", "at", "detail", "provider"), events)
    return ActionResult(len(rows), len(ids) - len(rows), stopped)


def cancel(recipient_ids: Iterable[int], *, by: str = "") -> ActionResult:
    """Cancel recipients that have not been sent and are not being sent."""
    ids = sorted(set(recipient_ids))
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Recipient.objects.select_for_update()
            .filter(pk__in=ids, state__in=CANCELLABLE)
            .values_list("pk", "message_id", "address")
        )
        why = f"cancelled{f' by {by}' if by else ''}"
        Recipient.objects.filter(pk__in=[r[0] for r in rows], state__in=CANCELLABLE).update(
            state=State.CANCELLED, reason=why, updated_at=now
        )
        bulk.insert(
            Event,
            ("message", "recipient", "kind", "at", "detail", "provider"),
            [(message_pk, pk, "cancelled", now, f"{address}: {why}", "") for pk, message_pk, address in rows],
        )
    return ActionResult(len(rows), len(ids) - len(rows))
