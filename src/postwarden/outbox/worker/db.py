"""The worker's database work: claim, record, release, leases. Synchronous and short:
a few statements per batch of hundreds of recipients, whatever the batch size.

The claim is one conditional UPDATE of the pending rows (docs/style.md §1), which works on
SQLite (one writer at a time) and PostgreSQL, where the id sub-select takes
``FOR UPDATE SKIP LOCKED`` so concurrent workers never claim the same row. The same
transaction first writes the results gathered so far and returns rows whose lease
expired (their worker died) to the queue, then writes an Attempt "sending" for every
claimed row (docs/style.md §4) with one ``INSERT … SELECT``. Results are written with
``executemany``, values adapted once per batch.

At ten thousand attempts a second every microsecond per row counts: rows travel as
named tuples (no model instances, no per-row adapters), which cost a third of a frozen
dataclass to build; each is defined next to the statement that reads or writes it, its
fields named as the columns, so a schema change touches the model, its migration and
this file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from django.db import connection, transaction

from postwarden.core.verp import Verp
from postwarden.outbox import bulk_sql, effects, heartbeat, policy, states
from postwarden.outbox.models import Attempt, Recipient, State
from postwarden.outbox.retry import RetryVerdict
from postwarden.outbox.states import Move
from postwarden.transports.base import Outcome, Parts, RecipientResult, TransportDelivery

#: what an attempt cut short by a silent worker says in the timeline
LOST: Final = (
    "the worker holding this recipient stopped before it reported (its lease expired); "
    "the server may or may not have the message"
)
#: … and one whose worker's process was found gone (a worker on the same machine)
DIED: Final = (
    "the worker holding this recipient died before it reported (its process is gone); "
    "the server may or may not have the message"
)


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


class Done(NamedTuple):
    """One recipient's finished attempt, ready to be written."""

    claimed: Claimed
    result: RecipientResult
    verdict: RetryVerdict
    finished_at: datetime
    explanation: str = ""


#: what every stored server or provider text passes through (a :class:`Redactor`'s ``text``)
Redact = Callable[[str], str]


class _AttemptEnd(NamedTuple):
    """An Attempt's end: the columns it sets, then the row it sets them on."""

    outcome: str
    finished_at: Any
    duration_ms: int | None
    stage: str
    code: int | None
    enhanced: str
    reply: str
    finding: str
    explanation: str
    permanent: bool
    queue_id: str
    provider_message_id: str
    retry_at: Any
    # WHERE
    recipient: int
    number: int


_ATTEMPT_END = _AttemptEnd._fields[:-2]
_ATTEMPT_KEY = _AttemptEnd._fields[-2:]


class _RecipientEnd(NamedTuple):
    """A recipient's state after its attempt: the columns it sets, then the row as the
    worker claimed it (still this attempt, still its claim, still ``was``)."""

    state: str
    reason: str
    next_attempt_at: Any
    lease_until: None
    claimed_by: str
    last_code: int | None
    last_enhanced: str
    last_reply: str
    finding: str
    provider_message_id: str
    sent_at: Any
    updated_at: Any
    # WHERE
    id: int
    attempts: int
    held_by: str
    was: str


_RECIPIENT_END = _RecipientEnd._fields[:-4]
_RECIPIENT_KEY = ("id", "attempts", "claimed_by", "state")


class _Requeue(NamedTuple):
    """A recipient queued again (reaped or released): the columns it sets, then the row
    as it was read (same attempt count, still ``was``)."""

    state: str
    next_attempt_at: datetime
    lease_until: None
    claimed_by: str
    reason: str
    updated_at: datetime
    # WHERE
    id: int
    attempts: int
    was: str


_REQUEUE = _Requeue._fields[:-3]
_REQUEUE_KEY = ("id", "attempts", "state")


class _Release(NamedTuple):
    """A claimed recipient given back unsent: queued as if never claimed."""

    state: str
    next_attempt_at: datetime
    lease_until: None
    claimed_by: str
    attempts: int
    updated_at: datetime
    # WHERE
    id: int
    attempt: int
    held_by: str
    was: str


