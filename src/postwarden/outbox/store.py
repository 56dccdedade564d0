"""Writing validated messages into the outbox tables: a fixed handful of statements per
batch, whatever its size (bulk_sql.py), in the caller's transaction.

Idempotency: ``(api key, key)`` is unique in :class:`IdempotencyKey`, so of two concurrent
requests with the same key one insert fails; that one is run again inside its savepoint
and then finds the winner's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction

from postwarden.core.config.model import Settings
from postwarden.core.i18n import join, keep
from postwarden.outbox import bulk_sql, policy, states
from postwarden.outbox.models import Content, Event, IdempotencyKey, Message, MessageTag, Recipient, State
from postwarden.outbox.suppressions import normalize

#: an idempotency key returns the first message for this long (issue #3)
IDEMPOTENCY_WINDOW = timedelta(hours=24)


class _MessageRow(NamedTuple):
    """A Message as it is inserted; the fields are the model's, in the statement's order."""

    public_id: str
    message_id: str
    created_at: datetime
    source: str
    api_key: int | None
    from_address: str
    envelope_from: str
    subject: str
    tags: list[str]
    metadata: dict[str, str]
    idempotency_key: str | None
    size: int
    needs_smtputf8: bool


class _ContentRow(NamedTuple):
    """A message's Content as it is inserted."""

    message: int
    raw: bytes
    text: str | None
    html: str | None
    headers: dict[str, str]
    reply_to: list[str]
    from_name: str
    to: list[str]
    cc: list[str]


class _RecipientRow(NamedTuple):
    """A new Recipient as it is inserted."""

    message: int
    address: str
    kind: str
    state: str
    reason: str
    finding: str
    attempts: int
    attempts_base: int
    next_attempt_at: datetime
    queued_at: datetime
    claimed_by: str
    transport: str
    provider_message_id: str
    last_enhanced: str
    last_reply: str
    updated_at: datetime


_MESSAGE_COLUMNS = _MessageRow._fields


@dataclass(slots=True)
class Pending:
    """One validated message on its way into the tables."""

    public_id: str
    message_id: str
    created_at: datetime
    source: str
    api_key_id: int | None
    from_address: str
    envelope_from: str
    subject: str
    tags: tuple[str, ...]
    metadata: dict[str, str]
    key: str | None
    size: int
    needs_smtputf8: bool
    raw: bytes
    recipients: list[tuple[str, str]]
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: list[str] = field(default_factory=list)
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    #: timeline entries written with the message: (kind, detail, data) — the template it
    #: was rendered from, warnings about its links
    events: Sequence[tuple[str, str, dict[str, Any] | None]] = ()
    pk: int | None = None


@dataclass(frozen=True, slots=True)
class RecipientState:
    address: str
    kind: str
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Enqueued:
    """A message in the outbox. ``duplicate``: its idempotency key had been seen and this
    is the first message, as it is now."""

    pk: int
    public_id: str
    message_id: str
    created_at: datetime
    recipients: tuple[RecipientState, ...]
    duplicate: bool = False


def store(
    pending: Mapping[int, Pending], settings: Settings, api_key_id: int | None, now: datetime
) -> dict[int, Enqueued]:
    """Insert ``pending`` (index -> message); returns index -> :class:`Enqueued`."""
    if not pending:
        return {}
    try:
        with transaction.atomic():
            return _insert(pending, settings, api_key_id, now)
    except IntegrityError:
        with transaction.atomic():
            return _insert(pending, settings, api_key_id, now)


def _insert(
    pending: Mapping[int, Pending], settings: Settings, api_key_id: int | None, now: datetime
) -> dict[int, Enqueued]:
    seen, expired = _known_keys(pending.values(), api_key_id, now)
    results: dict[int, Enqueued] = {
        index: _existing(seen[item.key])
        for index, item in pending.items()
        if item.key is not None and item.key in seen
    }
    fresh: dict[int, Pending] = {}
    first_with_key: dict[str, int] = {}
    for index, item in pending.items():
        if index in results:
            continue
        if item.key is not None and item.key in first_with_key:
            continue  # a repeat inside this batch: answered with the first one below
        fresh[index] = item
        if item.key is not None:
            first_with_key[item.key] = index
    if fresh:
        results.update(_write(fresh, settings, now))
        _save_keys(fresh.values(), api_key_id, expired, now)
    for index, item in pending.items():
        if index not in results and item.key is not None:
            first = results[first_with_key[item.key]]
            results[index] = Enqueued(
                first.pk,
                first.public_id,
                first.message_id,
                first.created_at,
                first.recipients,
                duplicate=True,
            )
    return results


