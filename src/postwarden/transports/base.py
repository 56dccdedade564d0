"""What a transport is: it takes one delivery (a message to a group of recipients) and
says, per recipient, what the server or provider answered.

Transports do not decide about retries (docs/style.md §7): they report the verbatim answer
and the stage it came at; :mod:`postwarden.outbox.retry` asks the reply knowledge base
whether it is transient or permanent.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from postwarden.core.attachments import Attachment
from postwarden.core.smtp.reply import Reply


@dataclass(frozen=True, slots=True)
class Parts:
    """The structured message, for provider APIs that do not take raw MIME."""

    from_address: str
    from_name: str = ""
    subject: str = ""
    text: str | None = None
    html: str | None = None
    #: visible To/Cc header lists as composed (Bcc never appears)
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    #: custom headers, Message-ID included
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: attachments and inline parts, exactly as the stored MIME carries them
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class TransportDelivery:
    """One transaction: one message to ``recipients`` (at most the transport's
    ``max_recipients``). ``raw`` is the stored bytes, identical on every retry."""

    message_pk: int
    public_id: str
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    raw: bytes
    needs_smtputf8: bool = False
    parts: Parts | None = None


#: the stage of a failure that lies in the stored message itself (it cannot be signed or
#: sent as it is); such a result is also ``refused_before_sending``
MESSAGE_STAGE = "message"


class Outcome(enum.StrEnum):
    SENT = "sent"
    #: refused or failed for now; the retry policy decides (it may still call it permanent)
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    outcome: Outcome
    #: where it happened: an SMTP stage value ("rcpt", "data", "connect" …) or "api"
    stage: str
    #: the SMTP reply, when there was one
    reply: Reply | None = None
    #: the verbatim words: the reply text, the provider's error body, or the exception text
    detail: str = ""
    #: the provider's HTTP status, for API transports
    http_status: int | None = None
    provider_message_id: str = ""
    queue_id: str = ""
    duration_ms: int = 0
    #: the transport refused the message itself before sending anything of it (the
    #: provider's client cannot build the request, the message cannot be signed): the same
    #: stored bytes go on every retry, so the retry policy makes the failure permanent.
    #: ``detail`` says why in words ("not sent: …"), for people; no code reads them.
    refused_before_sending: bool = False
    #: the provider's own name for its error, where its HTTP status does not tell
    #: (Mandrill answers every error, a bad key as a hiccup, with 500 and ``name``)
    provider_error: str = ""


class Transport(Protocol):
    """Sends deliveries: everything the worker knows about a transport is here.
    Implementations are safe to call concurrently from one event loop."""

    #: "smtp", "capture", "ses" …
    name: str
    #: recipients per transaction (SES refuses more than 50)
    max_recipients: int
    #: deliveries it works on at once (connections, threads): the worker runs as many senders
    concurrency: int
    #: whether :meth:`send_many` carries several deliveries in one conversation (one
    #: connection, one round trip each); the worker gives the others one delivery a call
    batches: bool
    #: whether it needs :attr:`TransportDelivery.parts` (provider APIs that do not take raw MIME)
    needs_parts: bool
    #: whether it sends each recipient's own return path (VERP) as the envelope sender
    takes_return_paths: bool
    #: the SMTP server it talks to, ``(host, port)``, which the reply knowledge base words
    #: its advice by; None for provider APIs and capture
    server: tuple[str, int] | None

    async def send(self, delivery: TransportDelivery) -> Sequence[RecipientResult]:
        """One result per recipient of ``delivery``, in any order. Must not raise for
        anything the server or provider said or for network failures: those are results.
        Raises only for programming or configuration errors."""
        ...

    async def send_many(self, deliveries: Sequence[TransportDelivery]) -> Sequence[Sequence[RecipientResult]]:
        """One list of results (as :meth:`send` gives them) per delivery, in order. When
        :attr:`batches`, it raises only before anything was sent (an address the protocol
        cannot carry), so the caller may send the deliveries again one by one."""
        ...

    async def close(self) -> None:
        """Release connections (worker shutdown, settings change)."""
        ...


async def one_at_a_time(
    transport: Transport, deliveries: Sequence[TransportDelivery]
) -> list[Sequence[RecipientResult]]:
    """:meth:`Transport.send_many` for a transport that does not batch: :meth:`Transport.send`
    for each delivery in turn."""
    return [await transport.send(delivery) for delivery in deliveries]
