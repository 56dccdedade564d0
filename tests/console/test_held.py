"""Held and dead: release, retry, cancel — one or in bulk — through the pipeline's
services, each leaving an event on the timeline that names who did it."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.outbox.models import Event, Message, Recipient
from tests.console.helpers import enqueue_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]


def waiting(state: str, n: int = 1) -> list[Recipient]:
    made = []
    for i in range(n):
        message = enqueue_one(f"{state}{i}@example.com", f"{state} {i}")
        Recipient.objects.filter(message=message).update(state=state, last_reply="550 5.1.1 no such user")
        made.append(Recipient.objects.get(message=message))
    return made


def test_it_lists_held_dead_and_failed_with_counts(viewer_client: Client) -> None:
    waiting("held", 2)
    waiting("dead")
    enqueue_one("fine@example.com")
    html = viewer_client.get("/held/").content.decode()
    assert "held (2)" in html
    assert "dead (1)" in html
    assert "fine@example.com" not in html
    assert "550 5.1.1 no such user" in html
    assert 'name="ids"' not in html  # a viewer gets no action boxes
    only_dead = viewer_client.get("/held/?state=dead").content.decode()
    assert "dead0@example.com" in only_dead
    assert "held0@example.com" not in only_dead


def test_it_releases_the_selected_recipients_and_says_who_did(settings_client: Client) -> None:
    first, second = waiting("held", 2)
    response = settings_client.post(
        "/held/action/", {"action": "release", "ids": [first.pk], "state": "held"}, follow=True
    )
    assert "Queued 1 recipient again." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "queued"
    assert second.state == "held"
    event = Event.objects.get(recipient=first)
    assert "sam@example.com" in event.detail


def test_it_retries_every_dead_recipient_in_bulk(settings_client: Client) -> None:
    waiting("dead", 3)
    waiting("held", 1)
    settings_client.post("/held/action/", {"action": "release_all", "state": "dead"})
    assert sorted(Recipient.objects.values_list("state", flat=True)) == ["held", "queued", "queued", "queued"]


def test_it_cancels_and_skips_what_it_cannot_cancel(settings_client: Client) -> None:
    (held,) = waiting("held")
    (dead,) = waiting("dead")
    response = settings_client.post(
        "/held/action/", {"action": "cancel", "ids": [held.pk, dead.pk]}, follow=True
    )
    html = response.content.decode()
    assert "Cancelled 1 recipient. 1 skipped" in html
    held.refresh_from_db()
    assert held.state == "cancelled"
    assert Message.objects.count() == 2


def test_it_refuses_an_unknown_action(settings_client: Client) -> None:
    (held,) = waiting("held")
    response = settings_client.post("/held/action/", {"action": "explode", "ids": [held.pk]}, follow=True)
    assert "Unknown action" in response.content.decode()
    held.refresh_from_db()
    assert held.state == "held"


def test_a_viewer_cannot_act(viewer_client: Client) -> None:
    (held,) = waiting("held")
    assert viewer_client.post("/held/action/", {"action": "release", "ids": [held.pk]}).status_code == 403
    held.refresh_from_db()
    assert held.state == "held"


def test_in_persian_the_counts_and_the_timeline_times_are_written_in_persian_digits(
    settings_client: Client,
) -> None:
    first, second = waiting("held", 2)
    response = settings_client.post(
        "/held/action/",
        {"action": "cancel", "ids": [first.pk, second.pk], "state": "held"},
        headers={"Accept-Language": "fa"},
        follow=True,
    )
    assert "۲ گیرنده لغو شدند." in response.content.decode()
    page = settings_client.get(
        f"/deliveries/{first.message.public_id}/", headers={"Accept-Language": "fa"}
    ).content.decode()
    at = Event.objects.filter(recipient=first).get().at
    shown = at.strftime("%Y-%m-%d %H:%M:%S") + f".{at.microsecond // 1000:03d}"
    assert shown not in page
    assert shown.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")) in page
