"""Why a recipient did not get its mail, for its message's page: the knowledge base's
reading of its last attempt (title, one-line meaning, steps, whether a retry can help)
and, when the address is suppressed, what the suppression says."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from postwarden.core.i18n import Text
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.replies.parse import parse_reply
from postwarden.outbox.models import Attempt, Recipient, State, Suppression
from postwarden.outbox.suppressions import is_suppressed, normalize
from postwarden.transports.base import MESSAGE_STAGE

#: the states this explains
FAILING = frozenset({State.DEFERRED, State.FAILED, State.DEAD, State.SUPPRESSED})


@dataclass(frozen=True, slots=True)
class Failure:
    explanation: Explanation | None
    #: a retry cannot help (refused permanently)
    permanent: bool
    suppression: Suppression | None


def explain_attempt(attempt: Attempt) -> Explanation:
    """The knowledge base's reading of a stored attempt, as the worker read it then."""
    return explain_reply(attempt.stage, attempt.code, attempt.reply)


def explain_reply(stage: str, code: int | None, reply: str) -> Explanation:
    """The knowledge base's reading of an attempt's stored stage, code and reply."""
    known = None if stage in ("api", "internal", MESSAGE_STAGE) else stage or None
    return classify(stage=known, reply=parse_reply(reply) if code else None, detail=reply)


def explanation_said(stage: str, code: int | None, reply: str, english: str) -> str:
    """An attempt's stored one-line explanation as a sentence in the reader's language:
    the knowledge base's reading of its reply, read again, while it says what the worker
    stored (the worker stores English by batched SQL); else the stored English."""
    if not english:
        return english
    again = explain_reply(stage, code, reply).explanation
    return again if isinstance(again, Text) and again == english else english


def failures(recipients: Iterable[Recipient]) -> dict[int, Failure]:
    """By recipient pk, for those that failed, wait for a retry, died or are suppressed."""
    failing = [r for r in recipients if r.state in FAILING]
    if not failing:
        return {}
    last: dict[int, Attempt] = {}
    for attempt in Attempt.objects.filter(recipient_id__in=[r.pk for r in failing]).exclude(
        outcome="sending"
    ):
        if attempt.recipient_id not in last or attempt.number > last[attempt.recipient_id].number:
            last[attempt.recipient_id] = attempt
    suppressed = is_suppressed(r.address for r in failing)
    found = {}
    for r in failing:
        latest = last.get(r.pk)
        expl = explain_attempt(latest) if latest is not None else None
        permanent = bool(latest.permanent) if latest is not None else r.state == State.FAILED
        found[r.pk] = Failure(expl, permanent, suppressed.get(normalize(r.address)))
    return found
