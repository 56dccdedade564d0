"""Outbox rows for tests that need a message and a recipient in a given state without going
through enqueue: a webhook's sent recipient, each state of the transition table, a delivery
event's target. Tests of the way in use ``postwarden.outbox.submission.enqueue`` instead."""

from __future__ import annotations

from typing import Any

from postwarden.outbox.models import Message, Recipient, State

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
