"""A bounce that comes back before the worker wrote its result (a local MTA answers within a
second, the worker writes results with its next claim): the bounce is the newer fact, so
the recipient stays bounced and suppressed when the worker then writes "sent"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.core.doctor.redact import Redactor
from postwarden.outbox import effects, retry, suppressions
from postwarden.outbox.models import Attempt, Recipient, State, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker import claim, leases, record
from postwarden.transports.base import Outcome, RecipientResult
from tests.factories import make_settings

pytestmark = pytest.mark.django_db

REDACT = Redactor(()).text


def _claim(worker_id: str = "w-1") -> claim.Claimed:
    [job] = claim.claim(
        worker_id,
        "smtp",
        limit=10,
        lease=timedelta(seconds=60),
        cap=10,
        with_parts=False,
        now=timezone.now(),
        redact=REDACT,
    )
    [claimed] = job.recipients
    return claimed


def _accepted(claimed: claim.Claimed) -> record.Done:
    result = RecipientResult(claimed.address, Outcome.SENT, "data", detail="250 2.0.0 Ok: queued as Q1")
    return record.Done(claimed, result, retry.SENT, timezone.now())


def test_a_bounce_before_the_workers_result_keeps_the_recipient_bounced_and_suppressed() -> None:
    enqueue(Outgoing(to=["nobody@example.test"], text="x"), settings=make_settings())
    claimed = _claim()
    row = Recipient.objects.get()
    report = effects.bounce(
        "nobody@example.test",
        hard=True,
        detail="5.1.1 unknown user",
        source="bounce <dsn@mx>",
        event_id="dsn",
    )
    assert effects.record(report, recipient=row) is effects.EventOutcome.STORED
    row.refresh_from_db()
    assert row.state == State.BOUNCED
    # the lease renewal still counts it as this worker's: no "taken back" for it
    assert leases.renew("w-1", timezone.now() + timedelta(seconds=60)) == {row.pk}

    record.record([_accepted(claimed)], "w-1", redact=REDACT)

    row.refresh_from_db()
    assert (row.state, row.claimed_by, row.lease_until) == (State.BOUNCED, "", None)
    assert Attempt.objects.get().outcome == "sent"  # the attempt says what the server answered
    assert (
        Suppression.objects.get().reason == suppressions.HARD_BOUNCE
    )  # a "sent" written later lifts nothing
    assert leases.renew("w-1", timezone.now() + timedelta(seconds=60)) == set()


def test_a_result_written_before_the_bounce_is_moved_by_it_as_usual() -> None:
    enqueue(Outgoing(to=["nobody@example.test"], text="x"), settings=make_settings())
    claimed = _claim()
    suppressions.add_bounce("nobody@example.test", source="a bounce that matched no recipient")
    record.record([_accepted(claimed)], "w-1", redact=REDACT)
    row = Recipient.objects.get()
    assert (row.state, row.claimed_by) == (State.SENT, "")
    assert not Suppression.objects.exists()  # an accepted send lifts an older bounce
