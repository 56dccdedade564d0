"""bench/stack.py's look at the outbox from outside: releasing held messages reads the
claim's partial index, never every recipient (on a copy of a long history a scan held the
write lock and then the checkpoint through the start of the delivery it times)."""

from __future__ import annotations

from typing import Any

import pytest
from bench.stack import Outbox
from django.db import connection

from postwarden.outbox.models import Recipient, State
from tests.factories import make_settings

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="plans are checked on SQLite"),
]


class DjangoOutbox(Outbox):
    """The bench's SQL on the test database's connection; what it ran is kept."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def _one(self, sql: str) -> Any:
        self.ran.append(sql)
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def _do(self, sql: str) -> None:
        self.ran.append(sql)
        with connection.cursor() as cursor:
            cursor.execute(sql)


def _enqueue(count: int) -> None:
    from postwarden.outbox.submission import Outgoing, enqueue_many

    enqueue_many(
        [Outgoing(to=[f"user{i}@example.net"], subject="s", text="t") for i in range(count)],
        settings=make_settings(),
    )


def test_release_makes_only_the_held_recipients_due_through_the_pending_index() -> None:
    _enqueue(4)
    held, sent, due = list(Recipient.objects.order_by("id"))[:3]
    Recipient.objects.filter(pk=held.pk).update(next_attempt_at=None)
    Recipient.objects.filter(pk=sent.pk).update(state=State.SENT, next_attempt_at=None)
    outbox = DjangoOutbox()
    outbox.release()
    rows = {r.pk: r for r in Recipient.objects.all()}
    assert rows[held.pk].next_attempt_at == rows[held.pk].queued_at
    assert rows[sent.pk].next_attempt_at is None  # history is not touched
    assert rows[due.pk].next_attempt_at == due.next_attempt_at
    (sql,) = outbox.ran
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        plan = " | ".join(str(row[3]) for row in cursor.fetchall())
    assert plan == "SEARCH outbox_recipient USING INDEX rcpt_pending (next_attempt_at=?)"
