"""The Deliveries search: which messages match, fast on a million.

Messages are listed newest first by keyset (``console.keyset``), which the index on
``created_at`` serves in order. Filters on recipients and tags are subqueries; which
shape is fast depends on how many rows match:

- few (a rare state such as ``dead``, one recipient, a rare tag): ``id IN (…)`` —
  the database reads the few matching rows by index and sorts a handful of messages;
- many (``sent``): ``EXISTS (…)`` per message while walking the created_at index —
  the first page fills after a few dozen messages, where ``IN`` would first
  collect a million ids.

A bounded COUNT (at most :data:`SELECTIVE` rows read, on an index) decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from postwarden.outbox.models import Message, MessageTag, Recipient, State

#: below this many matching rows a filter is "selective": use IN
SELECTIVE: Final = 2000
#: a prefix search matches addresses from ``q`` up to ``q`` + the highest code point,
#: a range every database answers from the address index (LIKE 'q%' is not indexed on SQLite)
_TOP: Final = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Filters:
    recipient: str = ""
    state: str = ""
    tag: str = ""
    since: date | None = None
    until: date | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        state = query.get("state", "")
        return cls(
            recipient=query.get("recipient", "").strip().lower(),
            state=state if state in State.values else "",
            tag=query.get("tag", "").strip()[:100],
            since=_date(query.get("since", "")),
            until=_date(query.get("until", "")),
        )

    @property
    def active(self) -> bool:
        return bool(self.recipient or self.state or self.tag or self.since or self.until)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def matching(filters: Filters) -> QuerySet[Message]:
    """Messages matching ``filters`` (unordered; the keyset orders them)."""
    rows = Message.objects.all()
    if filters.since:
        rows = rows.filter(created_at__gte=_start_of(filters.since))
    if filters.until:
        rows = rows.filter(created_at__lt=_start_of(filters.until + timedelta(days=1)))
    if filters.recipient.startswith("m_"):
        return rows.filter(public_id=filters.recipient)
    if filters.recipient.startswith("<"):
        return rows.filter(message_id=filters.recipient)
    recipients = Recipient.objects.all()
    if filters.recipient:
        recipients = recipients.filter(address__gte=filters.recipient, address__lt=filters.recipient + _TOP)
    if filters.state:
        recipients = recipients.filter(state=filters.state)
    if filters.recipient or filters.state:
        rows = _restrict(rows, recipients)
    if filters.tag:
        rows = _restrict(rows, MessageTag.objects.filter(tag=filters.tag))
    return rows


def _restrict(
    rows: QuerySet[Message], related: QuerySet[Recipient] | QuerySet[MessageTag]
) -> QuerySet[Message]:
    bounded = related.values("pk")[:SELECTIVE].count()
    if bounded < SELECTIVE:
        ids: Any = related.values("message_id")  # a subquery: the database never ships the ids
        return rows.filter(pk__in=ids)
    return rows.filter(Exists(related.filter(message_id=OuterRef("pk"))))


def summary(messages: list[Message]) -> dict[int, list[Recipient]]:
    """The recipients of a page of messages, in one query."""
    found: dict[int, list[Recipient]] = {m.pk: [] for m in messages}
    rows = (
        Recipient.objects.filter(message_id__in=list(found))
        .only(
            "message_id",
            "address",
            "kind",
            "state",
            "attempts",
            "last_code",
            "last_enhanced",
            "finding",
            "transport",
        )
        .order_by("id")
    )
    for row in rows:
        found[row.message_id].append(row)
    return found
