"""Putting mail into the outbox: the one way in for the API, the relay, the console, the
CLI and Django's own mail (docs/style.md §2).

Every function writes in the CALLER's transaction (``transaction.atomic`` is a savepoint
when one is open), with bulk inserts only, so a batch of 500 costs a handful of
statements; what leaves the process (the log line, the ``message_enqueued`` signal) runs
after commit. Bad input raises :class:`~postwarden.outbox.errors.Refused`, which names the field.

:func:`enqueue` and :func:`enqueue_many` called with no transaction open (the API's
request threads) do not commit on their own: their rows join a group commit
(outbox/groupcommit.py), one transaction and one fsync for every request waiting, and
they return once that transaction committed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from postwarden import logs
from postwarden.accounts.models import ApiKey
from postwarden.configstore.runtime import current_settings
from postwarden.core.addresses import InvalidAddress
from postwarden.core.config.model import Settings
from postwarden.core.message import Composed, Draft, InvalidMessage, compose, ordered_hex
from postwarden.outbox.attachments import FileIn, checked
from postwarden.outbox.errors import Refused
from postwarden.outbox.groupcommit import GroupCommitter
from postwarden.outbox.links import links_event
from postwarden.outbox.raw_message import RawMessage, prepare_raw
from postwarden.outbox.rendering import TemplateCache
from postwarden.outbox.store import Enqueued, Pending, RecipientState, store

__all__ = [
    "Enqueued",
    "FileIn",
    "Outgoing",
    "RawItem",
    "RecipientState",
    "Refused",
    "enqueue",
    "enqueue_many",
    "enqueue_raw",
    "enqueue_raw_many",
]

log = logging.getLogger("postwarden.outbox")
T = TypeVar("T")

#: recipients one message may have (to + cc + bcc); more is a mailing list, not a notification
MAX_RECIPIENTS = 1000
MAX_TAGS, MAX_TAG_LENGTH = 10, 100
MAX_METADATA = 50
#: core.message's field names -> the API's
_FIELD_NAMES = {
    "from_address": "from",
    "from_name": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply_to": "reply_to",
    "subject": "subject",
    "text": "text",
    "html": "html",
}

#: sent after commit with ``messages=[Enqueued, …]`` (new ones only) and ``source``: what
#: happens next may leave the process
message_enqueued = Signal()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message as an application asks for it (the API's body, the console's form)."""

    to: Sequence[str] = ()
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    #: None = MAIL_FROM (and MAIL_FROM_NAME)
    from_address: str | None = None
    reply_to: Sequence[str] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    #: attachments and inline images (those with a content_id)
    attachments: Sequence[FileIn] = ()
    #: a stored template's name: its newest version gives subject, text and HTML
    template: str | None = None
    #: what the template is rendered with
    variables: Mapping[str, Any] = field(default_factory=dict)


def enqueue(
    outgoing: Outgoing,
    *,
    settings: Settings | None = None,
    source: str = "api",
    api_key: ApiKey | None = None,
) -> Enqueued:
    """Validate, compose and store one message. Raises :class:`Refused`."""
    result = enqueue_many([outgoing], settings=settings, source=source, api_key=api_key)[0]
    if isinstance(result, Refused):
        raise result
    return result


def enqueue_many(
    items: Sequence[Outgoing],
    *,
    settings: Settings | None = None,
    source: str = "batch",
    api_key: ApiKey | None = None,
) -> list[Enqueued | Refused]:
    """Validate, compose and store several messages in one transaction; one result per
    item, in order: the stored message, or the :class:`Refused` that kept it out."""
    resolved = settings or current_settings()
    templates = TemplateCache()
    return _enqueue(
        items,
        lambda item, now: _prepare(templates.rendered(item), resolved, source, api_key, now),
        resolved,
        api_key.pk if api_key else None,
        source,
        grouped=True,
    )


