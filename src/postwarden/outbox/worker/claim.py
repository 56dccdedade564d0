"""The worker's claim: due recipients taken under a lease and grouped into deliveries.
Synchronous and short: a few statements per batch of hundreds of recipients, whatever
the batch size.

The claim is one conditional UPDATE of the pending rows (docs/style.md §1), which works on
SQLite (one writer at a time) and PostgreSQL, where the id sub-select takes
``FOR UPDATE SKIP LOCKED`` so concurrent workers never claim the same row. The same
transaction first writes the results gathered so far (:mod:`.record`) and returns rows
whose lease expired (their worker died) to the queue (:mod:`.leases`), then writes an
Attempt "sending" for every claimed row (docs/style.md §4) with one ``INSERT … SELECT``:
on PostgreSQL inside the claim's own statement (a ``WITH`` clause), on SQLite after it.

At ten thousand attempts a second every microsecond per row counts: rows travel as
named tuples (no model instances, no per-row adapters), which cost a third of a frozen
dataclass to build; each is defined next to the statement that reads or writes it, its
fields named as the columns, so a schema change touches the model, its migration and
the file of the concern (this one, :mod:`.record`, :mod:`.leases`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from django.db import connection, transaction

from postwarden.core.verp import Verp
from postwarden.outbox import bulk_sql, states
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.states import Move
from postwarden.outbox.worker import leases, record
from postwarden.outbox.worker.record import Done, Redact
from postwarden.transports.base import Parts, TransportDelivery


class Claimed(NamedTuple):
    """One claimed recipient: ``attempt`` is this attempt's number."""

    pk: int
    message_pk: int
    address: str
    attempt: int
    attempts_base: int
    queued_at: datetime


class Job(NamedTuple):
    """One delivery and the recipients it carries."""

    delivery: TransportDelivery
    recipients: tuple[Claimed, ...]


class _Sending(NamedTuple):
    """What a delivery needs of its message: the columns :func:`_messages` selects, and
    the parts only provider transports need."""

    public_id: str
    message_id: str
    envelope_from: str
    needs_smtputf8: bool
    raw: bytes
    parts: Parts | None = None


def claim(
    worker_id: str,
    transport: str,
    *,
    limit: int,
    lease: timedelta,
    cap: int,
    with_parts: bool,
    now: datetime,
    redact: Redact,
    message_pk: int | None = None,
    done: Sequence[Done] = (),
    reap: bool = True,
    verp: Verp | None = None,
) -> list[Job]:
    """Claim up to ``limit`` due recipients (only those of ``message_pk`` when given:
    ``send-test``) and group them into deliveries of at most ``cap`` recipients of one
    message. ``done``: results to record first, in the same transaction (one commit, one
    fsync, instead of two), their texts passed through ``redact`` (see :func:`.record.record`).
    ``reap``: first return expired leases to the queue (the worker asks every few seconds,
    not at every claim). ``verp``: each recipient goes alone, with its own return path
    (BOUNCE_DOMAIN). One transaction."""
    with transaction.atomic():
        record.write(done, worker_id, redact)
        if reap:
            leases.reap_expired(now)
        rows = _claim_rows(worker_id, transport, limit, now + lease, now, message_pk)
        if not rows:
            return []
        if connection.vendor != "postgresql":  # there the claim's statement wrote them
            _insert_sending(rows, now, transport, worker_id)
        messages = _messages({c.message_pk for c in rows}, with_parts)
    if verp is not None:
        return _verp_jobs(rows, messages, verp)
    return _jobs(rows, messages, cap)


def _claim_rows(
    worker_id: str, transport: str, limit: int, lease_until: datetime, now: datetime, message_pk: int | None
) -> list[Claimed]:
    adapt = bulk_sql.datetime_adapter()
    params: list[Any] = [adapt(lease_until), worker_id, transport, adapt(now), adapt(now)]
    params += [message_pk] if message_pk is not None else []
    params.append(limit)
    if connection.vendor == "postgresql":
        params += _sending_params(now, transport, worker_id)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor, message_pk is not None), params)
        fetched = cursor.fetchall()
    aware = _aware_parser()
    # in the order of the statement's RETURNING
    rows = [
        Claimed(pk, message_pk, address, attempt, base, aware(queued_at))
        for pk, message_pk, address, attempt, base, queued_at in fetched
    ]
    rows.sort(key=lambda c: (c.message_pk, c.pk))
    return rows


