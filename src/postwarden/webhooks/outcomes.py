"""Which failures of an authenticated webhook request are worth the provider's retry.

The status code is the provider's instruction (docs/style.md §10): on a 5xx it sends the same
request again (SendGrid for 72 hours, Mailgun for 8, SNS and Svix on their schedules), on a
4xx it gives up. So:

- a request that can never succeed — not JSON, JSON of the wrong shape, a field of the
  wrong type, an inbound notification sent to the tracking URL — answers **400** with a log
  line: sending it again would fail the same way, forever;
- only "could not record it now" answers **500**: the database is locked, gone or not
  migrated yet, a network fetch (an SNS certificate or SubscribeURL) failed.

:func:`retryable` is the one place that tells them apart, by the exception's type;
:func:`check` refuses, before anything is recorded, an event whose identifying fields
anymail read but could not make sense of.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from anymail.signals import AnymailTrackingEvent
from django.db import InterfaceError, InternalError, OperationalError, ProgrammingError

from postwarden.webhooks.verdicts import dig

#: failures that a later attempt of the same request can get past
RETRYABLE: Final = (OperationalError, InterfaceError, InternalError, ProgrammingError, OSError)

#: provider -> fields each raw event must carry as text; each requirement lists the places
#: it may be (Mailgun's JSON webhooks vs its legacy form posts; SES event publishing vs
#: notifications)
REQUIRED: Final[Mapping[str, tuple[tuple[tuple[str, ...], ...], ...]]] = {
    "sendgrid": ((("event",),),),
    "mailgun": ((("event-data", "event"), ("event",)),),
    "postmark": ((("RecordType",),),),
    "resend": ((("type",),),),
    "mandrill": ((("event",), ("type",)),),  # "type" in sync (blacklist/whitelist) events
    "ses": ((("eventType",), ("notificationType",)),),
}
_TEXT_FIELDS: Final = ("recipient", "message_id", "event_id", "description", "mta_response")


class MalformedEvent(ValueError):
    """An event that can never be recorded; the text says which field is wrong."""


def check_batch(provider: str, batch: Any) -> None:
    """Raise :class:`MalformedEvent` unless a provider that posts its events as a JSON list
    (SendGrid's body, Mandrill's ``mandrill_events``) sent a list: a string or an object
    would be iterated as one, and ``""`` or ``{}`` read as "no events"."""
    if not isinstance(batch, list):
        raise MalformedEvent(f"{provider} posts a JSON list of events, not {type(batch).__name__}")


def retryable(exc: BaseException) -> bool:
    """Whether the provider should send the request again (answer 500) rather than drop it
    (answer 400)."""
    return isinstance(exc, RETRYABLE)


def check(provider: str, event: AnymailTrackingEvent, raw: Any) -> None:
    """Raise :class:`MalformedEvent` unless ``event`` (with its raw payload ``raw``) has the
    fields an event of ``provider`` needs, each of the type it must be."""
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"a {provider} event is a JSON object, not {type(raw).__name__}")
    for places in REQUIRED.get(provider, ()):
        if not any(isinstance(dig(raw, *path), str) for path in places):
            names = " or ".join(".".join(path) for path in places)
            raise MalformedEvent(f"a {provider} event without {names} as text")
    for name in _TEXT_FIELDS:
        value = getattr(event, name, None)
        if value is not None and not isinstance(value, str):
            raise MalformedEvent(f"{name} is {type(value).__name__}, not text")
    if event.timestamp is not None and not isinstance(event.timestamp, datetime):
        raise MalformedEvent(f"timestamp is {type(event.timestamp).__name__}")
