"""Enqueue: validation, composition, policies, idempotency, the caller's transaction."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction

from postwarden.accounts.models import ApiKey, Member
from postwarden.core.config.model import DeliverySettings
from postwarden.outbox import submission
from postwarden.outbox.errors import Refused
from postwarden.outbox.models import (
    Content,
    Event,
    IdempotencyKey,
    Message,
    MessageTag,
    Recipient,
    Suppression,
)
from postwarden.outbox.submission import Outgoing, enqueue, enqueue_many, enqueue_raw
from tests.factories import make_settings

pytestmark = pytest.mark.django_db

SETTINGS = make_settings()


def test_it_stores_the_message_its_bytes_and_one_row_per_recipient() -> None:
    out = enqueue(
        Outgoing(
            to=["Alice <alice@example.com>"],
            cc=["bob@example.org"],
            subject="Hi",
            text="Hello",
            tags=["digest"],
            metadata={"user": "42"},
        ),
        settings=SETTINGS,
    )
    message = Message.objects.get()
    assert out.pk == message.pk
    assert not out.duplicate
    assert re.fullmatch(r"m_[0-9a-f]{28}", message.public_id)
    assert message.envelope_from == "ops@example.com"
    raw = bytes(Content.objects.get(message=message).raw)
    assert f"Message-ID: {message.message_id}\r\n".encode() in raw
    assert b"From: Ops <ops@example.com>\r\n" in raw
    assert [(r.address, r.kind, r.state) for r in Recipient.objects.order_by("id")] == [
        ("alice@example.com", "to", "queued"),
        ("bob@example.org", "cc", "queued"),
    ]
    assert [(r.address, r.state, r.reason) for r in out.recipients] == [
        ("alice@example.com", "queued", ""),
        ("bob@example.org", "queued", ""),
    ]
    assert list(MessageTag.objects.values_list("tag", flat=True)) == ["digest"]
    assert message.metadata == {"user": "42"}
    assert message.size == len(raw)
    assert Recipient.objects.filter(next_attempt_at__isnull=True).count() == 0


@pytest.mark.parametrize(
    ("outgoing", "field", "words"),
    [
        (Outgoing(to=["not an address"], text="x"), "to", "not an address"),
        (Outgoing(to=["a@example.com"], cc=["b@exa mple.com"], text="x"), "cc", "b@exa mple.com"),
        (
            Outgoing(to=["a@example.com"], subject="Hi\r\nBcc: victim@example.net", text="x"),
            "subject",
            "line break",
        ),
        (
            Outgoing(to=["a@example.com"], headers={"X-Ok": "1\nBcc: victim@example.net"}, text="x"),
            "headers",
            "line break",
        ),
        (Outgoing(to=["a@example.com"], headers={"From": "boss@example.com"}, text="x"), "headers", "From"),
        (Outgoing(to=[], text="x"), "to", "no recipients"),
        (Outgoing(to=["a@example.com"], tags=["x"] * 11, text="x"), "tags", "at most 10"),
        (Outgoing(to=["a@example.com"], metadata={"k": ["list"]}, text="x"), "metadata.k", "strings"),  # type: ignore[dict-item]
        (Outgoing(to=["a@example.com"], idempotency_key="", text="x"), "idempotency_key", "1 to 200"),
    ],
)
def test_it_refuses_bad_input_naming_the_field(outgoing: Outgoing, field: str, words: str) -> None:
    with pytest.raises(Refused) as caught:
        enqueue(outgoing, settings=SETTINGS)
    assert caught.value.field == field
    assert words in caught.value.message
    assert caught.value.status == 400
    assert Message.objects.count() == 0


def test_it_refuses_a_message_over_the_size_limit_with_413() -> None:
    small = make_settings(delivery=DeliverySettings(max_message_bytes=2048))
    with pytest.raises(Refused) as caught:
        enqueue(Outgoing(to=["a@example.com"], text="x" * 3000), settings=small)
    assert caught.value.field == "size"
    assert caught.value.status == 413
    assert "limit is 2048 bytes (POSTWARDEN_MAX_MESSAGE_BYTES)" in caught.value.message


def test_it_needs_a_from_address_from_the_request_or_mail_from() -> None:
    with pytest.raises(Refused) as caught:
        enqueue(Outgoing(to=["a@example.com"], text="x"), settings=make_settings(from_address=None))
    assert caught.value.field == "from"
    assert "MAIL_FROM" in caught.value.message


def test_it_returns_the_first_message_for_a_repeated_idempotency_key() -> None:
    key, _ = ApiKey.issue("app", ["send"])
    first = enqueue(
        Outgoing(to=["a@example.com"], text="1", idempotency_key="k-1"), settings=SETTINGS, api_key=key
    )
    again = enqueue(
        Outgoing(to=["b@example.com"], text="2", idempotency_key="k-1"), settings=SETTINGS, api_key=key
    )
    assert again.duplicate
    assert again.pk == first.pk
    assert [r.address for r in again.recipients] == ["a@example.com"]
    other, _ = ApiKey.issue("other app", ["send"])
    theirs = enqueue(
        Outgoing(to=["a@example.com"], text="1", idempotency_key="k-1"), settings=SETTINGS, api_key=other
    )
    assert not theirs.duplicate
    assert theirs.pk != first.pk
    assert Message.objects.count() == 2


def test_it_makes_a_new_message_when_the_key_is_older_than_24_hours() -> None:
    key, _ = ApiKey.issue("app", ["send"])
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        first = enqueue(
            Outgoing(to=["a@example.com"], text="1", idempotency_key="k"), settings=SETTINGS, api_key=key
        )
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert enqueue(
            Outgoing(to=["a@example.com"], text="1", idempotency_key="k"), settings=SETTINGS, api_key=key
        ).duplicate
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        later = enqueue(
            Outgoing(to=["a@example.com"], text="1", idempotency_key="k"), settings=SETTINGS, api_key=key
        )
    assert not later.duplicate
    assert later.pk != first.pk
    assert IdempotencyKey.objects.get().message_id == later.pk


def test_it_answers_a_key_repeated_inside_one_batch_with_the_first_message() -> None:
    results = enqueue_many(
        [
            Outgoing(to=["a@example.com"], text="1", idempotency_key="same"),
            Outgoing(to=["b@example.com"], text="2", idempotency_key="same"),
        ],
        settings=SETTINGS,
    )
    assert Message.objects.count() == 1
    first, second = results
    assert isinstance(first, submission.Enqueued)
    assert isinstance(second, submission.Enqueued)
    assert second.duplicate
    assert second.pk == first.pk


def test_it_stores_the_good_items_of_a_batch_and_reports_the_bad_ones() -> None:
    results = enqueue_many(
        [
            Outgoing(to=["a@example.com"], text="1"),
            Outgoing(to=["nope"], text="2"),
            Outgoing(to=["c@example.com"], text="3"),
        ],
        settings=SETTINGS,
    )
    assert [type(r).__name__ for r in results] == ["Enqueued", "Refused", "Enqueued"]
    assert Message.objects.count() == 2


def test_it_refuses_domains_that_are_not_approved_unless_the_address_is_a_members() -> None:
    Member.objects.create(email="Boss@Partner.example")
    approved = make_settings(allowed_domains=("example.com",))
    out = enqueue(
        Outgoing(to=["a@example.com", "x@partner.example", "boss@partner.example"], text="x"),
        settings=approved,
    )
    states = {r.address: (r.state, r.reason) for r in out.recipients}
    assert states["a@example.com"] == ("queued", "")
    assert states["boss@partner.example"] == ("queued", "")
    assert states["x@partner.example"] == (
        "refused",
        "refused: partner.example is not an approved domain (MAIL_ALLOWED_DOMAINS=example.com) and "
        "the address is not a member's",
    )
    row = Recipient.objects.get(address="x@partner.example")
    assert row.finding == "policy.domain_not_approved"
    assert Event.objects.get().detail.startswith("x@partner.example: refused: partner.example")


def test_it_marks_suppressed_recipients_and_holds_mail_when_sending_is_off() -> None:
    Suppression.objects.create(address="gone@example.com", reason="hard_bounce", source="sendgrid event 1")
    Suppression.objects.create(
        address="old@example.com", reason="hard_bounce", expires_at=datetime(2020, 1, 1, tzinfo=UTC)
    )
    out = enqueue(Outgoing(to=["Gone@Example.com", "old@example.com"], text="x"), settings=SETTINGS)
    assert [(r.state, r.reason) for r in out.recipients] == [
        ("suppressed", "suppressed: hard bounce (sendgrid event 1)"),
        ("queued", ""),
    ]
    held = enqueue(Outgoing(to=["a@example.com"], text="x"), settings=make_settings(enabled=False))
    assert held.recipients[0].state == "held"
    assert "EMAIL_ENABLED=false" in held.recipients[0].reason


@pytest.mark.django_db(transaction=True)
def test_it_writes_in_the_callers_transaction_and_announces_only_after_commit() -> None:
    heard: list[tuple[str, list[str]]] = []

    def listener(sender: object, messages: list[submission.Enqueued], source: str, **kwargs: object) -> None:
        heard.append((source, [m.public_id for m in messages]))

    def enqueue_then_fail() -> None:
        with transaction.atomic():
            enqueue(Outgoing(to=["a@example.com"], text="x"), settings=SETTINGS)
            raise RuntimeError("the caller's own failure")

    submission.message_enqueued.connect(listener)
    try:
        with pytest.raises(RuntimeError):
            enqueue_then_fail()
        assert Message.objects.count() == 0
        assert heard == []
        with transaction.atomic():
            out = enqueue(Outgoing(to=["a@example.com"], text="x"), settings=SETTINGS, source="console")
            assert heard == []
        assert heard == [("console", [out.public_id])]
    finally:
        submission.message_enqueued.disconnect(listener)


def test_it_keeps_a_raw_messages_headers_adding_only_what_is_missing() -> None:
    raw = (
        b"From: App <app@example.com>\nTo: a@example.com\nBcc: secret@example.net\n"
        b"Subject: Report\nX-App: 7\n\nbody line\n"
    )
    out = enqueue_raw(raw, "bounces@example.com", ["a@example.com", "secret@example.net"], settings=SETTINGS)
    stored = bytes(Content.objects.get().raw)
    assert stored.startswith(b"Message-ID: " + out.message_id.encode() + b"\r\nDate: ")
    assert (
        b"From: App <app@example.com>\r\nTo: a@example.com\r\nSubject: Report\r\nX-App: 7\r\n"
        b"\r\nbody line\r\n" in stored
    )
    assert b"secret@" not in stored
    assert [(r.address, r.kind) for r in out.recipients] == [
        ("a@example.com", "to"),
        ("secret@example.net", "bcc"),
    ]
    stored_message = Message.objects.get(pk=out.pk)
    assert stored_message.envelope_from == "bounces@example.com"
    assert stored_message.subject == "Report"
    kept = enqueue_raw(
        b"Message-ID: <given@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
        b"From: a@example.com\r\n\r\nx",
        "bounces@example.com",
        ["a@example.com"],
        settings=SETTINGS,
    )
    assert kept.message_id == "<given@example.com>"
    assert bytes(Content.objects.get(message_id=kept.pk).raw).startswith(b"Message-ID: <given@example.com>")


def test_it_logs_one_enqueued_line_through_the_configured_handler(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    # the configured JSON handler takes the rendered line directly (logs.info_lines);
    # what it prints is what log.info("enqueued", extra=...) printed before
    import io
    import json
    import logging

    from postwarden import logs

    stream = io.StringIO()
    handler = logs.BufferedStreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("postwarden.outbox")
    monkeypatch.setattr(logger, "handlers", [handler])
    monkeypatch.setattr(logger, "propagate", False)
    with django_capture_on_commit_callbacks(execute=True):
        out = enqueue(
            Outgoing(to=["alice@example.com", "bob@example.org"], subject="Hi", text="x"), settings=SETTINGS
        )
    handler.flush()
    line = json.loads(stream.getvalue())
    assert {k: v for k, v in line.items() if k != "ts"} == {
        "level": "info",
        "logger": "postwarden.outbox",
        "msg": "enqueued",
        "messages": 1,
        "recipients": 2,
        "first": out.public_id,
        "source": "api",
    }


def test_generated_message_ids_and_public_ids_sort_by_time() -> None:
    """Both are kept under an index: made in a later second, they sort after, so new keys
    go to the index's end, not to a random page of it (core.message.ordered_hex)."""
    for second in range(6):
        with time_machine.travel(datetime(2026, 12, 6, 18, 0, second, tzinfo=UTC), tick=False):
            enqueue(Outgoing(to=["alice@example.com"], subject="Hi", text="Hello"), settings=SETTINGS)
    made = list(Message.objects.order_by("id").values_list("message_id", "public_id"))
    assert sorted(made) == made
    assert sorted(p for _, p in made) == [p for _, p in made]
    assert all(re.fullmatch(r"<[0-9a-f]{40}@example\.com>", message_id) for message_id, _ in made)
