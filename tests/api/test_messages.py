"""POST/GET /api/v1/messages with real API keys: what an application sees."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.models import Attempt, Event, Message, Recipient, Suppression

URL = "/api/v1/messages"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


@pytest.fixture(autouse=True)
def _console_settings() -> None:
    # saved as an admin would in the console (this also refreshes the settings cache)
    runtime.save({"MAIL_FROM": "ops@example.com", "MAIL_FROM_NAME": "Ops"})


def key(*scopes: str, name: str = "billing-app") -> dict[str, str]:
    _, plain = ApiKey.issue(name, list(scopes))
    return {"Authorization": f"Bearer {plain}"}


def post(client: Client, body: Any, url: str = URL, scopes: tuple[str, ...] = ("send",)) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", headers=key(*scopes))


def test_it_accepts_a_message_with_202_and_each_recipients_state(client: Client) -> None:
    Suppression.objects.create(address="gone@example.com", reason="complaint", source="postmark event 9")
    response = post(
        client,
        {
            "to": ["Alice <alice@example.com>", "gone@example.com"],
            "subject": "Welcome",
            "text": "Hello",
            "html": "<p>Hello</p>",
            "tags": ["welcome"],
            "metadata": {"user_id": 42},
            "headers": {"X-Campaign": "w1"},
        },
    )
    assert response.status_code == 202
    body = response.json()
    message = Message.objects.get()
    assert body["id"] == message.public_id
    assert body["message_id"] == message.message_id
    assert body["duplicate"] is False
    assert body["recipients"] == [
        # two To recipients in bcc mode (MAIL_RECIPIENT_MODE's default): hidden from each other
        {"address": "alice@example.com", "kind": "bcc", "state": "queued", "reason": ""},
        {
            "address": "gone@example.com",
            "kind": "bcc",
            "state": "suppressed",
            "reason": "suppressed: complaint (postmark event 9)",
        },
    ]
    assert message.metadata == {"user_id": "42"}
    assert message.api_key is not None
    assert message.api_key.name == "billing-app"
    assert bytes(message.content.raw).count(b"X-Campaign: w1\r\n") == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"to": ["alice@example.com"], "text": "x", "htlm": "<p>typo</p>"}, 422, "htlm"),
        ({"to": ["not-an-address"], "text": "x"}, 400, "not-an-address"),
        (
            {"to": ["alice@example.com"], "subject": "a\r\nBcc: victim@example.net", "text": "x"},
            400,
            "line break",
        ),
        (
            {"to": ["alice@example.com"], "headers": {"X-A": "1\nBcc: v@example.net"}, "text": "x"},
            400,
            "line break",
        ),
        (
            {"to": ["alice@example.com"], "text": "x" * (11 * 1024 * 1024)},
            413,
            "POSTWARDEN_MAX_MESSAGE_BYTES",
        ),
        ({"to": "alice@example.com", "text": 5}, 422, "text"),
    ],
)
def test_it_says_what_is_wrong_with_bad_input(
    client: Client, body: dict[str, Any], status: int, words: str
) -> None:
    response = post(client, body)
    assert response.status_code == status
    assert words in json.dumps(response.json())
    assert Message.objects.count() == 0


def test_it_names_the_field_it_refuses(client: Client) -> None:
    response = post(client, {"to": ["alice@example.com"], "cc": ["b@exa mple.com"], "text": "x"})
    assert response.status_code == 400
    assert response.json()["field"] == "cc"


def test_it_needs_the_send_scope_to_post(client: Client) -> None:
    assert post(client, {"to": ["a@example.com"], "text": "x"}, scopes=("read",)).status_code == 403
    assert client.post(URL, "{}", content_type="application/json").status_code == 401


def test_it_answers_a_repeated_idempotency_key_with_the_first_message(client: Client) -> None:
    headers = key("send")
    body = json.dumps({"to": ["alice@example.com"], "text": "x", "idempotency_key": "order-1001"})
    first = client.post(URL, body, content_type="application/json", headers=headers).json()
    again = client.post(URL, body, content_type="application/json", headers=headers).json()
    assert (again["id"], again["duplicate"]) == (first["id"], True)
    assert Message.objects.count() == 1


def test_it_takes_a_batch_in_one_request_and_reports_each_message(client: Client) -> None:
    messages = [{"to": [f"user{i}@example.com"], "text": "x"} for i in range(3)]
    messages.insert(1, {"to": ["nope"], "text": "x"})
    response = post(client, {"messages": messages}, url=f"{URL}/batch")
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["refused"]) == (3, 1)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["error"]["field"] == "to"
    assert body["results"][0]["recipients"][0]["state"] == "queued"
    assert Message.objects.filter(source="batch").count() == 3


def test_it_refuses_a_batch_of_more_than_500(client: Client) -> None:
    response = post(client, {"messages": [{"to": ["a@example.com"], "text": "x"}] * 501}, url=f"{URL}/batch")
    assert response.status_code == 422
    assert "500" in json.dumps(response.json())
    assert Message.objects.count() == 0


def test_it_shows_a_message_with_its_timeline(client: Client) -> None:
    Suppression.objects.create(address="gone@example.com", reason="hard_bounce")
    created = post(client, {"to": ["alice@example.com", "gone@example.com"], "text": "x"}).json()
    alice = Recipient.objects.get(address="alice@example.com")
    Attempt.objects.create(
        recipient=alice,
        number=1,
        transport="smtp",
        outcome="deferred",
        stage="rcpt",
        code=451,
        enhanced="4.7.1",
        reply="451 4.7.1 Greylisted, try again later",
        finding="envelope.greylisted",
        explanation="The server asks to try again later.",
    )
    response = client.get(f"{URL}/{created['id']}", headers=key("read"))
    assert response.status_code == 200
    body = response.json()
    assert body["from"] == "ops@example.com"
    assert [(r["address"], r["state"]) for r in body["recipients"]] == [
        ("alice@example.com", "queued"),
        ("gone@example.com", "suppressed"),
    ]
    kinds = [(e["kind"], e["recipient"]) for e in body["timeline"]]
    assert kinds == [("enqueued", None), ("policy", None), ("attempt", "alice@example.com")]
    attempt = body["timeline"][2]["data"]
    assert (attempt["reply"], attempt["finding"], attempt["outcome"]) == (
        "451 4.7.1 Greylisted, try again later",
        "envelope.greylisted",
        "deferred",
    )
    assert body["timeline"][1]["detail"] == "gone@example.com: suppressed: hard bounce"
    assert client.get(f"{URL}/m_nope", headers=key("read")).status_code == 404


def test_it_lists_and_filters_messages(client: Client) -> None:
    first = post(client, {"to": ["alice@example.com"], "text": "x", "tags": ["digest"]}).json()
    second = post(client, {"to": ["bob@example.com"], "text": "x", "tags": ["alert"]}).json()
    Recipient.objects.filter(address="bob@example.com").update(state="dead")
    read = key("read")

    def ids(**query: Any) -> list[str]:
        response = client.get(URL, query, headers=read)
        assert response.status_code == 200
        return [m["id"] for m in response.json()["items"]]

    assert ids() == [second["id"], first["id"]]
    assert ids(state="dead") == [second["id"]]
    assert ids(tag="digest") == [first["id"]]
    assert ids(recipient="alice@example.com") == [first["id"]]
    assert ids(limit=1) == [second["id"]]
    assert client.get(URL, {"limit": 1}, headers=read).json()["more"] is True
    assert client.get(URL, {"state": "nonsense"}, headers=read).status_code == 400
    refused = client.get(URL, {"colour": "red"}, headers=read)
    assert refused.status_code == 400
    assert "colour" in refused.json()["detail"]


def test_it_requeues_a_dead_message_and_records_who_asked(client: Client) -> None:
    created = post(client, {"to": ["alice@example.com"], "text": "x"}).json()
    Recipient.objects.update(state="dead", attempts=8)
    response = post(client, {}, url=f"{URL}/{created['id']}/requeue")
    assert response.json() == {"changed": 1, "skipped": 0, "stopped": 0}
    row = Recipient.objects.get()
    assert (row.state, row.attempts_base) == ("queued", 8)
    assert Event.objects.get(kind="requeued").detail == "alice@example.com: re-queued by api key billing-app"


@pytest.mark.parametrize(
    ("raw", "status", "where"),
    [
        ("{", 400, None),  # not JSON: the framework's 400 (api/errors.py)
        ("[]", 422, ("body", "body")),
        ('"text"', 422, ("body", "body")),
        ('{"to": [123], "text": "x"}', 422, ("body", "body", "to", 0)),
        ('{"messages": "x"}', 422, ("body", "body", "messages")),
        (
            '{"to": ["a@example.com"], "metadata": {"k": {"nested": 1}}}',
            422,
            ("body", "body", "metadata", "k"),
        ),
    ],
)
def test_it_answers_malformed_bodies_with_the_exact_status_naming_the_field(
    client: Client, raw: str, status: int, where: tuple[object, ...] | None
) -> None:
    # exactly 400 or 422 (issue #21: "a 4xx" let a 401 or 404 pass), and the field named
    response = client.post(URL, raw, content_type="application/json", headers=key("send"))
    assert response.status_code == status, (raw, response.status_code, response.content)
    if where is None:
        assert response.json() == {"detail": "Cannot parse request body"}
    else:
        assert any(tuple(p["loc"][: len(where)]) == where for p in response.json()["detail"]), response.json()
    batch = client.post(f"{URL}/batch", raw, content_type="application/json", headers=key("send"))
    assert batch.status_code == status, (raw, batch.status_code, batch.content)
    assert Message.objects.count() == 0


def test_it_requeues_a_deferred_recipient_now_and_leaves_a_sent_one(client: Client) -> None:
    created = post(client, {"to": ["alice@example.com", "bob@example.com"], "text": "x"}).json()
    later = timezone.now() + timedelta(hours=1)
    Recipient.objects.filter(address="alice@example.com").update(
        state="deferred", attempts=2, next_attempt_at=later
    )
    Recipient.objects.filter(address="bob@example.com").update(state="sent", attempts=1)
    response = post(client, {}, url=f"{URL}/{created['id']}/requeue")
    assert response.json() == {"changed": 1, "skipped": 1, "stopped": 0}
    alice = Recipient.objects.get(address="alice@example.com")
    assert (alice.state, alice.attempts_base) == ("queued", 2)
    assert alice.next_attempt_at is not None
    assert alice.next_attempt_at <= timezone.now()
    assert Recipient.objects.get(address="bob@example.com").state == "sent"
