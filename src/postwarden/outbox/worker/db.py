"""The worker's database work: claim, record, release, leases. Synchronous; the worker
runs every call on its one database thread (Django connections belong to a thread).

The claim is one conditional UPDATE of the pending rows (STYLE.md §1), which works on
SQLite (one writer at a time) and PostgreSQL, where the id sub-select takes
``FOR UPDATE SKIP LOCKED`` so concurrent workers never claim the same row. The same
transaction first returns rows whose lease expired (their worker died) to the queue and
writes an Attempt "sending" for every claimed row (STYLE.md §4). Results are written
with ``executemany``, one transaction per flush.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from django.db import connection, transaction

from postwarden.outbox import bulk, policy
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.retry import Verdict
from postwarden.transports.base import Delivery, Outcome, Parts, RecipientResult

#: what an attempt cut short by a dead worker says in the timeline
LOST: Final = (
    "the worker holding this recipient stopped before it reported (its lease expired); "
    "the server may or may not have the message"
)


@dataclass(frozen=True, slots=True)
class Claimed:
    """One claimed recipient: ``attempt`` is this attempt's number."""

    pk: int
    message_pk: int
    address: str
    attempt: int
    attempts_base: int
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class Job:
    """One delivery and the recipients it carries."""

    delivery: Delivery
    recipients: tuple[Claimed, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """One recipient's finished attempt, ready to be written."""

    claimed: Claimed
    result: RecipientResult
    verdict: Verdict
    finished_at: datetime
    explanation: str = ""


# fmt: off
_ATTEMPT_START = ("recipient", "number", "started_at", "transport", "worker", "outcome", "stage",
                  "enhanced", "reply", "finding", "explanation", "permanent", "queue_id",
                  "provider_message_id")
_ATTEMPT_END = ("outcome", "finished_at", "duration_ms", "stage", "code", "enhanced", "reply", "finding",
                "explanation", "permanent", "queue_id", "provider_message_id", "retry_at")
_RECIPIENT_END = ("state", "reason", "next_attempt_at", "lease_until", "claimed_by", "last_code",
                  "last_enhanced", "last_reply", "finding", "provider_message_id", "sent_at", "updated_at")
# fmt: on


def claim(
    worker_id: str,
    transport: str,
    *,
    limit: int,
    lease: timedelta,
    cap: int,
    with_parts: bool,
    now: datetime,
    message_pk: int | None = None,
    done: Sequence[Done] = (),
    reap: bool = True,
) -> list[Job]:
    """Claim up to ``limit`` due recipients (only those of ``message_pk`` when given:
    ``send-test``) and group them into deliveries of at most ``cap`` recipients of one
    message. ``done``: results to record first, in the same transaction (one commit, one
    fsync, instead of two). ``reap``: first return expired leases to the queue (the worker
    asks every few seconds, not at every claim). One transaction."""
    with transaction.atomic():
        record(done, worker_id)
        if reap:
            reap_expired(now)
        rows = _claim_rows(worker_id, transport, limit, now + lease, now, message_pk)
        if not rows:
            return []
        bulk.insert(
            Attempt,
            _ATTEMPT_START,
            [
                (c.pk, c.attempt, now, transport, worker_id, "sending", "", "", "", "", "", False, "", "")
                for c in rows
            ],
        )
        messages = _messages({c.message_pk for c in rows}, with_parts)
    return _jobs(rows, messages, cap)


def _claim_rows(
    worker_id: str, transport: str, limit: int, lease_until: datetime, now: datetime, message_pk: int | None
) -> list[Claimed]:
    table = connection.ops.quote_name(Recipient._meta.db_table)
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    only = " AND message_id = %s" if message_pk is not None else ""
    adapt = connection.ops.adapt_datetimefield_value
    # the sub-select is a range scan of the partial index rcpt_pending; the outer state
    # test re-checks what the sub-select saw (on PostgreSQL the rows are locked anyway)
    sql = (
        f"UPDATE {table} SET state = 'sending', lease_until = %s, claimed_by = %s, transport = %s, "  # noqa: S608
        "attempts = attempts + 1, updated_at = %s "
        f"WHERE id IN (SELECT id FROM {table} WHERE state IN ('queued', 'deferred') AND next_attempt_at <= %s"
        f"{only} ORDER BY next_attempt_at LIMIT %s{lock}) AND state IN ('queued', 'deferred') "
        "RETURNING id, message_id, address, attempts, attempts_base, queued_at"
    )
    params: list[Any] = [adapt(lease_until), worker_id, transport, adapt(now), adapt(now)]
    params += [message_pk] if message_pk is not None else []
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        fetched = cursor.fetchall()
    rows = [Claimed(r[0], r[1], r[2], r[3], r[4], _aware(r[5])) for r in fetched]
    rows.sort(key=lambda c: (c.message_pk, c.pk))
    return rows


def _aware(value: Any) -> datetime:
    """A datetime column read by raw SQL: SQLite gives naive UTC text, PostgreSQL an aware
    datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))  # C speed; what Django writes to SQLite
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _messages(pks: set[int], with_parts: bool) -> dict[int, tuple[Any, ...]]:
    """``pk -> (pk, public_id, message_id, envelope_from, needs_smtputf8, raw[, parts…])``.
    The sending columns come by one plain join (the ORM's per-row work cost as much as the
    rest of the claim); the parts, which only provider transports need, through the ORM."""
    from postwarden.outbox.models import Content, Message

    quote = connection.ops.quote_name
    message, content = quote(Message._meta.db_table), quote(Content._meta.db_table)
    marks = ", ".join(["%s"] * len(pks))
    sql = (
        f"SELECT m.id, m.public_id, m.message_id, m.envelope_from, m.needs_smtputf8, c.raw "  # noqa: S608
        f"FROM {message} m JOIN {content} c ON c.message_id = m.id WHERE m.id IN ({marks})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(pks))
        found = {row[0]: tuple(row) for row in cursor.fetchall()}
    if with_parts:
        extra = [
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
        ]
        for row in Message.objects.filter(pk__in=pks).values_list(*extra):
            found[row[0]] = found[row[0]] + tuple(row[1:])
    return found


def _jobs(rows: Sequence[Claimed], messages: dict[int, tuple[Any, ...]], cap: int) -> list[Job]:
    grouped: dict[int, list[Claimed]] = defaultdict(list)
    for row in rows:
        grouped[row.message_pk].append(row)
    jobs = []
    for message_pk, claimed in grouped.items():
        found = messages[message_pk]
        parts = _parts(found) if len(found) > 6 else None
        for start in range(0, len(claimed), max(1, cap)):
            chunk = tuple(claimed[start : start + max(1, cap)])
            delivery = Delivery(
                message_pk=message_pk,
                public_id=found[1],
                message_id=found[2],
                envelope_from=found[3],
                recipients=tuple(c.address for c in chunk),
                raw=bytes(found[5]),
                needs_smtputf8=bool(found[4]),
                parts=parts,
            )
            jobs.append(Job(delivery, chunk))
    return jobs


def _parts(found: tuple[Any, ...]) -> Parts:
    (
        _,
        _,
        message_id,
        _,
        _,
        _,
        from_address,
        subject,
        tags,
        metadata,
        text,
        html,
        headers,
        reply_to,
        from_name,
        to,
        cc,
    ) = found
    return Parts(
        from_address=from_address,
        from_name=from_name or "",
        subject=subject,
        text=text,
        html=html,
        to=tuple(to or ()),
        cc=tuple(cc or ()),
        reply_to=tuple(reply_to or ()),
        headers={**(headers or {}), "Message-ID": message_id},
        tags=tuple(tags or ()),
        metadata=dict(metadata or {}),
    )


def reap_expired(now: datetime) -> int:
    """Return recipients whose lease expired to the queue; their attempt is marked lost."""
    expired = list(
        Recipient.objects.filter(state="sending", lease_until__lt=now).values_list("pk", "attempts")
    )
    if not expired:
        return 0
    bulk.update(
        Attempt,
        ("outcome", "finished_at", "reply"),
        ("recipient", "number", "outcome"),
        [("lost", now, LOST, pk, attempts, "sending") for pk, attempts in expired],
    )
    bulk.update(
        Recipient,
        ("state", "next_attempt_at", "lease_until", "claimed_by", "reason", "updated_at"),
        ("id", "attempts", "state"),
        [
            ("queued", now, None, "", "back in the queue: " + LOST, now, pk, attempts, "sending")
            for pk, attempts in expired
        ],
    )
    return len(expired)


def record(done: Sequence[Done], worker_id: str) -> None:
    """Write finished attempts and the recipients' new states. One transaction."""
    if not done:
        return
    with transaction.atomic():
        bulk.update(Attempt, _ATTEMPT_END, ("recipient", "number"), [_attempt_row(d) for d in done])
        bulk.update(
            Recipient,
            _RECIPIENT_END,
            ("id", "attempts", "claimed_by"),
            [_recipient_row(d, worker_id) for d in done],
        )
        sent = [d.claimed.address for d in done if d.result.outcome is Outcome.SENT]
        policy.clear_bounce_suppressions(sent)


def _attempt_row(d: Done) -> tuple[Any, ...]:
    reply = d.result.reply
    return (
        d.verdict.state,
        d.finished_at,
        d.result.duration_ms,
        d.result.stage,
        reply.code if reply else None,
        (reply.enhanced or "") if reply else "",
        str(reply) if reply else d.result.detail,
        d.verdict.finding,
        d.explanation,
        d.verdict.permanent,
        d.result.queue_id or "",
        d.result.provider_message_id or "",
        d.verdict.retry_at,
        d.claimed.pk,
        d.claimed.attempt,
    )


def _recipient_row(d: Done, worker_id: str) -> tuple[Any, ...]:
    reply, sent = d.result.reply, d.result.outcome is Outcome.SENT
    return (
        d.verdict.state,
        d.verdict.reason,
        d.verdict.retry_at,
        None,
        "",
        reply.code if reply else None,
        (reply.enhanced or "") if reply else "",
        str(reply) if reply else d.result.detail,
        d.verdict.finding,
        d.result.provider_message_id or "",
        d.finished_at if sent else None,
        d.finished_at,
        d.claimed.pk,
        d.claimed.attempt,
        worker_id,
    )


def release(jobs: Sequence[Job], worker_id: str, now: datetime) -> int:
    """Give back claimed recipients that were never sent (shutdown): queued again, as if
    never claimed; their "sending" attempts are deleted."""
    claimed = [c for job in jobs for c in job.recipients]
    if not claimed:
        return 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"DELETE FROM {connection.ops.quote_name(Attempt._meta.db_table)} "  # noqa: S608
                "WHERE recipient_id = %s AND number = %s AND outcome = 'sending'",
                [(c.pk, c.attempt) for c in claimed],
            )
        bulk.update(
            Recipient,
            ("state", "next_attempt_at", "lease_until", "claimed_by", "attempts", "updated_at"),
            ("id", "attempts", "claimed_by"),
            [("queued", now, None, "", c.attempt - 1, now, c.pk, c.attempt, worker_id) for c in claimed],
        )
    return len(claimed)


def extend_leases(worker_id: str, until: datetime) -> int:
    """Keep the rows this worker is still sending from being reaped."""
    return Recipient.objects.filter(state="sending", claimed_by=worker_id).update(lease_until=until)
