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
from postwarden.core.replies.reply import Reply


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
class Delivery:
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
#: sent as it is): the retry policy makes it permanent, as no retry can mend it
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


class Transport(Protocol):
    """Sends deliveries. Implementations are safe to call concurrently from one event loop."""

    #: "smtp", "capture", "ses" …
    name: str
    #: recipients per transaction (SES refuses more than 50)
    max_recipients: int

    async def send(self, delivery: Delivery) -> Sequence[RecipientResult]:
        """One result per recipient of ``delivery``, in any order. Must not raise for
        anything the server or provider said or for network failures: those are results.
        Raises only for programming or configuration errors."""
        ...

    async def close(self) -> None:
        """Release connections (worker shutdown, settings change)."""
        ...
