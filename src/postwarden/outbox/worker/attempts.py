"""One finished attempt: the retry policy's verdict on what the transport said, and the
one structured log line per attempt (redacted recipient, no secret)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from postwarden import logs
from postwarden.core.addresses import redact
from postwarden.outbox.retry import RetryPolicy, explain, judge
from postwarden.outbox.worker.claim import Claimed
from postwarden.outbox.worker.record import Done
from postwarden.transports.base import Outcome, RecipientResult, TransportDelivery

log = logging.getLogger("postwarden.worker")


def conclude(
    claimed: Claimed,
    result: RecipientResult,
    *,
    server: tuple[str, int] | None,
    policy: RetryPolicy,
    now: datetime,
    seconds: float,
) -> Done:
    """The :class:`Done` to record for ``claimed``. The SMTP server's host and port (the
    transport's ``server``) go to the classifier, which words its advice by them."""
    host, port = server if server is not None else (None, None)
    verdict = judge(
        result,
        tries=claimed.attempt - claimed.attempts_base,
        queued_at=claimed.queued_at,
        now=now,
        policy=policy,
        port=port,
        host=host,
    )
    explanation = "" if result.outcome is Outcome.SENT else explain(result, port=port, host=host).explanation
    if not result.duration_ms:
        result = replace(result, duration_ms=int(seconds * 1000))
    return Done(claimed, result, verdict, now, explanation)


def missing(address: str, transport: str) -> RecipientResult:
    """What stands in for a result a transport failed to give."""
    return RecipientResult(
        address,
        Outcome.FAILED,
        stage="internal",
        detail=f"the {transport} transport gave no result for this recipient",
    )


LogEntry = tuple[str, dict[str, Any]]


def log_line(done: Done, delivery: TransportDelivery, transport: str) -> LogEntry:
    """The attempt's log line as ``(msg, fields)`` for :func:`postwarden.logs.info_lines`."""
    reply = done.result.reply
    state = done.verdict.state
    return (
        f"attempt {state}",
        {
            "public_id": delivery.public_id,
            "message_id": delivery.message_id,
            "recipient": redact(done.claimed.address),
            "transport": transport,
            "outcome": state,
            "attempt": done.claimed.attempt,
            "stage": done.result.stage,
            "code": reply.code if reply else None,
            "enhanced": reply.enhanced if reply else None,
            "finding": done.verdict.finding or None,
            "duration_ms": done.result.duration_ms,
        },
    )


def log_attempts(entries: Sequence[LogEntry]) -> None:
    """One line per attempt, written together (see :func:`postwarden.logs.info_lines`)."""
    logs.info_lines(log, entries)


def log_attempt(done: Done, delivery: TransportDelivery, transport: str) -> None:
    log_attempts([log_line(done, delivery, transport)])
