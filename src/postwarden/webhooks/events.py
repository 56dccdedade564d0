"""anymail's normalized tracking events -> outbox timeline events, recipient states and
suppressions.

- Matching: by the provider's message id (stored per recipient at send time) and the
  event's recipient; else by the Message-ID header when the payload carries it.
- De-duplication: one Event row per (provider, event id, recipient); a provider's retry of
  the same event is a no-op (Event's unique constraint settles two concurrent deliveries).
- Its effects (the timeline entry, the recipient's state by the transition table, the
  suppression) are :func:`postwarden.outbox.effects.record`'s, shared with bounce
  processing: states only move forward (outbox/states.py ``RANK``), delivered after
  bounced is recorded on the timeline but does not change the state.
- What an event means (its timeline kind, and whether it suppresses the address with which
  reason) is read from the tables of :mod:`postwarden.webhooks.verdicts`: hard bounces,
  complaints, unsubscribes and each provider's documented permanent drop reasons suppress;
  soft bounces are recorded as ``deferred`` and suppress only when they pile up
  (``effects.SOFT_LIMIT``).
- An event for a message Postwarden does not know (sent by another system on the same
  provider account, or older than the outbox's retention) cannot be stored, since an Event
  belongs to a message: it is logged and answered 200, and a hard bounce or complaint still
  suppresses the address, which is a fact about the address.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from anymail.signals import AnymailTrackingEvent

from postwarden.outbox import effects, sources
from postwarden.outbox.effects import EventOutcome
from postwarden.outbox.models import Message, Recipient
from postwarden.webhooks import verdicts

logger = logging.getLogger("postwarden.webhooks")

#: anymail's esp_name -> our provider name
PROVIDERS: Final[dict[str, str]] = {
    "Amazon SES": "ses",
    "SendGrid": "sendgrid",
    "Mailgun": "mailgun",
    "Postmark": "postmark",
    "Resend": "resend",
    "Mandrill": "mandrill",
}

#: provider -> the Message-ID header in the raw payload, when it carries one
HEADER_MESSAGE_ID: Final[dict[str, Callable[[Any], Any]]] = {
    "ses": lambda raw: verdicts.dig(raw, "mail", "commonHeaders", "messageId"),
    "mailgun": lambda raw: verdicts.dig(raw, "event-data", "message", "headers", "message-id"),
}


def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: object) -> None:
    """anymail's ``tracking`` signal receiver (connected in apps.py). Errors propagate: the
    view answers 500 and the provider sends the event again."""
    record(PROVIDERS.get(esp_name, esp_name.lower()), event)


def record(provider: str, event: AnymailTrackingEvent) -> EventOutcome:
    raw = _jsonable(event.esp_event)
    meaning = verdicts.verdict(provider, str(event.event_type), raw)
    address = (event.recipient or "").strip().lower()
    key = event_key(event.event_id, address, raw)
    message, recipient = match(provider, event, raw)
    report = effects.EventReport(
        kind=meaning.kind,
        address=address or (recipient.address if recipient else ""),
        detail=describe(event),
        source=sources.provider_event(provider, event.event_id or key),
        suppress=meaning.suppress,
        provider=provider,
        event_id=key,
        at=event.timestamp,
        raw=raw,
    )
    if message is None:
        logger.info(
            "webhook event for an unknown message",
            extra={
                "provider": provider,
                "event": meaning.kind,
                "provider_message_id": event.message_id or "",
                "recipient": redact(address),
            },
        )
    # one transaction per event, holding no lock across network calls (the view fetches
    # SNS certificates before this); a failure later in the same POST answers 500 and the
    # provider's resend finds this event already stored
    return effects.record(report, message=message, recipient=recipient)


def event_key(event_id: str | None, address: str, raw: Any) -> str:
    """The de-duplication key. One SES notification (one SNS MessageId) covers several
    recipients, so the recipient is part of it; Postmark deliveries and Mandrill events
    have no id at all, so the payload's digest stands in (an exact resend is a duplicate)."""
    base = event_id or "sha256:" + hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    key = f"{base}/{address}" if address else base
    if len(key) > 255:
        key = f"{base[:120]}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def describe(event: AnymailTrackingEvent) -> str:
    parts = [event.description, event.mta_response]
    if event.reject_reason:
        parts.append(f"reason: {event.reject_reason}")
    return "; ".join(str(p).strip() for p in parts if p)[:2000]


def match(provider: str, event: AnymailTrackingEvent, raw: Any) -> tuple[Message | None, Recipient | None]:
    """The message and (when it can be told) the recipient an event is about."""
    address = (event.recipient or "").strip().lower()
    if event.message_id:
        candidates = list(
            Recipient.objects.select_related("message")
            .filter(provider_message_id__in=_variants(event.message_id))
            # the partial index rcpt_provider's condition (SQLite uses it only when asked
            # so); and an id of '<>' must not match every recipient sent over SMTP
            .exclude(provider_message_id="")
            .order_by("-id")[:500]
        )
        exact = [r for r in candidates if r.address == address]
        if exact:
            return exact[0].message, exact[0]
        if len(candidates) == 1:
            return candidates[0].message, candidates[0]
        if candidates:
            return candidates[0].message, None
    extract = HEADER_MESSAGE_ID.get(provider)
    header = extract(raw) if extract is not None else None
    if header:
        message = Message.objects.filter(message_id__in=_variants(str(header))).order_by("-id").first()
        if message is not None:
            return message, message.recipients.filter(address=address).first() if address else None
    return None, None


def _variants(message_id: str) -> list[str]:
    bare = message_id.strip().strip("<>")
    return [bare, f"<{bare}>"]


def _jsonable(value: Any) -> Any:
    """The raw payload as JSON (Mailgun's legacy form posts arrive as a QueryDict)."""
    if hasattr(value, "lists"):
        value = {k: v[0] if len(v) == 1 else v for k, v in value.lists()}
    return json.loads(json.dumps(value, default=str))


def redact(address: str) -> str:
    """``alice@example.com`` -> ``ali***@example.com`` for log lines."""
    local, _, domain = address.rpartition("@")
    return f"{local[:3]}***@{domain}" if local else "***"
