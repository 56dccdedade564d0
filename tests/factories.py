"""What tests build: settings records (:func:`make_settings`, the one builder the outbox,
relay and bounce tests share), SMTP settings saved as the console saves them
(:func:`save_smtp`), and outbox rows for tests that need a message and a recipient
in a given state without going through enqueue: a webhook's sent recipient, each state of
the transition table, a delivery event's target. Tests of the way in use
``postwarden.outbox.submission.enqueue`` instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postwarden.configstore import runtime
from postwarden.core.config.model import (
    DeliverySettings,
    Provider,
    Security,
    SendingSettings,
    ServiceSettings,
    Settings,
    SmtpSettings,
)
from postwarden.outbox.models import Message, Recipient, State

if TYPE_CHECKING:
    from tests.smtpd import SmtpServer

#: the Message-ID header the factory's messages carry unless told otherwise
MESSAGE_ID = "<m_hook.1700000000@postwarden.example.com>"


def message(*, message_id: str = MESSAGE_ID, **fields: Any) -> Message:
    """A message row with a fresh public id and no content (nothing for a worker to send)."""
    values: dict[str, Any] = {
        "public_id": f"m_{Message.objects.count() + 1}",
        "from_address": "alerts@example.com",
        "envelope_from": "alerts@example.com",
        **fields,
    }
    return Message.objects.create(message_id=message_id, **values)


def recipient(
    address: str = "ann@example.net", *, state: State = State.SENT, of: Message | None = None, **fields: Any
) -> Recipient:
    """A recipient in ``state`` of message ``of`` (a new one when not given)."""
    return Recipient.objects.create(message=of or message(), address=address, state=state, **fields)


def make_settings(
    *,
    data_dir: Path | None = None,
    smtp_port: int | None = None,
    service: ServiceSettings | None = None,
    **sending: Any,
) -> Settings:
    """Settings built directly (no environment): From ops@example.com, delivery to the plain
    SMTP server on ``smtp_port`` (else the capture transport). ``delivery`` may be given
    among ``sending``; ``service`` replaces the default service settings (``data_dir``)."""
    base = SendingSettings(
        provider=Provider.SMTP if smtp_port else Provider.CAPTURE,
        from_address="ops@example.com",
        from_name="Ops",
    )
    delivery = sending.pop("delivery", DeliverySettings())
    smtp = (
        SmtpSettings(host="127.0.0.1", port=smtp_port, security=Security.NONE, timeout=5.0)
        if smtp_port
        else SmtpSettings()
    )
    if service is None:
        service = ServiceSettings(data_dir=data_dir) if data_dir else ServiceSettings()
    return Settings(sending=replace(base, **sending), smtp=smtp, delivery=delivery, service=service)


def save_smtp(server: SmtpServer, **values: str) -> None:
    """SMTP settings for ``server`` saved as an admin saves them in the console (secrets
    sealed): host localhost (the name the test CA's certificate carries), the security the
    server speaks, From ops@example.com; ``values`` add variables or replace these."""
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "localhost",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": server.security,
            "SMTP_TIMEOUT": "5",
            "MAIL_FROM": "ops@example.com",
            **values,
        }
    )
