"""Postwarden's own sentences on a recipient's row and its timeline, as a page says them
in the reader's language.

The rows keep English (the API, the logs and ``--json`` read it unchanged). Where a writer
kept the sentence beside it (``Event.words``, ``Suppression.words``: core/i18n.py keep) it
is read back from there; where the worker wrote it by batched SQL (a recipient's reason,
a lost attempt's note) it is read back from the English the worker wrote, whose shapes are
the worker's own. A server's or provider's words are never a sentence of ours: they are
returned as they came, and so is anything written before the sentences were kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from django.db.models import Q, QuerySet

from postwarden.core.i18n import Text, kept
from postwarden.outbox import effects, states
from postwarden.outbox.models import Event, Recipient
from postwarden.outbox.retry import said_reason
from postwarden.outbox.worker.leases import SAID

#: timeline kinds whose detail is the remote side's words (a provider's event, a bounce,
#: a refusal the worker was told): quoted as they came
REMOTE_KINDS: Final = frozenset(
    {*states.EVENTS, effects.SOFT, "delayed", "opened", "clicked", "unsubscribed"}
)


#: a recipient's state (models.State, a code) where a sentence or a page names it: the one
#: word for each state (the console's badges take theirs from here, console/words.py)
STATES: Final[dict[str, Text]] = {
    "queued": Text("queued"),
    "sending": Text("sending"),
    "sent": Text("sent"),
    "deferred": Text("deferred"),
    "failed": Text("failed"),
    "dead": Text("dead"),
    "held": Text("held"),
    "suppressed": Text("suppressed"),
    "refused": Text("refused"),
    "delivered": Text("delivered"),
    "bounced": Text("bounced"),
    "complained": Text("complained"),
    "cancelled": Text("cancelled"),
}


def state(code: str) -> str:
    """A recipient's state inside a sentence: a word of the reader's language (the code
    itself for a state this does not know)."""
    return STATES.get(code, code)


def kept_words(recipients: Sequence[Recipient]) -> QuerySet[Event, tuple[int, int | None, Any]]:
    """The kept words of the events that may have set these recipients' reasons: their own,
    and their messages' events for no one recipient (a policy's decision at enqueue, which
    is written before the recipients have ids)."""
    mine = Q(recipient_id__in=[r.pk for r in recipients])
    enqueued = Q(message_id__in={r.message_id for r in recipients}, recipient__isnull=True)
    rows = Event.objects.filter(mine | enqueued, words__isnull=False).order_by("at", "id")
    return rows.values_list("message_id", "recipient_id", "words")


def reasons(recipients: Sequence[Recipient]) -> dict[int, str]:
    """Each recipient's reason by pk, a sentence where one can be said (one query)."""
    if not recipients:
        return {}
    own: dict[int, list[Mapping[str, object]]] = {}
    shared: dict[int, list[Mapping[str, object]]] = {}
    for message_id, recipient_id, words in kept_words(recipients):
        if not isinstance(words, Mapping):
            continue
        if recipient_id is None:
            shared.setdefault(message_id, []).append(words)
        else:
            own.setdefault(recipient_id, []).append(words)
    # the English must match too (kept), so a sentence shared by the message's recipients
    # is only said for those whose reason it is
    return {r.pk: reason(r.reason, [*shared.get(r.message_id, ()), *own.get(r.pk, ())]) for r in recipients}


def reason(english: str, words: Iterable[Mapping[str, object]] = ()) -> str:
    """A recipient's reason: the sentence the newest event that set it kept, else the
    worker's sentence read back from its English, else the English as it is."""
    if not english:
        return english
    for kept_words in reversed(list(words)):
        found = kept(kept_words, "reason", english)
        if isinstance(found, Text):
            return found
    return SAID.get(english) or said_reason(english)


def attempt_reply(english: str) -> str:
    """An attempt's reply: the server's words as they came, or the worker's own note on an
    attempt it lost (a sentence)."""
    return SAID.get(english, english)


def is_remote(kind: str, provider: str = "") -> bool:
    """Whether a timeline entry's detail is the remote side's words."""
    return bool(provider) or kind in REMOTE_KINDS