@dataclass(frozen=True, slots=True)
class RawItem:
    """One message for :func:`enqueue_raw_many` (the arguments of :func:`enqueue_raw`)."""

    raw: bytes
    envelope_from: str
    recipients: Sequence[str]
    api_key_id: int | None = None
    tags: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: the queue id to give the message ("" for a new one): the relay names it in ``trace``
    public_id: str = ""
    #: trace fields to put above everything (the relay's Received field)
    trace: bytes = b""
    #: a timeline entry stored with the message under the source's name ("" for none):
    #: the relay's word on an envelope sender it replaced
    note: str = ""


def enqueue_raw(
    raw: bytes,
    envelope_from: str,
    recipients: Sequence[str],
    *,
    settings: Settings | None = None,
    source: str = "relay",
    api_key: ApiKey | None = None,
    tags: Sequence[str] = (),
    metadata: Mapping[str, str] | None = None,
) -> Enqueued:
    """Store a message the application composed itself (the SMTP relay). Its headers are
    kept; Message-ID and Date are added only when absent, Bcc is removed. Raises :class:`Refused`."""
    item = RawItem(raw, envelope_from, recipients, api_key.pk if api_key else None, tags, metadata or {})
    result = enqueue_raw_many([item], settings=settings, source=source)[0]
    if isinstance(result, Refused):
        raise result
    return result


def enqueue_raw_many(
    items: Sequence[RawItem], *, settings: Settings | None = None, source: str = "relay"
) -> list[Enqueued | Refused]:
    """:func:`enqueue_raw` for several messages at once, in the caller's transaction and a
    fixed handful of statements (the relay's group commit); one result per item, in order."""
    resolved = settings or current_settings()

    def prepare(item: RawItem, now: datetime) -> Pending:
        prepared = prepare_raw(item.raw, item.envelope_from, item.recipients, now=now, trace=item.trace)
        _check_size(prepared.size, resolved)
        return _raw_pending(prepared, source, item, now)

    return _enqueue(items, prepare, resolved, None, source)


def _enqueue(
    items: Sequence[T],
    prepare: Callable[[T, datetime], Pending],
    settings: Settings,
    api_key_id: int | None,
    source: str,
    *,
    grouped: bool = False,
) -> list[Enqueued | Refused]:
    """Prepare each item (a :class:`Refused` keeps it out), store the rest in one go, and
    announce them after commit; one result per item, in order. ``grouped``: outside a
    transaction, the rows go through the group commit (committed on return)."""
    now = timezone.now()
    results: list[Enqueued | Refused | None] = [None] * len(items)
    pending: dict[int, Pending] = {}
    for index, item in enumerate(items):
        try:
            pending[index] = prepare(item, now)
        except Refused as refused:
            results[index] = refused
    if grouped and pending and not connection.in_atomic_block:
        stored = _committer.submit(_StoreJob(pending, settings, api_key_id, now))
    else:
        stored = store(pending, settings, api_key_id, now)
    for index, enqueued in stored.items():
        results[index] = enqueued
    _after_commit(list(stored.values()), source)
    return [r for r in results if r is not None]


@dataclass(frozen=True, slots=True)
class _StoreJob:
    """One caller's validated messages, waiting for the group commit."""

    pending: dict[int, Pending]
    settings: Settings
    api_key_id: int | None
    now: datetime


def _write_jobs(jobs: Sequence[_StoreJob]) -> list[dict[int, Enqueued] | BaseException]:
    """The group commit's transaction: every job's rows, then one commit."""
    with transaction.atomic():
        return _store_jobs(jobs)


