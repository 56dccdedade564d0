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


def test_it_sends_through_a_stored_template_as_anymail_names_it() -> None:
    from email.mime.image import MIMEImage

    from postwarden.mailtemplates import store

    runtime.save({"MAIL_FROM": "ops@example.com", "APP_URL": "https://app.example.com"})
    store.save(
        "password-reset",
        store.TemplateDraft(
            "Reset, {{ name }}", None, '<img src="cid:logo"><a href="{{ reset_url }}">reset</a>'
        ),
        by="test",
    )
    message = mail.EmailMessage(
        to=["ann@example.net"],
        connection=mail.get_connection("postwarden.outbox.django_backend.OutboxBackend"),
    )
    message.template_id = "password-reset"  # type: ignore[attr-defined]
    message.merge_global_data = {"name": "Ann", "reset_url": "https://app.example.com/r/1"}  # type: ignore[attr-defined]
    logo = MIMEImage(b"\x89PNG\r\n\x1a\nlogo", "png")
    logo.add_header("Content-ID", "<logo>")
    logo.add_header("Content-Disposition", "inline", filename="logo.png")
    message.attach(logo)
    message.attach("terms.txt", "Be nice.", "text/plain")
    assert message.send() == 1
    stored = Message.objects.get()
    raw = bytes(stored.content.raw)
    assert (stored.source, stored.envelope_from, stored.subject) == (
        "django",
        "ops@example.com",
        "Reset, Ann",
    )
    assert b'href="https://app.example.com/r/1"' in raw
    assert b"Content-ID: <logo>" in raw
    assert b'filename="terms.txt"' in raw
    assert stored.events.get(kind="template").detail == "rendered from template password-reset version 1"


def test_a_template_missing_a_variable_raises_and_queues_nothing() -> None:
    from postwarden.mailtemplates import store
    from postwarden.outbox.errors import Refused

    runtime.save({"MAIL_FROM": "ops@example.com"})
    store.save("password-reset", store.TemplateDraft("Reset", "{{ reset_url }}"), by="test")
    message = mail.EmailMessage(
        to=["ann@example.net"],
        connection=mail.get_connection("postwarden.outbox.django_backend.OutboxBackend"),
    )
    message.template_id = "password-reset"  # type: ignore[attr-defined]
    with pytest.raises(Refused, match="variable 'reset_url' is missing"):
        message.send()
    assert Message.objects.count() == 0
