"""A recipient's state: every allowed move in one table, and the one way to make one.

:data:`TABLE` says, for each :class:`Move` (what happened), from which states a recipient
may take it and which state it lands in. :func:`next_state` answers from the table and
raises :class:`IllegalMove` for a pair it does not hold; :func:`apply` makes the move in the
database with one conditional UPDATE (``WHERE state IN (the move's sources)``), so two
writers racing for the same row (a worker recording a result, a webhook, a person
cancelling) settle in the database: the row moves once, the loser's UPDATE matches nothing.

Every writer of ``Recipient.state`` goes through this module (tests/outbox/test_states.py
walks the table and checks the source for writes that bypass it). The worker's batched
statements (outbox/worker/claim.py, record.py, leases.py) and the enqueue's bulk INSERT
(outbox/store.py) keep their own SQL, which is what makes them fast, but take their states from here:
:func:`source_of`, :func:`target`, :func:`sources` and :func:`born`.

Provider and bounce events only move forward, by :data:`RANK`: delivered, then bounced,
then complained; a provider's "rejected" after it had accepted the message fails it. They
may also find the recipient still ``sending``: the server accepted it and its bounce came
back before the worker wrote its result (a local MTA answers within a second). The event is
the newer fact, so it moves the row, and the worker's result write, which only takes a
row still ``sending`` (outbox/worker/record.py), leaves it be. A soft bounce changes no state
(it is a timeline entry; outbox/effects.py counts them).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from django.db import transaction
from django.utils import timezone

from postwarden.outbox.models import Recipient, State


class Move(enum.StrEnum):
    """What happens to a recipient. The values are the words of the timeline."""

    # a policy's decision on a new recipient (enqueue) or on one a person queues again
    ENQUEUED = "enqueued"
    HELD = "held"
    SUPPRESSED = "suppressed"
    REFUSED = "refused"
    # the worker
    CLAIMED = "claimed"
    ACCEPTED = "accepted"
    DEFERRED = "deferred"
    FAILED = "failed"
    DEAD = "dead"
    #: its worker went silent past the lease, or its process is gone
    LOST = "lost"
    #: its worker shut down before sending it
    RELEASED = "released"
    # a person
    REQUEUED = "requeued"
    CANCELLED = "cancelled"
    # a provider's event or a bounce, after the message was accepted
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: the provider refused it after accepting the API call
    REJECTED = "rejected"


#: the "state" of a recipient not yet written (the enqueue's moves start here)
NEW: Final = None

#: provider and bounce events move a recipient only up this scale, and only from a state a
#: provider can know about (the message left through it)
RANK: Final[Mapping[State, int]] = {
    #: accepted or not, the worker has not said yet; an event about the message says it was
    State.SENDING: -1,
    State.SENT: 0,
    State.FAILED: 1,
    State.DELIVERED: 1,
    State.BOUNCED: 2,
    State.COMPLAINED: 3,
}

#: a person may queue again what died, failed, was held or waits for a retry (retry now)
_REQUEUEABLE: Final = frozenset({State.DEAD, State.FAILED, State.HELD, State.DEFERRED})
_POLICY_STOPS: Final = frozenset({NEW, *_REQUEUEABLE})
_WAITING: Final = frozenset({State.QUEUED, State.DEFERRED})
_SENDING: Final = frozenset({State.SENDING})


class TransitionRule(NamedTuple):
    """One row of the table: the states a move may be taken from, the state it lands in."""

    sources: frozenset[State | None]
    lands: State


#: move -> its rule
TABLE: Final[Mapping[Move, TransitionRule]] = {
    Move.ENQUEUED: TransitionRule(frozenset({NEW}), State.QUEUED),
    Move.HELD: TransitionRule(frozenset({NEW}), State.HELD),
    # at enqueue, or when a person queues again an address suppressed or refused since
    Move.SUPPRESSED: TransitionRule(_POLICY_STOPS, State.SUPPRESSED),
    Move.REFUSED: TransitionRule(_POLICY_STOPS, State.REFUSED),
    Move.CLAIMED: TransitionRule(_WAITING, State.SENDING),
    Move.ACCEPTED: TransitionRule(_SENDING, State.SENT),
    Move.DEFERRED: TransitionRule(_SENDING, State.DEFERRED),
    Move.FAILED: TransitionRule(_SENDING, State.FAILED),
    Move.DEAD: TransitionRule(_SENDING, State.DEAD),
    Move.LOST: TransitionRule(_SENDING, State.QUEUED),
    Move.RELEASED: TransitionRule(_SENDING, State.QUEUED),
    # re-queueing releases what was held, too
    Move.REQUEUED: TransitionRule(_REQUEUEABLE, State.QUEUED),
    # not yet sent and not being sent
    Move.CANCELLED: TransitionRule(frozenset({State.QUEUED, State.DEFERRED, State.HELD}), State.CANCELLED),
    Move.DELIVERED: TransitionRule(_SENDING | {State.SENT}, State.DELIVERED),
    Move.BOUNCED: TransitionRule(_SENDING | {State.SENT, State.DELIVERED}, State.BOUNCED),
    Move.COMPLAINED: TransitionRule(
        _SENDING | {State.SENT, State.DELIVERED, State.BOUNCED}, State.COMPLAINED
    ),
    Move.REJECTED: TransitionRule(_SENDING | {State.SENT}, State.FAILED),
}

#: the worker's verdict (retry.RetryVerdict.state) -> its move
RESULTS: Final[Mapping[str, Move]] = {
    State.SENT: Move.ACCEPTED,
    State.DEFERRED: Move.DEFERRED,
    State.FAILED: Move.FAILED,
    State.DEAD: Move.DEAD,
}

#: a policy's decision (policy.decide) -> its move
DECISIONS: Final[Mapping[str, Move]] = {
    State.QUEUED: Move.ENQUEUED,
    State.HELD: Move.HELD,
    State.SUPPRESSED: Move.SUPPRESSED,
    State.REFUSED: Move.REFUSED,
}

#: a delivery event's timeline kind (outbox/effects.py, the webhooks' verdicts) -> its move
EVENTS: Final[Mapping[str, Move]] = {
    "delivered": Move.DELIVERED,
    "bounced": Move.BOUNCED,
    "complained": Move.COMPLAINED,
    "rejected": Move.REJECTED,
    "failed": Move.REJECTED,
}


#: the states a row claimed by a worker may be in before the worker reports: sending, or
#: where an event about the message moved it meanwhile (the worker's lease renewal counts
#: these as still its own, and its result write clears their claim)
IN_FLIGHT: Final = (
    State.SENDING,
    *sorted({TABLE[m].lands for m in set(EVENTS.values()) if State.SENDING in TABLE[m].sources}),
)


class IllegalMove(ValueError):
    """A move the table does not allow from the given state."""


def next_state(current: str | None, move: Move) -> State:
    """The state a recipient in ``current`` (``None``: not yet written) lands in after
    ``move``; raises :class:`IllegalMove` if the table does not allow it."""
    sources_, landing = TABLE[move]
    if current not in sources_:
        was = "a new recipient" if current is None else f"a {current} recipient"
        raise IllegalMove(f"{move.value} is not a move for {was}")
    return landing


def allowed(current: str | None, move: Move) -> bool:
    return current in TABLE[move].sources


def sources(move: Move) -> tuple[State, ...]:
    """The stored states ``move`` may be taken from, in a fixed order (SQL is built from it)."""
    return tuple(s for s in State if s in TABLE[move].sources)


def source_of(move: Move) -> State:
    """The one state ``move`` may be taken from, for batched statements that compare with
    ``=``; raises for a move with several."""
    (only,) = sources(move)
    return only


def target(move: Move) -> State:
    return TABLE[move].lands


def born(decision: str) -> State:
    """The state a new recipient is written in for a policy's ``decision`` (checked
    against the table: the enqueue's bulk INSERT goes through here)."""
    move = DECISIONS.get(decision)
    if move is None:
        raise IllegalMove(f"a new recipient cannot start as {str(decision)!r}")
    return next_state(NEW, move)