def _store_jobs(jobs: Sequence[_StoreJob]) -> list[dict[int, Enqueued] | BaseException]:
    """Jobs with the same settings and API key are stored with ONE :func:`store` call
    (one set of bulk statements and policy queries for all). Should that fail, each job
    is stored again on its own, in its own savepoint, so that a job that cannot be
    stored fails alone (its exception is its result) and the others still commit."""
    results: list[dict[int, Enqueued] | BaseException | None] = [None] * len(jobs)
    groups: dict[tuple[int, int | None], list[int]] = {}
    for number, job in enumerate(jobs):
        groups.setdefault((id(job.settings), job.api_key_id), []).append(number)
    for numbers in groups.values():
        merged: dict[int, Pending] = {}
        owner: dict[int, tuple[int, int]] = {}
        for number in numbers:
            for index, item in jobs[number].pending.items():
                owner[len(merged)] = (number, index)
                merged[len(merged)] = item
        first = jobs[numbers[0]]
        try:
            stored = store(merged, first.settings, first.api_key_id, max(jobs[n].now for n in numbers))
        except Exception:
            for number in numbers:
                results[number] = _store_alone(jobs[number])
            continue
        split: dict[int, dict[int, Enqueued]] = {number: {} for number in numbers}
        for key, enqueued in stored.items():
            number, index = owner[key]
            split[number][index] = enqueued
        for number in numbers:
            results[number] = split[number]
    return [r if r is not None else {} for r in results]


def _store_alone(job: _StoreJob) -> dict[int, Enqueued] | BaseException:
    try:
        with transaction.atomic():
            return store(job.pending, job.settings, job.api_key_id, job.now)
    except Exception as error:
        log.exception("enqueue of %d messages failed in a group commit", len(job.pending))
        return error


#: the web server's request threads meet here (outbox/groupcommit.py)
_committer: GroupCommitter[_StoreJob, dict[int, Enqueued]] = GroupCommitter(
    _write_jobs,
    # a request carries up to 500 messages: the batch is bounded in messages
    size=lambda job: len(job.pending),
    # each job is stored in a savepoint of its own when its statements fail
    # (_store_jobs); what is left is a constraint checked at commit (a foreign key: an
    # API key deleted meanwhile), which only the job at fault should pay for
    alone_on=(IntegrityError,),
    name="api-group-commit",
)


def _prepare(
    given: tuple[Outgoing, list[tuple[str, str, dict[str, Any]]]],
    settings: Settings,
    source: str,
    api_key: ApiKey | None,
    now: datetime,
) -> Pending:
    outgoing, events = given
    composed = _compose(outgoing, settings)
    events = events + links_event(outgoing.text, outgoing.html, settings)
    _check_size(composed.size, settings)
    shown = [r for r in composed.recipients if r.kind != "bcc"]
    return Pending(
        public_id=new_public_id(),
        message_id=composed.message_id,
        created_at=now,
        source=source,
        api_key_id=api_key.pk if api_key else None,
        from_address=composed.envelope_from,
        envelope_from=composed.envelope_from,
        subject=outgoing.subject[:998],
        tags=_clean_tags(outgoing.tags),
        metadata=_clean_metadata(outgoing.metadata),
        key=_clean_key(outgoing.idempotency_key),
        size=composed.size,
        needs_smtputf8=composed.needs_smtputf8,
        raw=composed.raw,
        text=outgoing.text,
        html=outgoing.html,
        headers=dict(outgoing.headers),
        reply_to=list(outgoing.reply_to or _default_reply_to(settings)),
        from_name=_from_name(outgoing, settings),
        to=[r.address for r in shown if r.kind == "to"],
        cc=[r.address for r in shown if r.kind == "cc"],
        recipients=[(r.address, r.kind) for r in composed.recipients],
        events=events,
    )


def _compose(outgoing: Outgoing, settings: Settings) -> Composed:
    sender = outgoing.from_address or settings.sending.from_address
    if not sender:
        raise Refused("from", "no From address: give 'from' or set MAIL_FROM")
    count = len(outgoing.to) + len(outgoing.cc) + len(outgoing.bcc)
    if count > MAX_RECIPIENTS:
        raise Refused("to", f"{count} recipients; a message may have at most {MAX_RECIPIENTS}")
    draft = Draft(
        from_address=sender,
        from_name=_from_name(outgoing, settings) or None,
        to=outgoing.to,
        cc=outgoing.cc,
        bcc=outgoing.bcc,
        reply_to=outgoing.reply_to or _default_reply_to(settings),
        subject=outgoing.subject,
        text=outgoing.text,
        html=outgoing.html,
        headers=outgoing.headers,
        recipient_mode=settings.sending.recipient_mode,
        attachments=checked(outgoing.attachments, settings),
    )
    try:
        return compose(draft)
    except (InvalidAddress, InvalidMessage) as exc:
        raise Refused(_field_of(str(exc)), str(exc)) from None


