"""Writing what the relay accepted: a batch of messages, one transaction, one log line
each (the writer thread of the group commit: :mod:`postwarden.outbox.groupcommit`), through
the outbox's public way in (:func:`postwarden.outbox.submission.enqueue_raw_many`).

The application's headers are kept as they are (``enqueue_raw`` adds only a missing
Message-ID or Date), under the relay's Received field (:mod:`postwarden.relay.trace`).
The envelope sender is the application's MAIL FROM when it is in the domain of
MAIL_FROM (or of DKIM_DOMAIN), so bounces go where the operator expects and SPF/DMARC
align; otherwise it is MAIL_FROM, and the message's timeline says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from postwarden import logs
from postwarden.core.addresses import ascii_domain as domain
from postwarden.core.addresses import redact
from postwarden.core.config.model import Settings
from postwarden.outbox.submission import Enqueued, RawItem, Refused, enqueue_raw_many
from postwarden.relay.auth import Identity
from postwarden.relay.commands import printable

log = logging.getLogger("postwarden.relay")

#: RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its code and CRLF
MAX_REPLY_TEXT = 400
#: the reply when the message's transaction did not commit (the application retries)
NOT_STORED = "451 4.3.0 Error: the message could not be stored; try again later"


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
class RelaySender:
    address: str
    #: why the application's MAIL FROM was replaced (a timeline note), or None
    note: str | None = None


def envelope_sender(mail_from: str, settings: Settings) -> RelaySender:
    """The envelope sender to deliver with (see the module docstring)."""
    configured = settings.sending.from_address
    if not configured:
        return RelaySender(mail_from)
    allowed = {domain(configured)}
    if settings.signing.domain:
        allowed.add(domain(settings.signing.domain))
    if mail_from and domain(mail_from) in allowed:
        return RelaySender(mail_from)
    shown = f"<{mail_from}>" if mail_from else "<> (the null sender)"
    return RelaySender(
        configured,
        f"relay: the application's envelope sender {shown} is outside {', '.join(sorted(allowed))} "
        f"(MAIL_FROM{'/DKIM_DOMAIN' if len(allowed) > 1 else ''}), so the envelope sender is "
        f"{configured}; the message's own headers are unchanged",
    )


def store_batch(items: Sequence[Submission], settings: Settings) -> list[Stored]:
    """Store ``items`` in one transaction; one :class:`Stored` per item, in order. A
    database error fails the whole batch (the group commit then writes each message
    on its own, so one message the database will not take costs the others nothing)."""
    senders = [envelope_sender(item.mail_from, settings) for item in items]
    raws = [
        RawItem(
            item.content,
            sender.address,
            item.recipients,
            item.identity.key_id if item.identity else None,
            public_id=item.public_id,
            trace=item.trace,
            note=sender.note or "",
        )
        for item, sender in zip(items, senders, strict=True)
    ]
    results = enqueue_raw_many(raws, settings=settings, source="relay")
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
