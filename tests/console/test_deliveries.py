"""Deliveries: filters, keyset pages with a constant number of queries, the message page
(recipients, timeline with the server's words and explanations, events), the rendered
message with its HTML in a sandboxed document of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from postwarden.console import keyset
from postwarden.console.deliveries import Filters, matching
from postwarden.outbox.models import Attempt, Event, Message, Recipient
from tests.console.helpers import enqueue_one

pytestmark = pytest.mark.django_db
URL = "/deliveries/"


def set_state(message: Message, state: str, **fields: object) -> None:
    Recipient.objects.filter(message=message).update(state=state, **fields)


def test_it_lists_the_newest_messages_first_with_their_recipients(viewer_client: Client) -> None:
    older = enqueue_one("alice@example.com", "Older")
    newer = enqueue_one("bob@example.org", "Newer")
    Message.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    html = viewer_client.get(URL).content.decode()
    assert html.index("Newer") < html.index("Older")
    assert "bob@example.org" in html
    assert f'href="/deliveries/{newer.public_id}/"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"recipient": "alice@"}, ["A"]),
        ({"recipient": "ALICE@example.com"}, ["A"]),
        ({"state": "dead"}, ["B"]),
        ({"tag": "digest"}, ["C"]),
        ({"state": "queued", "tag": "digest"}, ["C"]),
        ({}, ["C", "B", "A"]),
    ],
)
def test_it_filters_by_recipient_state_and_tag(query: dict[str, str], expected: list[str]) -> None:
    a = enqueue_one("alice@example.com", "A")
    b = enqueue_one("bob@example.com", "B")
    enqueue_one("carol@example.com", "C", tags=("digest",))
    set_state(b, "dead")
    set_state(a, "sent")
    found = keyset.page(matching(Filters.from_query(query)), None, 50).rows
    assert [m.subject for m in found] == expected


def test_it_filters_by_day_and_by_message_id() -> None:
    a = enqueue_one("alice@example.com", "A")
    enqueue_one("bob@example.com", "B")
    Message.objects.filter(pk=a.pk).update(created_at=timezone.now() - timedelta(days=3))
    day = (timezone.now() - timedelta(days=3)).date()
    assert [m.subject for m in matching(Filters.from_query({"since": str(day), "until": str(day)}))] == ["A"]
    assert [m.subject for m in matching(Filters.from_query({"recipient": a.public_id}))] == ["A"]
    assert [m.subject for m in matching(Filters.from_query({"recipient": a.message_id}))] == ["A"]


def test_it_uses_exists_for_a_common_state_and_in_for_a_rare_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        enqueue_one(f"u{i}@example.com", f"S{i}")
    monkeypatch.setattr("postwarden.console.deliveries.SELECTIVE", 2)
    common = str(matching(Filters(state="queued")).query)
    rare = str(matching(Filters(state="dead")).query)
    assert "EXISTS" in common
    assert "EXISTS" not in rare
    assert " IN (SELECT" in rare


def test_it_pages_by_keyset_without_gaps_or_repeats(viewer_client: Client) -> None:
    now = timezone.now()
    made = [enqueue_one(f"u{i}@example.com", f"M{i:02d}") for i in range(7)]
    for i, m in enumerate(made):  # two share a timestamp: the id breaks the tie
        Message.objects.filter(pk=m.pk).update(created_at=now - timedelta(minutes=min(i, 5)))
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = keyset.page(matching(Filters()), cursor, 3)
        seen += [m.subject for m in page.rows]
        if page.next_cursor is None:
            break
        cursor = keyset.Cursor.decode(page.next_cursor)
    # M05 and M06 share a timestamp: the newer id comes first, as in the index
    assert seen == ["M00", "M01", "M02", "M03", "M04", "M06", "M05"]


def test_it_renders_a_page_in_a_constant_number_of_queries(viewer_client: Client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(URL + "?state=queued").status_code == 200
        return len(ctx.captured_queries)

    enqueue_one("a@example.com")
    queries()  # the first page also reads the saved settings once (configstore keeps them)
    few = queries()
    for i in range(20):
        enqueue_one(f"x{i}@example.com")
    assert queries() == few


def test_it_ignores_a_tampered_cursor(viewer_client: Client) -> None:
    enqueue_one("a@example.com", "Still here")
    response = viewer_client.get(URL + "?after=not-a-cursor!!")
    assert response.status_code == 200
    assert "Still here" in response.content.decode()


def test_it_shows_the_timeline_with_the_servers_words_and_the_explanation(settings_client: Client) -> None:
    message = enqueue_one("alice@example.com", "Timeline", html="<p>Hi</p>")
    rcpt = Recipient.objects.get(message=message)
    now = timezone.now()
    Attempt.objects.create(
        recipient=rcpt,
        number=1,
        transport="smtp",
        outcome="deferred",
        stage="rcpt",
        code=451,
        enhanced="4.7.1",
        reply="451 4.7.1 Greylisted, try again later",
        finding="envelope.greylisted",
        explanation="The server asks to try again later.",
        started_at=now,
        finished_at=now,
        duration_ms=12,
        retry_at=now + timedelta(minutes=5),
    )
    Attempt.objects.create(
        recipient=rcpt,
        number=2,
        transport="smtp",
        outcome="sent",
        stage="data",
        code=250,
        reply="250 2.0.0 Ok: queued as 4BxYz",
        queue_id="4BxYz",
        started_at=now + timedelta(minutes=5),
        duration_ms=9,
    )
    Event.objects.create(
        message=message,
        recipient=rcpt,
        kind="delivered",
        provider="sendgrid",
        detail="250 delivered",
        at=now + timedelta(minutes=6),
        event_id="ev1",
        raw={"event": "delivered"},
    )
    set_state(message, "delivered")
    html = settings_client.get(f"/deliveries/{message.public_id}/").content.decode()
    assert "451 4.7.1 Greylisted, try again later" in html
    assert "The server asks to try again later." in html
    assert "envelope.greylisted" in html
    assert html.index("Attempt 1") < html.index("Attempt 2") < html.index("<strong>delivered</strong>")
    assert 'queue id <bdi class="mono">4BxYz</bdi>' in html
    assert "raw event" in html
    assert f'src="/deliveries/{message.public_id}/html/"' in html
    assert 'sandbox=""' in html


def test_it_serves_the_html_part_as_a_sandboxed_document_with_its_own_policy(settings_client: Client) -> None:
    message = enqueue_one(
        "alice@example.com",
        "Html",
        html='<p>Hi</p><script>alert(1)</script><img src="https://t.example/x.gif">',
    )
    response = settings_client.get(f"/deliveries/{message.public_id}/html/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "img-src data:" in policy
    assert "style-src 'unsafe-inline'" in policy
    assert policy.startswith("sandbox;")
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert b"<p>Hi</p>" in response.content


def test_it_shows_the_raw_source_as_plain_text(settings_client: Client) -> None:
    message = enqueue_one("alice@example.com", "Raw")
    response = settings_client.get(f"/deliveries/{message.public_id}/raw/")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f"Message-ID: {message.message_id}".encode() in response.content


def test_it_answers_404_for_an_unknown_message(viewer_client: Client) -> None:
    assert viewer_client.get("/deliveries/m_nope/").status_code == 404
