"""Retry now what a fix can help: deferred recipients wait out a backoff of up to an hour,
which is right while the cause lasts and wrong once someone fixed it. When the settings
change (a new password, host, provider …) or the transport works again, the deferred
recipients whose last failure was in a stage that fix touches are made due at once.

The stage is the first part of the recipient's finding code (``auth.failed`` → ``auth``,
docs/doctor.schema.json). A failure at a recipient (``envelope.greylisted``, a full
mailbox) is left to its backoff: no change of ours helps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Final, NamedTuple

from django.db.models import Q
from django.utils import timezone

from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text, join, keep
from postwarden.outbox.models import Event, Recipient, State

log = logging.getLogger("postwarden.outbox.retrynow")

#: failures of the way out (the connection, TLS, signing in, the provider's API, the
#: settings themselves): what a change of sending settings, or the transport working
#: again, can help
TRANSPORT: Final = frozenset({"network", "tls", "auth", "provider", "config"})
#: envelope refusals that come from who we are, not from the recipient
SENDER: Final = frozenset({"envelope.sender_rejected", "envelope.relay_denied", "provider.sender_unverified"})

#: why deferred recipients are retried now, as their timelines say it
TRANSPORT_WORKS: Final = Text("the transport works again")
SETTINGS_CHANGED: Final = Text("the settings changed")
SETTINGS_SAVED: Final = Text("the email settings were saved")


def helped_by(old: Settings, new: Settings) -> frozenset[str]:
    """The finding stages (or whole codes) a change from ``old`` to ``new`` can fix."""
    helped: set[str] = set()
    if old.sending.provider != new.sending.provider:
        helped |= TRANSPORT | SENDER
    if old.smtp != new.smtp:
        helped |= {"network", "tls", "auth", "config", "envelope.relay_denied"}
    if old.provider != new.provider:
        helped |= {"provider", "auth", "config"}
    if old.sending.from_address != new.sending.from_address:
        helped |= SENDER
    return frozenset(helped)


def _matching(stages: Iterable[str]) -> Q:
    where = Q(pk__in=[])
    for stage in sorted(stages):
        where |= Q(finding=stage) if "." in stage else Q(finding__startswith=f"{stage}.")
    return where


class _Due(NamedTuple):
    """A deferred recipient made due now, as it is read (the fields are the ORM's names)."""

    pk: int
    message_id: int
    address: str
    finding: str


def retry_deferred(stages: Iterable[str], *, why: str, now: datetime | None = None) -> int:
    """Make due now the deferred recipients whose last failure is in ``stages``; one
    "retry" Event each on its timeline saying ``why``. How many."""
    stages = frozenset(stages)
    if not stages:
        return 0
    now = now or timezone.now()
    rows = [
        _Due(*row)
        for row in Recipient.objects.filter(
            _matching(stages), state=State.DEFERRED, next_attempt_at__gt=now
        ).values_list(*_Due._fields)
    ]
    if not rows:
        return 0
    # state=deferred again: a worker may have claimed one since the read, and that one stays its own
    changed = Recipient.objects.filter(pk__in=[r.pk for r in rows], state=State.DEFERRED).update(
        next_attempt_at=now, updated_at=now
    )
    events = []
    for r in rows:
        detail = join(": ", [r.address, Text("retried now ({finding})", finding=r.finding), why])
        events.append(
            Event(
                message_id=r.message_id,
                recipient_id=r.pk,
                kind="retry",
                at=now,
                detail=str(detail),
                words=keep(detail=detail),
            )
        )
    Event.objects.bulk_create(events)
    log.info("deferred recipients retried now", extra={"count": changed, "why": why})
    return changed