def _write(fresh: dict[int, Pending], settings: Settings, now: datetime) -> dict[int, Enqueued]:
    items = list(fresh.values())
    pks = _insert_messages(items)
    for item in items:
        item.pk = pks[item.public_id]
    bulk_sql.insert(
        Content,
        _ContentRow._fields,
        [
            _ContentRow(
                pks[m.public_id], m.raw, m.text, m.html, m.headers, m.reply_to, m.from_name, m.to, m.cc
            )
            for m in items
        ],
    )
    decided = policy.decide([a for m in items for a, _ in m.recipients], settings, now=now)
    # a new recipient's state is the table's answer to the policy's decision
    decisions = {a: (states.born(state), reason) for a, (state, reason) in decided.items()}
    written = {
        pks[m.public_id]: tuple(RecipientState(a, k, *decisions[normalize(a)]) for a, k in m.recipients)
        for m in items
    }
    bulk_sql.insert(
        Recipient,
        _RecipientRow._fields,
        [_recipient_row(pk, s, now) for pk, group in written.items() for s in group],
    )
    bulk_sql.insert(
        Event,
        ("message", "kind", "at", "detail", "provider", "words"),
        [
            _policy_event(pk, s, now)
            for pk, group in written.items()
            for s in group
            if s.state != State.QUEUED
        ],
    )
    bulk_sql.insert(
        Event,
        ("message", "kind", "at", "detail", "provider", "raw", "words"),
        [
            (m.pk, kind, now, str(detail), "", data, keep(detail=detail) or None)
            for m in items
            for kind, detail, data in m.events
        ],
    )
    bulk_sql.insert(MessageTag, ("message", "tag"), [(m.pk, tag) for m in items for tag in m.tags])
    return {
        index: Enqueued(m.pk, m.public_id, m.message_id, m.created_at, written[m.pk])
        for index, m in fresh.items()
        if m.pk is not None
    }


def _known_keys(
    pending: Iterable[Pending], api_key_id: int | None, now: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """``(key -> message pk seen within the window, key -> row pk of an expired key)``."""
    keys = {item.key for item in pending if item.key is not None}
    if not keys:
        return {}, {}
    seen: dict[str, int] = {}
    expired: dict[str, int] = {}
    for row in IdempotencyKey.objects.filter(api_key_id=api_key_id, key__in=keys):
        if row.created_at > now - IDEMPOTENCY_WINDOW:
            seen[row.key] = row.message_id
        else:
            expired[row.key] = row.pk
    return seen, expired


def _save_keys(
    fresh: Iterable[Pending], api_key_id: int | None, expired: dict[str, int], now: datetime
) -> None:
    new_rows = []
    for item in fresh:
        if item.key is None:
            continue
        if item.key in expired:
            IdempotencyKey.objects.filter(pk=expired[item.key]).update(message_id=item.pk, created_at=now)
        else:
            new_rows.append((api_key_id, item.key, item.pk, now))
    bulk_sql.insert(IdempotencyKey, ("api_key", "key", "message", "created_at"), new_rows)


def _existing(message_pk: int) -> Enqueued:
    message = Message.objects.get(pk=message_pk)
    found = tuple(
        RecipientState(r.address, r.kind, r.state, r.reason)
        for r in Recipient.objects.filter(message_id=message_pk).order_by("id")
    )
    return Enqueued(
        message.pk, message.public_id, message.message_id, message.created_at, found, duplicate=True
    )


def _policy_event(message_pk: int, s: RecipientState, now: datetime) -> tuple[object, ...]:
    """A policy decision's timeline entry: the address and the decision, in English and as
    sentences (the decision is the recipient's reason too)."""
    detail = join(": ", [s.address, s.reason])
    return (message_pk, "policy", now, str(detail), "", keep(detail=detail, reason=s.reason) or None)


def _recipient_row(message_pk: int, s: RecipientState, now: datetime) -> _RecipientRow:
    # positionally, in the order of the row's fields (once per recipient; keywords are dearer)
    return _RecipientRow(
        message_pk, s.address, s.kind, s.state, s.reason, policy.FINDINGS.get(s.state, ""), 0, 0, now, now,
        "", "", "", "", "", now,
    )  # fmt: skip


def _message_row(m: Pending) -> _MessageRow:
    # positionally, in the order of the row's fields (once per message; keywords are dearer)
    return _MessageRow(
        m.public_id, m.message_id, m.created_at, m.source, m.api_key_id, m.from_address, m.envelope_from,
        m.subject, list(m.tags), m.metadata, m.key, m.size, m.needs_smtputf8,
    )  # fmt: skip


#: rows per INSERT … RETURNING: 13 parameters each, well under SQLite's 32,766 and
#: PostgreSQL's 65,535 parameters per statement
_RETURNING_ROWS = 500


def _insert_messages(items: list[Pending]) -> dict[str, int]:
    """Insert the Message rows; returns ``public_id -> pk``.

    One ``INSERT … VALUES (…), (…) RETURNING`` (SQLite >= 3.35, PostgreSQL) hands the new
    ids back with the insert itself, instead of a second query for them; RETURNING's
    row order is not promised (SQLite says so), hence the public_id with each id. Where
    the database cannot return rows, the ids are looked up by public_id."""
    if not connection.features.can_return_rows_from_bulk_insert:
        bulk_sql.insert(Message, _MESSAGE_COLUMNS, [_message_row(m) for m in items])
        return _pks_of([m.public_id for m in items])
    adapt = _row_adapter()
    pks: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(items), _RETURNING_ROWS):
            chunk = items[start : start + _RETURNING_ROWS]
            params = [value for m in chunk for value in adapt(_message_row(m))]
            cursor.execute(_returning_sql(len(chunk)), params)
            pks.update(cursor.fetchall())
    return pks


