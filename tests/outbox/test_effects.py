"""The one owner of a delivery event's effects (outbox/effects.py): timeline, state and
suppression, as the webhooks and bounce processing call it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from postwarden.outbox import effects, suppressions
from postwarden.outbox.effects import EventOutcome
from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests import factories

pytestmark = pytest.mark.django_db


def _sent(address: str = "ann@example.net", state: State = State.SENT) -> Recipient:
    return factories.recipient(address, state=state)


def test_a_hard_bounce_moves_the_recipient_notes_it_and_suppresses_until_the_ttl() -> None:
    rcpt = _sent("Ann@example.net")
    before = timezone.now()
    report = effects.bounce(
        "Ann@example.net",
        hard=True,
        detail="550 5.1.1 user unknown",
        source="bounce <dsn1@mx>",
        event_id="dsn1",
    )
    assert effects.record(report, recipient=rcpt) is EventOutcome.STORED
    rcpt.refresh_from_db()
    assert (rcpt.state, rcpt.reason) == (State.BOUNCED, "bounced: 550 5.1.1 user unknown")
    event = Event.objects.get(recipient=rcpt)
    assert (event.kind, event.detail, event.event_id) == ("bounced", "550 5.1.1 user unknown", "dsn1")
    row = Suppression.objects.get(address="ann@example.net")
    assert (row.reason, row.source, row.event_id) == (suppressions.HARD_BOUNCE, "bounce <dsn1@mx>", event.pk)
    assert row.expires_at is not None
    assert before + effects.BOUNCE_TTL <= row.expires_at <= timezone.now() + effects.BOUNCE_TTL
    # the same report again is a no-op
    assert effects.record(report, recipient=rcpt) is EventOutcome.DUPLICATE
    assert Event.objects.count() == 1


def test_a_complaint_after_a_bounce_moves_forward_and_a_delivery_after_it_does_not_move_back() -> None:
    rcpt = _sent(state=State.BOUNCED)
    effects.record(effects.complaint("ann@example.net", detail="abuse", source="fbl"), recipient=rcpt)
    effects.record(effects.EventReport("delivered", "ann@example.net", "250 ok"), recipient=rcpt)
    rcpt.refresh_from_db()
    assert rcpt.state == State.COMPLAINED
    assert list(Event.objects.order_by("id").values_list("kind", flat=True)) == ["complained", "delivered"]
    row = Suppression.objects.get()
    assert (row.reason, row.expires_at) == (suppressions.COMPLAINT, None)


def test_soft_bounces_suppress_only_once_they_reach_the_limit() -> None:
    rcpt = _sent()
    for n in range(effects.SOFT_LIMIT):
        assert not Suppression.objects.exists(), n
        report = effects.bounce(
            "ann@example.net", hard=False, detail=f"452 4.2.2 full #{n}", source=f"bounce {n}"
        )
        effects.record(report, recipient=rcpt)
    rcpt.refresh_from_db()
    assert rcpt.state == State.SENT  # a soft bounce moves nothing
    row = Suppression.objects.get()
    assert row.reason == suppressions.FAILURES
    assert row.expires_at is not None
    assert row.detail.startswith(f"{effects.SOFT_LIMIT} soft bounces")
    assert "full #4" in row.detail


def test_a_report_about_an_unknown_message_still_suppresses_the_address() -> None:
    report = effects.bounce("gone@example.org", hard=True, detail="5.1.1", source="bounce <x@mx>")
    assert effects.record(report) is EventOutcome.UNMATCHED
    assert Suppression.objects.get().address == "gone@example.org"
    assert not Event.objects.exists()