def sql_in(move: Move) -> str:
    """``state IN ('queued', 'deferred')`` for raw SQL: the move's sources as literals
    (enum values, never input)."""
    return "state IN (" + ", ".join(f"'{s.value}'" for s in sources(move)) + ")"


def apply(
    ids: Iterable[int],
    move: Move,
    *,
    reason: str | Mapping[int, str] | None = None,
    now: datetime | None = None,
    **values: Any,
) -> int:
    """Move the recipients ``ids`` by ``move``: those in one of its source states land in
    its target; the others are left alone (another writer moved them first). Returns how
    many moved. ``reason``: the new ``Recipient.reason``, one for all or per id (ids
    missing from the mapping keep theirs); ``values``: other columns to set (expressions
    allowed, e.g. ``attempts_base=F("attempts")``). One UPDATE per distinct reason, in
    one transaction."""
    wanted = sorted(set(ids))
    if not wanted:
        return 0
    if "state" in values:
        raise TypeError("the state comes from the move, not from the caller")
    froms, landing = TABLE[move]
    stored = [s for s in froms if s is not None]
    if not stored:
        raise IllegalMove(f"{move.value} only starts a new recipient; nothing stored can take it")
    groups: dict[str | None, list[int]] = defaultdict(list)
    for pk in wanted:
        groups[reason.get(pk) if isinstance(reason, Mapping) else reason].append(pk)
    stamp = now or timezone.now()
    moved = 0
    with transaction.atomic():
        for why, pks in groups.items():
            extra = dict(values) if why is None else {**values, "reason": why}
            moved += Recipient.objects.filter(pk__in=pks, state__in=stored).update(
                state=landing, updated_at=stamp, **extra
            )
    return moved
