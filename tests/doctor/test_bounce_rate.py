"""queue.bounce_rate's facts from a real database: the recipients of the messages made
in the window, accepted (sent, delivered, bounced, complained) and of them bounced and
complained; older messages and mail not accepted do not count."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.core.config.model import AlertSettings
from postwarden.doctor.report import service_facts
from postwarden.outbox.models import Message, Recipient
from postwarden.outbox.submission import Outgoing, enqueue_many
from tests.factories import make_settings

pytestmark = pytest.mark.django_db


def test_the_window_counts_accepted_bounced_and_complained() -> None:
    settings = replace(make_settings(), alerts=AlertSettings(bounce_window_hours=2))
    states = ["sent"] * 5 + ["delivered"] * 3 + ["bounced"] * 2 + ["complained", "queued", "dead", "sent"]
    enqueue_many(
        [Outgoing(to=[f"r{i}@example.com"], subject="s", text="t") for i in range(len(states))],
        settings=settings,
    )
    for recipient, state in zip(Recipient.objects.order_by("id"), states, strict=True):
        Recipient.objects.filter(pk=recipient.pk).update(state=state)
    # the last message was made before the window
    last = Message.objects.order_by("-id").first()
    assert last is not None
    Message.objects.filter(pk=last.pk).update(created_at=timezone.now() - timedelta(hours=3))
    queue = service_facts(settings, None).queue
    assert (
        queue.window_accepted,
        queue.window_bounced,
        queue.window_complained,
        queue.bounce_window_hours,
    ) == (
        11,
        2,
        1,
        2,
    )
