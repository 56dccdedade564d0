"""Request and response bodies of ``/api/v1/messages``. Unknown fields are refused
(``extra="forbid"``): a misspelt ``htlm`` must not silently send an empty message.

Plain pydantic models, not ninja's ``Schema``: ``Schema`` wraps every object in a getter
that can read Django model instances, which these bodies never are, and that cost more
than the outbox's own work for a batch of 500 (bench/enqueue.py)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from postwarden.api import params

#: messages per POST /batch
MAX_BATCH = 500

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


def _listed(value: Any) -> Any:
    """An address list may be given as one string ("a@x, b@y" is split by the composer)."""
    return [value] if isinstance(value, str) else value


#: what the schema says of an address list: _listed takes one string too
Addresses = Annotated[
    list[str],
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string", "description": "one address, or several separated by commas"},
            ]
        }
    ),
]
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _moment(value: Any) -> Any:
    """``since``/``until`` are ISO 8601 date-times. A bare number is refused, not guessed:
    pydantic would read it as seconds or as milliseconds since 1970 depending on its size."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("give an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z")
    return value


class AttachmentIn(BaseModel):
    """A file: an attachment, or with ``content_id`` an inline part the HTML shows as
    ``<img src="cid:{content_id}">``."""

    model_config = _STRICT

    #: the name the recipient sees; non-ASCII names are carried per RFC 2231
    filename: str = Field(..., min_length=1, max_length=255)
    #: guessed from the filename when absent (application/octet-stream when unknown)
    content_type: str | None = None
    #: the file's bytes, base64-encoded (RFC 4648; line breaks are ignored)
    content: str
    #: makes the file inline: the HTML references it as cid:<content_id>
    content_id: str | None = None


class MessageIn(BaseModel):
    model_config = _STRICT

    #: omitted: MAIL_FROM (with MAIL_FROM_NAME)
    from_: str | None = Field(None, alias="from")
    to: Addresses = Field(default_factory=list)
    cc: Addresses = Field(default_factory=list)
    bcc: Addresses = Field(default_factory=list)
    reply_to: Addresses = Field(default_factory=list)
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)
    #: the same key within 24 hours returns the first message instead of a new one
    idempotency_key: str | None = None
    #: files; each at most POSTWARDEN_MAX_ATTACHMENT_BYTES, the whole message at most
    #: POSTWARDEN_MAX_MESSAGE_BYTES (413 names the limit); executables are refused (400)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)
    #: a stored template's name, instead of subject, text and html: its newest version is
    #: rendered with ``variables`` (a missing variable is a 400 naming it and its line)
    template: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)

    _lists = field_validator("to", "cc", "bcc", "reply_to", mode="before")(_listed)


class BatchIn(BaseModel):
    model_config = _STRICT

    messages: list[MessageIn] = Field(..., max_length=MAX_BATCH)


class RecipientOut(BaseModel):
    address: str
    #: to, cc or bcc
    kind: str
    #: queued, sending, sent, deferred, failed, dead, held, suppressed, refused, delivered …
    state: str
    reason: str


class AcceptedOut(BaseModel):
    id: str
    message_id: str
    #: true when the idempotency key had been used: this is the first message
    duplicate: bool
    recipients: list[RecipientOut]


class ErrorOut(BaseModel):
    #: what is wrong, in words
    detail: str
    #: the field to blame ("to", "headers", "size" …); absent when the body is not JSON at all
    #: (the framework's own 400 says only that)
    field: str = ""


class BatchItemOut(BaseModel):
    index: int
    id: str | None = None
    message_id: str | None = None
    duplicate: bool = False
    recipients: list[RecipientOut] = Field(default_factory=list)
    error: ErrorOut | None = None


class BatchOut(BaseModel):
    accepted: int
    refused: int
    results: list[BatchItemOut]


class RecipientDetail(RecipientOut):
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_reply: str
    #: the doctor's finding code for the last failure
    finding: str
    transport: str
    provider_message_id: str
    updated_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    recipient: str | None
    detail: str
    data: dict[str, Any]


class MessageOut(BaseModel):
    id: str
    message_id: str
    created_at: datetime
    source: str
    from_: str = Field(..., alias="from")
    envelope_from: str
    subject: str
    size: int
    tags: list[str]
    metadata: dict[str, str]
    recipients: list[RecipientDetail]
    timeline: list[TimelineEntry]


class MessageSummary(BaseModel):
    id: str
    message_id: str
    created_at: datetime
    source: str
    subject: str
    tags: list[str]
    recipients: list[RecipientOut]


class MessagePage(BaseModel):
    limit: int
    offset: int
    #: another page follows
    more: bool
    items: list[MessageSummary]


#: the largest page of messages
MAX_LIMIT: Final = 200


class MessageListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: messages with at least one recipient in this state
    state: str | None = None
    #: messages to this address (exact addr-spec)
    recipient: str | None = None
    tag: str | None = None
    #: created at or after
    since: datetime | None = None
    #: created before
    until: datetime | None = None
    limit: int = params.limit(50, MAX_LIMIT)
    offset: int = params.offset()

    _moments = field_validator("since", "until", mode="before")(_moment)


class ActionOut(BaseModel):
    changed: int
    skipped: int
    #: re-queued recipients that a policy stopped (suppressed or refused since)
    stopped: int = 0
