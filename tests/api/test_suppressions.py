"""GET/POST/DELETE /api/v1/suppressions with real API keys (hashed rows, scopes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from postwarden.accounts.models import ApiKey
from postwarden.outbox import suppressions
from postwarden.outbox.models import Suppression

URL = "/api/v1/suppressions"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    # only the API's routes: these tests do not depend on the console's
    settings.ROOT_URLCONF = "postwarden.api.urls"


def key(*scopes: str, name: str = "billing-app") -> dict[str, str]:
    _, plain = ApiKey.issue(name, list(scopes))
    return {"Authorization": f"Bearer {plain}"}


def test_it_lists_and_searches_suppressions_newest_first(client: Client) -> None:
    now = timezone.now()
    suppressions.add("old@example.com", "manual", now=now - timedelta(hours=2))
    suppressions.add_bounce(
        "ann@example.net", detail="550 5.1.1 user unknown", source="sendgrid event x", now=now
    )
    suppressions.add(
        "gone@example.org", "hard_bounce", expires_at=now - timedelta(seconds=1), now=now - timedelta(days=31)
    )
    response = client.get(URL, headers=key("read"))
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], [i["address"] for i in body["items"]]) == (
        2,
        ["ann@example.net", "old@example.com"],
    )
    assert body["items"][0]["reason"] == "hard_bounce"
    assert body["items"][0]["source"] == "sendgrid event x"
    assert client.get(URL, {"q": "ANN"}, headers=key("read")).json()["count"] == 1
    assert client.get(URL, {"include_expired": "true"}, headers=key("read")).json()["count"] == 3


def test_it_paginates(client: Client) -> None:
    for n in range(5):
        suppressions.add(f"user{n}@example.com", "manual", now=timezone.now() - timedelta(minutes=n))
    body = client.get(URL, {"limit": 2, "offset": 2}, headers=key("read")).json()
    assert (body["count"], [i["address"] for i in body["items"]]) == (
        5,
        ["user2@example.com", "user3@example.com"],
    )


def test_it_answers_400_for_an_unknown_reason(client: Client) -> None:
    response = client.get(URL, {"reason": "boredom"}, headers=key("read"))
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}])
def test_it_answers_422_naming_a_page_parameter_out_of_range(
    client: Client, params: dict[str, object]
) -> None:
    response = client.get(URL, params, headers=key("read"))
    assert response.status_code == 422
    [name] = params
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", name]]


def test_it_adds_a_manual_suppression_named_after_the_key(client: Client) -> None:
    response = client.post(
        URL,
        {"address": "Bob@Example.ORG", "detail": "asked to stop"},
        content_type="application/json",
        headers=key("send", name="crm"),
    )
    assert response.status_code == 201
    assert response.json()["address"] == "bob@example.org"
    row = Suppression.objects.get()
    assert (row.address, row.reason, row.source, row.detail, row.expires_at) == (
        "bob@example.org",
        "manual",
        "api key crm",
        "asked to stop",
        None,
    )


def test_it_keeps_a_complaint_when_adding_the_same_address(client: Client) -> None:
    suppressions.add("ann@example.net", "complaint", source="ses event 1")
    response = client.post(
        URL, {"address": "ann@example.net"}, content_type="application/json", headers=key("send")
    )
    assert response.status_code == 200
    assert response.json()["reason"] == "complaint"


def test_it_refuses_an_invalid_address(client: Client) -> None:
    response = client.post(
        URL, {"address": "not an address"}, content_type="application/json", headers=key("send")
    )
    assert response.status_code == 400
    assert "invalid address 'not an address'" in response.json()["detail"]
    assert not Suppression.objects.exists()


def test_it_deletes_a_suppression(client: Client) -> None:
    suppressions.add("ann@example.net", "unsubscribe")
    assert client.delete(f"{URL}/ann@example.net", headers=key("send")).status_code == 204
    assert not Suppression.objects.exists()
    assert client.delete(f"{URL}/ann@example.net", headers=key("send")).status_code == 404


def test_it_needs_an_admin_key_to_lift_a_complaint(client: Client) -> None:
    suppressions.add("ann@example.net", "complaint")
    response = client.delete(f"{URL}/ann@example.net", headers=key("send"))
    assert response.status_code == 403
    assert "reported spam" in response.json()["detail"]
    assert client.delete(f"{URL}/ann@example.net", headers=key("admin")).status_code == 204


@pytest.mark.parametrize(("method", "scope"), [("get", "send"), ("post", "read"), ("delete", "read")])
def test_it_enforces_scopes(client: Client, method: str, scope: str) -> None:
    suppressions.add("ann@example.net", "manual")
    path = URL if method != "delete" else f"{URL}/ann@example.net"
    kwargs: dict[str, Any] = {"headers": key(scope)}
    if method == "post":
        kwargs.update(data={"address": "x@example.com"}, content_type="application/json")
    response = getattr(client, method)(path, **kwargs)
    assert (response.status_code, response.json()["scope"]) == (403, "send" if scope == "read" else "read")
    assert Suppression.objects.count() == 1


def test_it_refuses_without_a_key(client: Client) -> None:
    assert client.get(URL).status_code == 401