def _returning_sql(rows: int) -> str:
    key = (connection.vendor, rows)
    sql = _returning_statements.get(key)
    if sql is None:
        sql = _returning_statements[key] = _build_returning_sql(rows)
    return sql


#: (vendor, rows) -> statement: a relay batch is the same few sizes over and over
_returning_statements: dict[tuple[str, int], str] = {}


def _build_returning_sql(rows: int) -> str:
    quote = connection.ops.quote_name
    meta = Message._meta
    names = ", ".join(quote(str(getattr(meta.get_field(name), "column", name))) for name in _MESSAGE_COLUMNS)
    row = "(" + ", ".join(["%s"] * len(_MESSAGE_COLUMNS)) + ")"
    # identifiers come from the model, values travel as parameters
    return (
        f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES {', '.join([row] * rows)} "  # noqa: S608
        f"RETURNING {quote('public_id')}, {quote('id')}"
    )


def _row_adapter() -> Callable[[_MessageRow], list[Any]]:
    """Converts a :func:`_message_row` to the driver's values as the ORM would (the
    timestamp as the connection stores it, tags and metadata as JSON)."""
    stamp = bulk_sql.datetime_adapter()
    json_value = connection.ops.adapt_json_value
    created, tags, metadata = (_MESSAGE_COLUMNS.index(n) for n in ("created_at", "tags", "metadata"))

    # most messages carry no tags and no metadata: their JSON is made once per batch
    no_tags, no_metadata = json_value([], None), json_value({}, None)

    def adapt(row: _MessageRow) -> list[Any]:
        values = list(row)
        values[created] = stamp(values[created])
        values[tags] = json_value(values[tags], None) if values[tags] else no_tags
        values[metadata] = json_value(values[metadata], None) if values[metadata] else no_metadata
        return values

    return adapt


def _pks_of(public_ids: list[str]) -> dict[str, int]:
    """``public_id -> pk`` for rows just inserted, by one plain query (the ORM's ``__in``
    prepares each of the 500 values on its own)."""
    quote = connection.ops.quote_name
    marks = ", ".join(["%s"] * len(public_ids))
    sql = f"SELECT public_id, id FROM {quote(Message._meta.db_table)} WHERE public_id IN ({marks})"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, public_ids)
        return {public_id: pk for public_id, pk in cursor.fetchall()}
