"""Bounces shown as provider events are: on the message's timeline (API and console), in
the console's Bounces page and the API's list (the ones kept for the operator too), and on
/metrics."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.bounces.intake import Arrival, take
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from tests.bounces.helpers import bounce_settings, dsn, verp
from tests.console.conftest import logged_in
from tests.console.conftest import viewer as viewer

pytestmark = pytest.mark.django_db

DIAGNOSTIC = "smtp; 550 5.1.1 <alice@example.net>: Recipient address rejected: User unknown"


def bounced() -> tuple[str, Recipient]:
    out = enqueue(Outgoing(to=["alice@example.net"], subject="Hi", text="x"), settings=bounce_settings())
    row = Recipient.objects.get(message_id=out.pk)
    Recipient.objects.filter(pk=row.pk).update(state="sent")
    path = verp().address(row.message_id, row.pk)
    take(Arrival(dsn(path, row.address, diagnostic=DIAGNOSTIC), "smtp", return_paths=(path,)), verp())
    gone = verp().address(999_999, 888_888)
    take(Arrival(dsn(gone, "old@example.org"), "smtp", return_paths=(gone,)), verp())
    return out.public_id, row


def api(scopes: list[str]) -> Client:
    _, plain = ApiKey.issue("t", scopes)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def test_the_api_shows_the_bounce_on_the_timeline_and_lists_the_kept_ones() -> None:
    public_id, _ = bounced()
    client = api(["read"])
    message = client.get(f"/api/v1/messages/{public_id}").json()
    [entry] = [e for e in message["timeline"] if e["kind"] == "bounced"]
    assert entry["detail"].startswith(DIAGNOSTIC + " — ")
    assert entry["data"]["provider"] == "bounce"
    assert message["recipients"][0]["state"] == "bounced"
    page = client.get("/api/v1/bounces").json()
    assert page["count"] == 2
    assert [(i["outcome"], i["message"]) for i in page["items"]] == [
        ("unknown_message", None),
        ("applied", public_id),
    ]
    kept = client.get("/api/v1/bounces?outcome=unknown_message").json()["items"]
    assert [(i["address"], i["status"]) for i in kept] == [("old@example.org", "5.1.1")]
    assert "raw" not in kept[0]
    refused = client.get("/api/v1/bounces?outcome=nonsense")
    assert refused.status_code == 400
    assert "unknown_message" in refused.json()["detail"]


def test_the_console_shows_bounces_to_a_viewer_and_the_message_page_shows_the_words(
    viewer: object,
) -> None:
    public_id, _ = bounced()
    client = logged_in(viewer)  # type: ignore[arg-type]
    page = client.get("/bounces/").content.decode()
    assert '<span class="badge">unknown message</span>' in page  # the bounce's outcome
    assert "old@example.org" in page
    assert f'href="/deliveries/{public_id}/"' in page
    only = client.get("/bounces/?outcome=unknown_message").content.decode()
    assert f"/deliveries/{public_id}/" not in only
    message = client.get(f"/deliveries/{public_id}/").content.decode()
    assert "Recipient address rejected: User unknown" in message
    assert "bounced" in message


def test_metrics_count_what_came_back_and_what_was_dropped() -> None:
    bounced()
    good = verp().address(1, 1)
    local, _, domain = good.partition("@")
    forged = f"{local[:-2]}{'zz' if not local.endswith('zz') else 'yy'}@{domain}"
    take(Arrival(dsn(forged, "x@example.net"), "smtp", return_paths=(forged,)), verp())
    text = Client().get("/metrics").content.decode()
    assert 'postwarden_bounces_total{kind="hard_bounce",outcome="applied",source="smtp"} 1.0' in text
    assert 'postwarden_bounces_total{kind="hard_bounce",outcome="unknown_message",source="smtp"} 1.0' in text
    assert 'postwarden_bounces_dropped_total{reason="forged"} 1.0' in text
    assert 'postwarden_recipients{state="bounced"} 1.0' in text


def test_the_deliveries_filter_finds_bounced_mail(
    viewer: object,
) -> None:
    public_id, _ = bounced()
    enqueue(Outgoing(to=["carol@example.net"], subject="Other", text="x"), settings=bounce_settings())
    client = logged_in(viewer)  # type: ignore[arg-type]
    page = client.get("/deliveries/?state=bounced").content.decode()
    assert f"/deliveries/{public_id}/" in page
    assert "carol@example.net" not in page
