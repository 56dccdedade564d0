"""Message ids come back with the insert (INSERT … RETURNING), matched by public_id."""

from __future__ import annotations

import pytest

from postwarden.outbox import store
from postwarden.outbox.models import Content, Message, Recipient
from postwarden.outbox.submission import Enqueued, RawItem, enqueue_raw_many
from tests.outbox.test_submission import SETTINGS

pytestmark = pytest.mark.django_db


def test_it_pairs_every_id_with_its_own_message_beyond_one_statement() -> None:
    count = store._RETURNING_ROWS + 7
    items = [
        RawItem(
            f"From: app@example.com\r\nSubject: n{i}\r\nTo: r{i}@example.net\r\n\r\nbody {i}\r\n".encode(),
            "a@example.com",
            [f"r{i}@example.net"],
        )
        for i in range(count)
    ]
    results = enqueue_raw_many(items, settings=SETTINGS)
    assert all(isinstance(r, Enqueued) for r in results)
    rows = {m.pk: m for m in Message.objects.all()}
    assert len(rows) == count
    for i, result in enumerate(results):
        assert isinstance(result, Enqueued)
        message = rows[result.pk]
        assert (message.public_id, message.subject, message.tags, message.metadata) == (
            result.public_id,
            f"n{i}",
            [],
            {},
        )
        assert Content.objects.get(message_id=result.pk).raw.endswith(f"body {i}\r\n".encode())
        assert list(Recipient.objects.filter(message_id=result.pk).values_list("address", flat=True)) == [
            f"r{i}@example.net"
        ]
