"""Writing what the relay accepted: a batch of messages, one transaction, one log line
each (database thread; see :mod:`postwarden.relay.committer`).

The application's headers are kept as they are (``enqueue_raw`` adds only a missing
Message-ID or Date), under the relay's Received field (:mod:`postwarden.relay.trace`).
The envelope sender is the application's MAIL FROM when it is in the domain of
MAIL_FROM (or of DKIM_DOMAIN), so bounces go where the operator expects and SPF/DMARC
align; otherwise it is MAIL_FROM, and the message's timeline says so.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from postwarden import logs
from postwarden.core.addresses import ascii_domain as domain
from postwarden.core.addresses import redact
from postwarden.core.config.model import Settings
from postwarden.outbox import bulk
from postwarden.outbox.models import Event
from postwarden.outbox.services import Enqueued, RawItem, Refused, enqueue_raw_many
from postwarden.relay.auth import Identity
from postwarden.relay.commands import printable

log = logging.getLogger("postwarden.relay")

#: RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its code and CRLF
MAX_REPLY_TEXT = 400


@dataclass(frozen=True, slots=True)
class Submission:
    """One message as a session received it."""

    content: bytes
    #: the client's MAIL FROM; "" for the null sender
    mail_from: str
    recipients: tuple[str, ...]
    client: str
    identity: Identity | None
    tls: bool
    #: the queue id the message will have, chosen when its Received field was written
    public_id: str = ""
    #: the relay's Received field (relay/trace.py), put at the top of the message
    trace: bytes = b""


@dataclass(frozen=True, slots=True)
class Stored:
    """The SMTP reply for one submission; ``public_id`` when it was stored."""

    reply: str
    public_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    address: str
    #: why the application's MAIL FROM was replaced (a timeline note), or None
    note: str | None = None


def envelope_sender(mail_from: str, settings: Settings) -> Sender:
    """The envelope sender to deliver with (see the module docstring)."""
    configured = settings.sending.from_address
    if not configured:
        return Sender(mail_from)
    allowed = {domain(configured)}
    if settings.signing.domain:
        allowed.add(domain(settings.signing.domain))
    if mail_from and domain(mail_from) in allowed:
        return Sender(mail_from)
    shown = f"<{mail_from}>" if mail_from else "<> (the null sender)"
    return Sender(
        configured,
        f"relay: the application's envelope sender {shown} is outside {', '.join(sorted(allowed))} "
        f"(MAIL_FROM{'/DKIM_DOMAIN' if len(allowed) > 1 else ''}), so the envelope sender is "
        f"{configured}; the message's own headers are unchanged",
    )


def store_batch(items: Sequence[Submission], settings: Settings) -> list[Stored]:
    """Store ``items`` in one transaction; one :class:`Stored` per item, in order.

    A database error fails the whole batch; then each item is tried alone, so one
    message the database will not take cannot cost the others their place. Raises the
    database error when a batch of one fails."""
    try:
        return _store(items, settings)
    except DatabaseError:
        if len(items) == 1:
            raise
        log.warning("relay batch of %d failed; storing its messages one by one", len(items))
    return [_store_alone(item, settings) for item in items]


def _store_alone(item: Submission, settings: Settings) -> Stored:
    try:
        return _store([item], settings)[0]
    except DatabaseError:
        log.exception("relay message not stored")
        return Stored("451 4.3.0 Error: the message could not be stored; try again later")


def _store(items: Sequence[Submission], settings: Settings) -> list[Stored]:
    senders = [envelope_sender(item.mail_from, settings) for item in items]
    raws = [
        RawItem(
            item.content,
            sender.address,
            item.recipients,
            item.identity.key_id if item.identity else None,
            public_id=item.public_id,
            trace=item.trace,
        )
        for item, sender in zip(items, senders, strict=True)
    ]
    # the outbox writes in one transaction of its own; only when a timeline note must go
    # with the messages is an outer one needed (it would cost a savepoint per batch)
    noted = any(sender.note for sender in senders)
    with transaction.atomic() if noted else contextlib.nullcontext():
        results = enqueue_raw_many(raws, settings=settings, source="relay")
        if noted:
            _note_senders(results, senders)
    replies = []
    accepted: list[tuple[str, dict[str, Any]]] = []
    for item, result in zip(items, results, strict=True):
        if isinstance(result, Refused):
            replies.append(Stored(refusal_reply(result)))
            continue
        accepted.append(_accepted_line(item, result))
        replies.append(Stored(f"250 2.0.0 Ok: queued as {result.public_id}", result.public_id))
    # one line per message, rendered together (a LogRecord and the handler chain per
    # line cost as much as storing the message: docs/performance.md, lean log lines)
    logs.info_lines(log, accepted)
    return replies


def _note_senders(results: Sequence[Enqueued | Refused], senders: Sequence[Sender]) -> None:
    now = timezone.now()
    rows = [
        (result.pk, "relay", now, sender.note, "")
        for result, sender in zip(results, senders, strict=True)
        if sender.note and isinstance(result, Enqueued)
    ]
    if rows:
        bulk.insert(Event, ("message", "kind", "at", "detail", "provider"), rows)


def refusal_reply(refused: Refused) -> str:
    """The SMTP reply for what the outbox refused (RFC 3463 codes by the field it names)."""
    text = printable(" ".join(refused.message.split()), MAX_REPLY_TEXT)
    if refused.field == "size":
        return f"552 5.3.4 Error: {text}"
    if refused.field == "envelope_from":
        return f"550 5.1.7 Error: {text}"
    if refused.field == "recipients":
        return f"550 5.1.3 Error: {text}"
    return f"550 5.6.0 Error: {text}"


def _accepted_line(item: Submission, result: Enqueued) -> tuple[str, dict[str, Any]]:
    return (
        f"relay accepted {result.public_id}",
        {
            "public_id": result.public_id,
            "recipients": [redact(r) for r in item.recipients],
            "client": item.client,
            "key": item.identity.name if item.identity else None,
            "tls": item.tls,
            "bytes": len(item.content),
        },
    )
