"""Django's own mail (password resets) goes through the outbox."""

from __future__ import annotations

import pytest
from django.core import mail

from postwarden.configstore import runtime
from postwarden.outbox.models import Message, Recipient

pytestmark = pytest.mark.django_db


def test_it_queues_djangos_mail_with_its_headers_and_blind_copies(settings: object) -> None:
    runtime.save({"MAIL_FROM": "ops@example.com"})
    message = mail.EmailMessage(
        "Reset your password",
        "Follow the link.",
        "Console <console@example.com>",
        ["ops-admin@example.com"],
        bcc=["audit@example.com"],
        headers={"X-Postwarden-Reason": "reset"},
        connection=mail.get_connection("postwarden.outbox.django_backend.OutboxBackend"),
    )
    assert message.send() == 1
    stored = Message.objects.get()
    raw = bytes(stored.content.raw)
    assert (stored.source, stored.envelope_from, stored.subject) == (
        "django",
        "console@example.com",
        "Reset your password",
    )
    assert b"X-Postwarden-Reason: reset\r\n" in raw
    assert b"audit@" not in raw
    assert sorted(Recipient.objects.values_list("address", "kind")) == [
        ("audit@example.com", "bcc"),
        ("ops-admin@example.com", "to"),
    ]


def test_it_raises_for_a_refused_message_unless_told_to_be_silent() -> None:
    runtime.save({"MAIL_FROM": "ops@example.com"})
    loud = mail.get_connection("postwarden.outbox.django_backend.OutboxBackend")
    quiet = mail.get_connection("postwarden.outbox.django_backend.OutboxBackend", fail_silently=True)
    bad = {"subject": "x", "body": "y", "from_email": "not an address", "to": ["a@example.com"]}
    assert mail.EmailMessage(**bad, connection=quiet).send() == 0
    with pytest.raises(ValueError, match="envelope_from"):
        mail.EmailMessage(**bad, connection=loud).send()
    assert Message.objects.count() == 0