def _claim_sql(vendor: str, one_message: bool) -> str:
    """The claim: the sub-select finds the due ids, the UPDATE takes them (re-checking
    the state the sub-select saw; on PostgreSQL the rows are locked anyway).

    On SQLite the plan is pinned. Left to itself (no ANALYZE statistics) its planner
    reads ``state IN (…)`` through ``rcpt_state`` in both halves, which walks every
    pending row and sorts them for each claim, a cost growing with the queue, against a
    constant one through the partial index ``rcpt_pending`` (docs/performance.md)
    (a range scan in ``next_attempt_at`` order that stops at LIMIT) and rowid look-ups.
    A unary ``+`` keeps a term from choosing an index; ``INDEXED BY`` fails loudly
    should the index ever be missing. For one message (``send-test``) the message's
    own index is the short way."""
    table = connection.ops.quote_name(Recipient._meta.db_table)
    sqlite = vendor == "sqlite"
    # the partial index rcpt_pending's own condition: the claim's sources, in its order
    pending = states.sql_in(Move.CLAIMED)
    unindexed = f"+{pending}" if sqlite else pending
    if one_message:
        source, due = table, f"{unindexed} AND next_attempt_at <= %s AND message_id = %s"
    else:
        source = f"{table} INDEXED BY rcpt_pending" if sqlite else table
        due = f"{pending} AND next_attempt_at <= %s"
    due_ids = f"SELECT id FROM {source} WHERE {due} ORDER BY next_attempt_at LIMIT %s"  # noqa: S608
    # PostgreSQL: the ids as one array, so the rows are found through the primary key;
    # as "id IN (…)" its planner may hash-join the sub-select with a scan of the whole table
    postgres = vendor == "postgresql"
    ids = f"= ANY(ARRAY({due_ids} FOR UPDATE SKIP LOCKED))" if postgres else f"IN ({due_ids})"
    returned = "id, message_id, address, attempts, attempts_base, queued_at"
    update = (
        f"UPDATE {table} SET state = '{states.target(Move.CLAIMED)}', lease_until = %s, claimed_by = %s, "  # noqa: S608
        "transport = %s, "
        "attempts = attempts + 1, updated_at = %s "
        f"WHERE id {ids} "
        f"AND {unindexed} RETURNING {returned}"
    )
    if not postgres:
        return update
    # PostgreSQL: the attempts "sending" in the same statement, from the rows it returns
    # (one round trip a claim, and no second look-up of the rows just claimed)
    return (
        f"WITH claimed AS ({update}), started AS ({_sending_insert()} FROM claimed) "  # noqa: S608
        f"SELECT {returned} FROM claimed"
    )


def _aware_parser() -> Callable[[Any], datetime]:
    """Reads a datetime column fetched by raw SQL: SQLite gives naive UTC text (parsed
    once per distinct value: a batch enqueued together shares it), PostgreSQL an aware
    datetime."""
    seen: dict[Any, datetime] = {}

    def aware(value: Any) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        found = seen.get(value)
        if found is None:
            parsed = datetime.fromisoformat(str(value))  # C speed; what Django writes to SQLite
            found = seen[value] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return found

    return aware


def _sending_insert() -> str:
    """An Attempt "sending" per claimed row, numbered by the claim's own count, copied from
    rows with the recipient's ``id`` and ``attempts`` (no value per row crosses over);
    ``FROM …`` follows, and the parameters are :func:`_sending_params`'."""
    return (
        f"INSERT INTO {bulk_sql.table(Attempt)} (recipient_id, number, started_at, transport, worker, "
        "outcome, stage, enhanced, reply, finding, explanation, permanent, queue_id, provider_message_id) "
        "SELECT id, attempts, %s, %s, %s, 'sending', '', '', '', '', '', %s, '', '' "
    )


def _sending_params(now: datetime, transport: str, worker_id: str) -> list[Any]:
    return [bulk_sql.datetime_adapter()(now), transport, worker_id, False]


