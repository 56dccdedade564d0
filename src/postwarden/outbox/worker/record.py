"""The worker's result writes: finished attempts and the recipients' new states, for a
batch of results with ``executemany``, values adapted once per batch; the row classes
name the columns they set (a schema change touches the model, its migration and this
file). The claim writes the results gathered so far in its own transaction
(:func:`postwarden.outbox.worker.claim.claim`); :func:`record` writes them alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from django.db import connection, transaction

from postwarden.outbox import bulk_sql, effects, policy, sources, states
from postwarden.outbox.models import Attempt, Recipient, State
from postwarden.outbox.retry import RetryVerdict
from postwarden.transports.base import Outcome, RecipientResult

if TYPE_CHECKING:
    from postwarden.outbox.worker.claim import Claimed


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
        write(done, worker_id, redact)


def write(done: Sequence[Done], worker_id: str, redact: Redact) -> None:
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
        f"UPDATE {bulk_sql.table(Recipient)} SET claimed_by = '', lease_until = NULL "  # noqa: S608
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
        source = sources.attempt(claimed.attempt, row.message.public_id)
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