def _from_name(outgoing: Outgoing, settings: Settings) -> str:
    # MAIL_FROM_NAME belongs with MAIL_FROM: a caller's own From keeps its own name
    return "" if outgoing.from_address else (settings.sending.from_name or "")


def _default_reply_to(settings: Settings) -> tuple[str, ...]:
    return (settings.sending.reply_to,) if settings.sending.reply_to else ()


def _field_of(text: str) -> str:
    """The field an error from core.message names first ("to: …", "header 'X-A' …")."""
    if text.startswith("the message has no recipients"):
        return "to"
    word = re.split(r"[:\s]", text, maxsplit=1)[0]
    return "headers" if word == "header" else _FIELD_NAMES.get(word, "message")


def _check_size(size: int, settings: Settings) -> None:
    limit = settings.delivery.max_message_bytes
    if size > limit:
        raise Refused(
            "size",
            f"the message is {size} bytes; the limit is {limit} bytes (POSTWARDEN_MAX_MESSAGE_BYTES)",
            status=413,
        )


def _clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS:
        raise Refused("tags", f"{len(tags)} tags; at most {MAX_TAGS}")
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            raise Refused("tags", f"tag {tag!r} is not allowed: 1 to {MAX_TAG_LENGTH} printable characters")
    return tuple(dict.fromkeys(t.strip() for t in tags))


def _clean_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA:
        raise Refused("metadata", f"{len(metadata)} metadata keys; at most {MAX_METADATA}")
    cleaned: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise Refused("metadata", f"metadata key {key!r} must be 1 to 100 characters")
        if isinstance(value, bool | int | float | str):
            cleaned[key] = str(value)[:1000]
        else:
            raise Refused(f"metadata.{key}", "metadata values are strings, numbers or booleans")
    return cleaned


def _clean_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > 200 or not key.isprintable():
        raise Refused("idempotency_key", "idempotency_key must be 1 to 200 printable characters")
    return key


def _raw_pending(prepared: RawMessage, source: str, item: RawItem, now: datetime) -> Pending:
    return Pending(
        public_id=item.public_id or new_public_id(),
        message_id=prepared.message_id,
        created_at=now,
        source=source,
        api_key_id=item.api_key_id,
        from_address=prepared.from_address,
        envelope_from=prepared.envelope_from,
        subject=prepared.subject[:998],
        tags=_clean_tags(item.tags),
        metadata=_clean_metadata(item.metadata),
        key=None,
        size=prepared.size,
        needs_smtputf8=prepared.needs_smtputf8,
        raw=prepared.raw,
        to=list(prepared.to),
        cc=list(prepared.cc),
        recipients=list(prepared.recipients),
        events=[(source, item.note, None)] if item.note else (),
    )


def new_public_id() -> str:
    # 80 random bits: unguessable in URLs, unique without coordination; after the time,
    # so the unique index takes new ids at its end (core.message.ordered_hex)
    return "m_" + ordered_hex(10)


def _after_commit(enqueued: list[Enqueued], source: str) -> None:
    fresh = [e for e in enqueued if not e.duplicate]
    if not fresh:
        return

    def announce() -> None:
        # info_lines renders the line as log.info would, without a LogRecord and the
        # handler chain (a tenth of a single-message API request's CPU: docs/performance.md)
        fields = {
            "messages": len(fresh),
            "recipients": sum(len(e.recipients) for e in fresh),
            "first": fresh[0].public_id,
            "source": source,
        }
        logs.info_lines(log, [("enqueued", fields)])
        message_enqueued.send(sender=Enqueued, messages=fresh, source=source)

    transaction.on_commit(announce)
