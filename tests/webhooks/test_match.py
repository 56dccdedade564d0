"""webhooks.events.match finds a recipient by the provider's message id through the partial
index rcpt_provider (rows that have an id), and an event whose id is empty once its angle
brackets are gone matches no recipient sent over SMTP (they have none)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from anymail.signals import AnymailTrackingEvent
from django.db import connection
from django.test.utils import CaptureQueriesContext

from postwarden.outbox.models import Recipient
from postwarden.webhooks.events import match


def event(message_id: str, recipient: str = "ann@example.net") -> AnymailTrackingEvent:
    return AnymailTrackingEvent(event_type="delivered", message_id=message_id, recipient=recipient)


def test_it_finds_the_recipient_by_the_providers_id(sent: Callable[..., Recipient]) -> None:
    sent("ann@example.net", pmid="")  # sent over SMTP: no provider id
    api = sent("ann@example.net", pmid="0100018c-provider-id")
    assert match("ses", event("<0100018c-provider-id>"), {}) == (api.message, api)
    assert match("ses", event("0100018c-provider-id"), {}) == (api.message, api)
    for empty in ("<>", " <> "):
        assert match("ses", event(empty), {}) == (None, None), empty


@pytest.mark.skipif(connection.vendor != "sqlite", reason="plans are checked on SQLite")
def test_it_reads_the_partial_index(sent: Callable[..., Recipient]) -> None:
    sent("ann@example.net", pmid="0100018c-provider-id")
    with CaptureQueriesContext(connection) as ctx:
        match("ses", event("<0100018c-provider-id>"), {})
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + ctx.captured_queries[0]["sql"])
        plan = " | ".join(str(row[3]) for row in cursor.fetchall())
    assert "USING INDEX rcpt_provider (provider_message_id=?)" in plan, plan