_RELEASE = _Release._fields[:-4]
_RELEASE_KEY = ("id", "attempts", "claimed_by", "state")


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
    fsync, instead of two), their texts passed through ``redact`` (see :func:`record`).
    ``reap``: first return expired leases to the queue (the worker asks every few seconds,
    not at every claim). ``verp``: each recipient goes alone, with its own return path
    (BOUNCE_DOMAIN). One transaction."""
    with transaction.atomic():
        _record(done, worker_id, redact)
        if reap:
            reap_expired(now)
        rows = _claim_rows(worker_id, transport, limit, now + lease, now, message_pk)
        if not rows:
            return []
        _insert_sending(rows, now, transport, worker_id)
        messages = _messages({c.message_pk for c in rows}, with_parts)
    if verp is not None:
        return _verp_jobs(rows, messages, verp)
    return _jobs(rows, messages, cap)


def _table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _claim_rows(
    worker_id: str, transport: str, limit: int, lease_until: datetime, now: datetime, message_pk: int | None
) -> list[Claimed]:
    adapt = bulk_sql.datetime_adapter()
    params: list[Any] = [adapt(lease_until), worker_id, transport, adapt(now), adapt(now)]
    params += [message_pk] if message_pk is not None else []
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(connection.vendor, message_pk is not None), [*params, limit])
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
    lock = " FOR UPDATE SKIP LOCKED" if vendor == "postgresql" else ""
    return (
        f"UPDATE {table} SET state = '{states.target(Move.CLAIMED)}', lease_until = %s, claimed_by = %s, "  # noqa: S608
        "transport = %s, "
        "attempts = attempts + 1, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {source} WHERE {due} ORDER BY next_attempt_at LIMIT %s{lock}) "
        f"AND {unindexed} RETURNING id, message_id, address, attempts, attempts_base, queued_at"
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


def _insert_sending(rows: Sequence[Claimed], now: datetime, transport: str, worker_id: str) -> None:
    """An Attempt "sending" per claimed row, numbered by the claim's own count, in one
    statement that copies from the rows just claimed (no value per row crosses over)."""
    marks = ", ".join(["%s"] * len(rows))
    sql = (
        f"INSERT INTO {_table(Attempt)} (recipient_id, number, started_at, transport, worker, outcome, "  # noqa: S608
        "stage, enhanced, reply, finding, explanation, permanent, queue_id, provider_message_id) "
        "SELECT id, attempts, %s, %s, %s, 'sending', '', '', '', '', '', %s, '', '' "
        f"FROM {_table(Recipient)} WHERE id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [bulk_sql.datetime_adapter()(now), transport, worker_id, False, *(c.pk for c in rows)]
        )


def _messages(pks: set[int], with_parts: bool) -> dict[int, _Sending]:
    """``pk -> what its deliveries need``. The sending columns come by one plain join (the
    ORM's per-row work cost as much as the rest of the claim); the parts, which only
    provider transports need, through the ORM."""
    from postwarden.outbox.models import Content, Message

    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"SELECT m.id, m.public_id, m.message_id, m.envelope_from, m.needs_smtputf8, c.raw "  # noqa: S608
        f"FROM {_table(Message)} m JOIN {_table(Content)} c ON c.message_id = m.id WHERE m.id IN ({marks})"
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


def reap_expired(now: datetime) -> int:
    """Return recipients whose lease expired to the queue; their attempt is marked lost."""
    return _requeue(Recipient.objects.filter(state=State.SENDING, lease_until__lt=now), now, LOST)


def take_back(worker_ids: Sequence[str], now: datetime) -> int:
    """Return what the given workers held to the queue, lease or not: their processes are
    gone (heartbeat.dead_here). Their attempts are marked lost."""
    if not worker_ids:
        return 0
    return _requeue(Recipient.objects.filter(state=State.SENDING, claimed_by__in=worker_ids), now, DIED)


def take_back_from_dead(now: datetime) -> tuple[list[str], int]:
    """Find the workers of this machine whose process is gone (a read, no lock) and
    return what they held to the queue (one transaction): the worker ids and the number
    of recipients. Two workers finding the same dead one take each row back once."""
    dead = heartbeat.dead_here()
    if not dead:
        return [], 0
    with transaction.atomic():
        heartbeat.mark_dead(dead)
        return dead, take_back(dead, now)


def _requeue(rows: Any, now: datetime, why: str) -> int:
    """Queue ``rows`` (sending) again, their open attempts marked lost with ``why``; each
    row only as it was read (same attempt count, still sending), so a result recorded
    meanwhile is never undone."""
    found = list(rows.values_list("pk", "attempts"))
    if not found:
        return 0
    bulk_sql.update(
        Attempt,
        ("outcome", "finished_at", "reply"),
        ("recipient", "number", "outcome"),
        [("lost", now, why, pk, attempts, "sending") for pk, attempts in found],
    )
    # the move's one source and its target, from the table (a batched UPDATE compares with =)
    was, landing = states.source_of(Move.LOST).value, states.target(Move.LOST).value
    reason = "back in the queue: " + why
    bulk_sql.update(
        Recipient,
        _REQUEUE,
        _REQUEUE_KEY,
        [_Requeue(landing, now, None, "", reason, now, pk, attempts, was) for pk, attempts in found],
    )
    return len(found)


def record(done: Sequence[Done], worker_id: str, *, redact: Redact) -> None:
    """Write finished attempts and the recipients' new states. One transaction.

    Every text that came from the server or the provider (the reply, the failure detail,
    the reason and explanation quoting them) passes through ``redact`` here, the one place
    they are stored: a server that echoes the AUTH line in its refusal would otherwise put
    the password, or its base64, in front of every viewer and read key. The worker gives
    the doctor's redactor for its settings (:meth:`Redactor.for_settings`)."""
    if not done:
        return
    with transaction.atomic():
        _record(done, worker_id, redact)


def _record(done: Sequence[Done], worker_id: str, redact: Redact) -> None:
    if not done:
        return
    stamp = _stamper()
    moves = _RESULT_STATES
    attempts: list[_AttemptEnd] = []
    recipients: list[_RecipientEnd] = []
    sent: list[tuple[int, str]] = []
    gone: list[tuple[Claimed, str]] = []
    # a server answers thousands of messages with one reply object (the reader shares
    # parsed replies), and rendering it is the costliest column of a row
    last_reply, last_words = None, ""
    for d in done:
        result, verdict, claimed = d.result, d.verdict, d.claimed
        reply = result.reply
        finished, retry_at = stamp(d.finished_at), stamp(verdict.retry_at)
        if reply is not None:
            if reply is not last_reply:
                last_reply, last_words = reply, redact(str(reply))
            code, enhanced, words = reply.code, reply.enhanced or "", last_words
        else:
            code, enhanced, words = None, "", redact(result.detail)
        reason = redact(verdict.reason) if verdict.reason else ""
        explanation = redact(d.explanation) if d.explanation else ""
        provider_id = result.provider_message_id or ""
        # positionally, in the order of the row's fields: this runs for every attempt, and a
        # call with keywords is dearer
        attempts.append(
            _AttemptEnd(verdict.state, finished, result.duration_ms, result.stage, code, enhanced, words,
                        verdict.finding, explanation, verdict.permanent, result.queue_id or "", provider_id,
                        retry_at, claimed.pk, claimed.attempt)
        )  # fmt: skip
        is_sent = result.outcome is Outcome.SENT
        was, landing = moves[verdict.state]
        recipients.append(
            _RecipientEnd(landing, reason, retry_at, None, "", code, enhanced, words, verdict.finding,
                          provider_id, finished if is_sent else None, finished, claimed.pk, claimed.attempt,
                          worker_id, was)
        )  # fmt: skip
        if is_sent:
            sent.append((claimed.pk, claimed.address))
        elif verdict.address_gone:
            gone.append((claimed, words))
    bulk_sql.update(Attempt, _ATTEMPT_END, _ATTEMPT_KEY, attempts, adapted=True)
    changed = bulk_sql.update(Recipient, _RECIPIENT_END, _RECIPIENT_KEY, recipients, adapted=True)
    # fewer rows than results: an event moved some while they were sent (their bounce came
    # back first, states.py); they keep its state, and a bounce suppression stays
    moved = _moved_meanwhile(done, worker_id) if changed < len(recipients) else set()
    policy.clear_bounce_suppressions(address for pk, address in sent if pk not in moved)
    if gone:
        _suppress_gone(gone)


def _moved_meanwhile(done: Sequence[Done], worker_id: str) -> set[int]:
    """Of ``done``, the rows an event moved out of ``sending`` before their result was
    written: their claim is cleared (the lease renewal counted them as held) and their ids
    returned."""
    marks = ", ".join(["%s"] * len(done))
    sql = (
        f"UPDATE {_table(Recipient)} SET claimed_by = '', lease_until = NULL "  # noqa: S608
        f"WHERE id IN ({marks}) AND claimed_by = %s AND state <> '{State.SENDING}' RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(d.claimed.pk for d in done), worker_id])
        return {pk for (pk,) in cursor.fetchall()}


def _suppress_gone(gone: Sequence[tuple[Claimed, str]]) -> None:
    """Addresses a server refused for good as not existing: suppressed by the rules of a
    hard bounce, through the one owner of a delivery event's effects. Rare, so they go one
    by one after one query for their rows."""
    rows = Recipient.objects.select_related("message").in_bulk([c.pk for c, _ in gone])
    for claimed, words in gone:
        row = rows.get(claimed.pk)
        if row is None:
            continue
        source = f"attempt {claimed.attempt} of {row.message.public_id}"
        effects.record(effects.refusal(row.address, detail=words, source=source), recipient=row)


#: the worker's verdict -> (the state its move starts from, the state it lands in), from
#: the table (:data:`postwarden.outbox.states.RESULTS`)
_RESULT_STATES: Final = {
    verdict: (states.source_of(move).value, states.target(move).value)
    for verdict, move in states.RESULTS.items()
}


def _stamper() -> Callable[[datetime | None], Any]:
    """The database form of a datetime, adapted once per distinct value: a batch's
    results share a handful of timestamps."""
    adapt = bulk_sql.datetime_adapter()
    seen: dict[datetime, Any] = {}

    def stamp(value: datetime | None) -> Any:
        if value is None:
            return None
        found = seen.get(value)
        if found is None:
            found = seen[value] = adapt(value)
        return found

    return stamp


def release(jobs: Sequence[Job], worker_id: str, now: datetime) -> int:
    """Give back claimed recipients that were never sent (shutdown): queued again, as if
    never claimed; their "sending" attempts are deleted."""
    claimed = [c for job in jobs for c in job.recipients]
    if not claimed:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"DELETE FROM {_table(Attempt)} "  # noqa: S608
                "WHERE recipient_id = %s AND number = %s AND outcome = 'sending'",
                [(c.pk, c.attempt) for c in claimed],
            )
        was, landing = states.source_of(Move.RELEASED).value, states.target(Move.RELEASED).value
        bulk_sql.update(
            Recipient,
            _RELEASE,
            _RELEASE_KEY,
            [
                _Release(landing, now, None, "", c.attempt - 1, now, c.pk, c.attempt, worker_id, was)
                for c in claimed
            ],
        )
    return len(claimed)


def renew(worker_id: str, until: datetime) -> set[int]:
    """Extend the lease of every recipient this worker still holds; returns their ids.
    A recipient it claimed that is not among them was taken back (the worker was silent
    longer than its lease) and must not be sent by it any more."""
    in_flight = ", ".join(f"'{s.value}'" for s in states.IN_FLIGHT)
    sql = (
        f"UPDATE {_table(Recipient)} SET lease_until = %s "  # noqa: S608
        f"WHERE state IN ({in_flight}) AND claimed_by = %s RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [bulk_sql.datetime_adapter()(until), worker_id])
        return {pk for (pk,) in cursor.fetchall()}