def _insert_sending(rows: Sequence[Claimed], now: datetime, transport: str, worker_id: str) -> None:
    """The attempts "sending" of the rows just claimed, where the claim could not write
    them itself (SQLite has no UPDATE in a WITH clause)."""
    marks = ", ".join(["%s"] * len(rows))
    sql = f"{_sending_insert()} FROM {bulk_sql.table(Recipient)} WHERE id IN ({marks})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_sending_params(now, transport, worker_id), *(c.pk for c in rows)])


def _messages(pks: set[int], with_parts: bool) -> dict[int, _Sending]:
    """``pk -> what its deliveries need``. The sending columns come by one plain join (the
    ORM's per-row work cost as much as the rest of the claim); the parts, which only
    provider transports need, through the ORM."""
    from postwarden.outbox.models import Content, Message

    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"SELECT m.id, m.public_id, m.message_id, m.envelope_from, m.needs_smtputf8, c.raw "  # noqa: S608
        f"FROM {bulk_sql.table(Message)} m JOIN {bulk_sql.table(Content)} c ON c.message_id = m.id "
        f"WHERE m.id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(pks))
        found = {
            pk: _Sending(public_id, message_id, envelope_from, bool(needs_smtputf8), bytes(raw))
            for pk, public_id, message_id, envelope_from, needs_smtputf8, raw in cursor.fetchall()
        }
    if with_parts:
        for row in Message.objects.filter(pk__in=pks).values(*_PARTS):
            sending = found[row["pk"]]
            found[row["pk"]] = sending._replace(parts=_parts(row, sending.message_id))
    return found


#: the ORM fields a provider transport's parts come from
_PARTS: Final = (
    "pk",
    "from_address",
    "subject",
    "tags",
    "metadata",
    "content__text",
    "content__html",
    "content__headers",
    "content__reply_to",
    "content__from_name",
    "content__to",
    "content__cc",
)


def _jobs(rows: Sequence[Claimed], messages: dict[int, _Sending], cap: int) -> list[Job]:
    grouped: dict[int, list[Claimed]] = defaultdict(list)
    for row in rows:
        grouped[row.message_pk].append(row)
    jobs = []
    size = max(1, cap)
    for message_pk, claimed in grouped.items():
        found = messages[message_pk]
        for start in range(0, len(claimed), size):
            chunk = tuple(claimed[start : start + size])
            delivery = TransportDelivery(
                message_pk=message_pk,
                public_id=found.public_id,
                message_id=found.message_id,
                envelope_from=found.envelope_from,
                recipients=tuple(c.address for c in chunk),
                raw=found.raw,
                needs_smtputf8=found.needs_smtputf8,
                parts=found.parts,
            )
            jobs.append(Job(delivery, chunk))
    return jobs


def _verp_jobs(rows: Sequence[Claimed], messages: dict[int, _Sending], verp: Verp) -> list[Job]:
    """One delivery per recipient, each with the return path that names it: a bounce then
    says which recipient it is about, whatever the remote server writes in it. The stored
    bytes (and the From header in them) are the same for all, one object per message
    (signed once); the SMTP transport pipelines the transactions on one connection."""
    jobs = []
    for row in rows:
        found = messages[row.message_pk]
        delivery = TransportDelivery(
            message_pk=row.message_pk,
            public_id=found.public_id,
            message_id=found.message_id,
            envelope_from=verp.address(row.message_pk, row.pk),
            recipients=(row.address,),
            raw=found.raw,
            needs_smtputf8=found.needs_smtputf8,
        )
        jobs.append(Job(delivery, (row,)))
    return jobs


def _parts(row: dict[str, Any], message_id: str) -> Parts:
    return Parts(
        from_address=row["from_address"],
        from_name=row["content__from_name"] or "",
        subject=row["subject"],
        text=row["content__text"],
        html=row["content__html"],
        to=tuple(row["content__to"] or ()),
        cc=tuple(row["content__cc"] or ()),
        reply_to=tuple(row["content__reply_to"] or ()),
        headers={**(row["content__headers"] or {}), "Message-ID": message_id},
        tags=tuple(row["tags"] or ()),
        metadata=dict(row["metadata"] or {}),
    )
