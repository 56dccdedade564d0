"""Suppressions: list, search, add, remove, CSV export, the event that caused one."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from postwarden.outbox import suppressions as store
from postwarden.outbox.models import Event, Recipient, Suppression
from tests.console.helpers import enqueue_one

pytestmark = pytest.mark.django_db
URL = "/suppressions/"


def test_it_adds_a_manual_suppression_naming_who_added_it(settings_client: Client) -> None:
    response = settings_client.post(URL, {"address": "Bounce.Me@Example.com", "detail": "asked by phone"})
    assert response.status_code == 302
    row = Suppression.objects.get()
    assert (row.address, row.reason, row.detail, row.source) == (
        "bounce.me@example.com",
        "manual",
        "asked by phone",
        "console: sam@example.com",
    )


def test_it_refuses_an_invalid_address(settings_client: Client) -> None:
    response = settings_client.post(URL, {"address": "not an address"})
    assert response.status_code == 200
    assert not Suppression.objects.exists()
    assert "errorlist" in response.content.decode()


def test_it_removes_a_suppression(settings_client: Client) -> None:
    store.add("gone@example.com", store.MANUAL)
    response = settings_client.post("/suppressions/remove/", {"address": "gone@example.com"})
    assert response.status_code == 302
    assert not Suppression.objects.exists()


def test_it_searches_and_links_the_source_event(viewer_client: Client) -> None:
    message = enqueue_one("hard@example.com")
    event = Event.objects.create(
        message=message,
        recipient=Recipient.objects.get(message=message),
        kind="bounced",
        provider="mailgun",
        event_id="e-1",
    )
    store.add_bounce(
        "hard@example.com", detail="550 5.1.1 no such user", source="mailgun event e-1", event=event
    )
    store.add("other@example.org", store.COMPLAINT)
    html = viewer_client.get(URL + "?q=hard").content.decode()
    assert "hard@example.com" in html
    assert "other@example.org" not in html
    assert "550 5.1.1 no such user" in html
    assert f'href="/deliveries/{message.public_id}/"' in html
    assert "Remove" not in html  # a viewer reads only


def test_it_exports_csv_with_the_filters_applied(viewer_client: Client) -> None:
    store.add("a@example.com", store.MANUAL, detail="=HYPERLINK(1)")
    store.add("b@example.org", store.COMPLAINT)
    response = viewer_client.get("/suppressions/export.csv?reason=manual")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert rows[0] == ["address", "reason", "detail", "source", "created_at", "expires_at"]
    assert [r[:3] for r in rows[1:]] == [["a@example.com", "manual", "'=HYPERLINK(1)"]]


def test_it_exports_a_long_list_in_chunks_with_one_header(
    viewer_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("postwarden.console.views.suppressions.CSV_CHUNK", 2)
    for i in range(5):
        store.add(f"u{i}@example.com", store.MANUAL)
    body = b"".join(viewer_client.get("/suppressions/export.csv").streaming_content).decode()  # type: ignore[attr-defined]
    lines = body.strip().split("\n")
    assert lines[0].startswith("address,")
    assert len(lines) == 6
    assert sorted(line.split(",")[0] for line in lines[1:]) == [f"u{i}@example.com" for i in range(5)]


def test_a_viewer_cannot_add_or_remove(viewer_client: Client) -> None:
    store.add("keep@example.com", store.MANUAL)
    assert viewer_client.post(URL, {"address": "x@example.com"}).status_code == 403
    assert viewer_client.post("/suppressions/remove/", {"address": "keep@example.com"}).status_code == 403
    assert list(Suppression.objects.values_list("address", flat=True)) == ["keep@example.com"]
