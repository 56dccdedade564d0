"""Links checked before API mail leaves (core/links.py): a questioned link is a "links"
entry on the timeline, or with LINKS_REFUSE a 400; the relay's mail is not touched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.models import Event, Message
from postwarden.outbox.submission import enqueue_raw

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


def send(client: Client, settings: dict[str, str], **body: Any) -> Any:
    runtime.save({"MAIL_FROM": "ops@example.com", **settings})
    _, plain = ApiKey.issue("shop", ["send", "read"])
    auth = {"Authorization": f"Bearer {plain}"}
    sent = client.post(
        "/api/v1/messages",
        json.dumps({"to": ["ann@example.net"], "subject": "s", **body}),
        content_type="application/json",
        headers=auth,
    )
    if sent.status_code != 202:
        return sent
    return client.get(f"/api/v1/messages/{sent.json()['id']}", headers=auth).json()["timeline"]


def links(timeline: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (link["url"], link["kind"]) for e in timeline if e["kind"] == "links" for link in e["data"]["links"]
    ]


HTTPS_APP = {"APP_URL": "https://app.example.com"}


@pytest.mark.parametrize(
    ("values", "html", "expected"),
    [
        (
            HTTPS_APP,
            '<a href="http://localhost:8000/reset/1">r</a>',
            [("http://localhost:8000/reset/1", "local")],
        ),
        (HTTPS_APP, '<a href="https://10.1.2.3/x">r</a>', [("https://10.1.2.3/x", "local")]),
        (HTTPS_APP, '<a href="http://app.example.com/x">r</a>', [("http://app.example.com/x", "insecure")]),
        (
            HTTPS_APP,
            '<a href="https://old.example.com/x">r</a>',
            [("https://old.example.com/x", "other-host")],
        ),
        (HTTPS_APP, '<a href="https://app.example.com/x?a=1&amp;b=2">r</a>', []),
        (
            {**HTTPS_APP, "LINKS_ALLOWED_HOSTS": "docs.example.org, .cdn.example.net"},
            '<a href="https://docs.example.org/a">d</a> <img src="https://img.cdn.example.net/l.png">',
            [],
        ),
        # without APP_URL only links that can never work are questioned
        (
            {},
            '<a href="https://anywhere.example/x">a</a> http://127.0.0.1/y',
            [("http://127.0.0.1/y", "local")],
        ),
    ],
)
def test_a_questioned_link_is_a_warning_on_the_timeline(
    client: Client, values: dict[str, str], html: str, expected: list[tuple[str, str]]
) -> None:
    timeline = send(client, values, html=html)
    assert links(timeline) == expected


def test_the_warning_says_what_is_wrong_in_words(client: Client) -> None:
    timeline = send(client, HTTPS_APP, text="Reset: http://localhost:8000/reset/1")
    [entry] = [e for e in timeline if e["kind"] == "links"]
    assert entry["detail"] == (
        "1 link would not work for recipients: http://localhost:8000/reset/1 points at localhost, "
        "which recipients cannot reach"
    )


def test_a_key_that_may_only_read_gets_the_count_of_questioned_links_not_the_links(client: Client) -> None:
    """The links are the body's own URLs (a reset token here): a read-only key is a viewer's
    (issue #17), so it sees that links were questioned, not which."""
    timeline = send(client, HTTPS_APP, text="Reset: http://localhost:8000/reset/tok-Zq9XkVbN")
    public_id = client.get(
        "/api/v1/messages", headers={"Authorization": f"Bearer {ApiKey.issue('wall', ['send', 'read'])[1]}"}
    ).json()["items"][0]["id"]
    _, reader = ApiKey.issue("dashboard", ["read"])
    seen = client.get(f"/api/v1/messages/{public_id}", headers={"Authorization": f"Bearer {reader}"}).json()
    [entry] = [e for e in seen["timeline"] if e["kind"] == "links"]
    assert entry["detail"] == "1 link would not work for recipients (the links are part of the body)."
    assert entry["data"] == {}
    assert "tok-Zq9XkVbN" not in json.dumps(seen)
    assert "tok-Zq9XkVbN" in json.dumps(timeline)  # the sender's own key still sees them


def test_links_refuse_turns_the_warning_into_a_400_and_queues_nothing(client: Client) -> None:
    response = send(
        client, {**HTTPS_APP, "LINKS_REFUSE": "true"}, text="Reset: http://localhost:8000/reset/1"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "links"
    assert "http://localhost:8000/reset/1 points at localhost" in response.json()["detail"]
    assert Message.objects.count() == 0


def test_the_relays_mail_is_not_checked() -> None:
    runtime.save({"MAIL_FROM": "ops@example.com", **HTTPS_APP, "LINKS_REFUSE": "true"})
    raw = (
        b"From: app@example.com\r\nTo: ann@example.net\r\nSubject: r\r\n\r\n"
        b"Reset: http://localhost:8000/reset/1\r\n"
    )
    enqueue_raw(raw, "app@example.com", ["ann@example.net"])
    assert Message.objects.count() == 1
    assert not Event.objects.filter(kind="links").exists()
