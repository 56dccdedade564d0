"""/api/v1/canaries with real API keys: register, list, run now, read the runs (the
contract of issue #14), with a real run behind them."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.canaries.models import Canary
from tests.canaries.conftest import Path

URL = "/api/v1/canaries"
pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "Imap-Pa55-Zq9XkVbN-api-do-not-leak"


def key(*scopes: str) -> dict[str, str]:
    _, plain = ApiKey.issue("ops", list(scopes))
    return {"Authorization": f"Bearer {plain}"}


def _body(path: Path, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "address": path.mailbox.user,
        "imap_host": path.mailbox.host,
        "imap_port": path.mailbox.port,
        "imap_security": "none",
        "imap_user": path.mailbox.user,
        "imap_password": path.mailbox.password,
    }
    body.update(changes)
    return body


def test_register_run_and_read_a_canary_over_the_api(canary_path: Path, client: Client) -> None:
    admin = key("admin")
    created = client.post(URL, _body(canary_path), content_type="application/json", headers=admin)
    assert created.status_code == 201
    answer = created.json()
    assert (answer["name"], answer["interval_minutes"], answer["imap_password"]) == (
        "example.test",
        60,
        "set",
    )
    assert (answer["status"], answer["last_run"]) == ("never_run", None)
    canary = Canary.objects.get(pk=answer["id"])
    canary.runs.all().delete()
    Canary.objects.filter(pk=canary.pk).update(next_run_at=canary.next_run_at.replace(year=2100))

    ran = client.post(f"{URL}/{canary.pk}/run", headers=key("send"))
    assert (ran.status_code, ran.json()) == (202, {"canary": canary.pk, "requested": True})
    canary_path.run_to_end(canary)

    [item] = client.get(URL, headers=key("read")).json()["items"]
    assert item["status"] == "ok"
    assert item["summary"].startswith("arrived in inbox in ")
    assert item["summary"].endswith(" s, SPF pass, DKIM pass, DMARC pass")
    runs = client.get(f"{URL}/{canary.pk}/runs", headers=key("read")).json()
    assert (runs["count"], runs["limit"], runs["offset"]) == (1, 50, 0)
    [run] = runs["items"]
    assert (run["state"], run["folder"], run["placement"], run["trigger"]) == (
        "arrived",
        "INBOX",
        "inbox",
        "manual",
    )
    assert (run["spf"], run["dkim"], run["dmarc"]) == ("pass", "pass", "pass")
    assert run["queued_at"] <= run["accepted_at"] <= run["arrived_at"]
    assert run["auth_results"].startswith("Authentication-Results: mx.receiver.test; spf=pass")
    assert run["message_id"].startswith("m_")
    assert item["last_run"] == run


def test_the_password_never_comes_back(canary_path: Path, client: Client) -> None:
    response = client.post(
        URL, _body(canary_path, imap_password=SECRET), content_type="application/json", headers=key("admin")
    )
    assert SECRET not in response.content.decode()
    assert SECRET not in client.get(URL, headers=key("read")).content.decode()
    assert SECRET not in Canary.objects.get().imap_password


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"address": "nobody"}, 400, "address"),
        ({"imap_host": "bad host name"}, 400, "imap_host"),
        ({"name": "-no"}, 400, "name"),
        ({"interval_minutes": 4}, 422, "interval_minutes"),
        ({"imap_security": "tls"}, 422, "imap_security"),
        ({"imap_port": 70000}, 422, "imap_port"),
        ({"unknown": 1}, 422, "unknown"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    canary_path: Path, client: Client, changes: dict[str, object], status: int, field: str
) -> None:
    response = client.post(
        URL, _body(canary_path, **changes), content_type="application/json", headers=key("admin")
    )
    assert response.status_code == status
    assert field in response.content.decode()
    assert not Canary.objects.exists()


def test_scopes_unknown_ids_and_a_run_under_way(canary_path: Path, client: Client) -> None:
    assert (
        client.post(URL, _body(canary_path), content_type="application/json", headers=key("send")).status_code
        == 403
    )
    assert client.get(URL, headers=key("send")).status_code == 403
    assert client.post(f"{URL}/999/run", headers=key("send")).status_code == 404
    assert client.get(f"{URL}/999/runs", headers=key("read")).status_code == 404
    canary = canary_path.canary()
    canary_path.pass_()  # a run starts and waits for its mail
    refused = client.post(f"{URL}/{canary.pk}/run", headers=key("send"))
    assert refused.status_code == 409
    assert "has a run under way" in refused.json()["detail"]


def test_a_name_that_exists_is_refused_naming_it(canary_path: Path, client: Client) -> None:
    admin = key("admin")
    first = client.post(URL, _body(canary_path, name="home"), content_type="application/json", headers=admin)
    again = client.post(URL, _body(canary_path, name="home"), content_type="application/json", headers=admin)
    assert first.status_code == 201
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "a canary named 'home' exists already", "field": "name"},
    )
    # without a name, the address's domain, numbered when taken
    third = client.post(URL, _body(canary_path), content_type="application/json", headers=admin)
    fourth = client.post(URL, _body(canary_path), content_type="application/json", headers=admin)
    assert (third.json()["name"], fourth.json()["name"]) == ("example.test", "example.test-2")
