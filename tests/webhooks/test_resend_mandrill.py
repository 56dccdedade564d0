"""Resend (Svix-signed) and Mandrill (HMAC-SHA1 over URL + sorted form fields) tracking
webhooks, payloads from each provider's webhook documentation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from django.test import Client
from svix.webhooks import Webhook

from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER

RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-signing-secret-31c7e0aa").decode()
RESEND_PMID = "56761188-7520-42d8-8898-ff6fc54ce618"
MANDRILL_KEY = "mandrill-webhook-key-6a0f5d"
MANDRILL_PMID = "exampleaaaaaaaaaaaaaaaaaaaaaaaaa"


def resend_event(kind: str, **data: object) -> dict[str, object]:
    return {
        "type": kind,
        "created_at": "2026-11-22T23:41:12.126Z",
        "data": {
            "created_at": "2026-11-22T23:41:11.894719+00:00",
            "email_id": RESEND_PMID,
            "from": "Alerts <alerts@example.com>",
            "to": ["ann@example.net"],
            "subject": "Disk full",
            **data,
        },
    }


RESEND_BOUNCE = resend_event(
    "email.bounced",
    bounce={
        "message": "The recipient's email provider sent a hard bounce message, "
        "and there's nothing Resend can do.",
        "subType": "General",
        "type": "Permanent",
    },
)


def post_resend(
    client: Client,
    payload: dict[str, object],
    *,
    secret: str = RESEND_SECRET,
    svix_id: str = "msg_p5jXN8AQM9LWM0D4loKWxJek",
) -> int:
    body = json.dumps(payload)
    signature = Webhook(secret).sign(svix_id, datetime.now(UTC), body)
    headers = {
        "svix-id": svix_id,
        "svix-timestamp": str(int(datetime.now(UTC).timestamp())),
        "svix-signature": signature,
    }
    return client.post(
        "/webhooks/resend/tracking/", body, content_type="application/json", headers=headers
    ).status_code


@pytest.fixture
def resend(configure: Callable[..., None]) -> None:
    configure(RESEND_WEBHOOK_SECRET=RESEND_SECRET)


def test_it_marks_a_resend_delivery(client: Client, resend: None, sent: Callable[..., Recipient]) -> None:
    recipient = sent("ann@example.net", pmid=RESEND_PMID)
    assert post_resend(client, resend_event("email.delivered")) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.DELIVERED


def test_it_suppresses_a_resend_permanent_bounce_once(
    client: Client, resend: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=RESEND_PMID)
    assert post_resend(client, RESEND_BOUNCE) == 200
    assert post_resend(client, RESEND_BOUNCE) == 200  # Svix redelivers with the same svix-id
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert Event.objects.count() == 1
    assert Suppression.objects.get().source == "resend event msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_it_refuses_a_bad_resend_signature(
    client: Client, resend: None, sent: Callable[..., Recipient]
) -> None:
    sent("ann@example.net", pmid=RESEND_PMID)
    other = "whsec_" + base64.b64encode(b"someone-else").decode()
    assert post_resend(client, RESEND_BOUNCE, secret=other) == 400
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


# --- Mandrill ---------------------------------------------------------------------------


def mandrill_event(kind: str, **msg: object) -> dict[str, object]:
    return {
        "event": kind,
        "_id": MANDRILL_PMID,
        "ts": 1764000000,
        "msg": {
            "ts": 1763999000,
            "subject": "Disk full",
            "email": "ann@example.net",
            "sender": "alerts@example.com",
            "tags": ["alert"],
            "metadata": {"tenant": "t1"},
            "_id": MANDRILL_PMID,
            "_version": "exampleaaaaaaaaaaaaaaa",
            **msg,
        },
    }


MANDRILL_HARD = mandrill_event(
    "hard_bounce",
    state="bounced",
    bounce_description="bad_mailbox",
    bgtools_code=10,
    diag="smtp;550 5.1.1 The email account that you tried to reach does not exist.",
)
MANDRILL_SOFT = mandrill_event(
    "soft_bounce", state="soft-bounced", bounce_description="mailbox_full", diag="smtp;452 4.2.2 Mailbox full"
)


def post_mandrill(
    client: Client,
    events: list[dict[str, object]],
    *,
    key: str = MANDRILL_KEY,
    auth: tuple[str, str] = (BASIC_USER, BASIC_PASSWORD),
) -> int:
    form = {"mandrill_events": json.dumps(events)}
    # Mandrill signs the URL it calls, basic-auth credentials included, then each field
    url = f"http://{auth[0]}:{auth[1]}@testserver/webhooks/mandrill/tracking/"
    signed = url + "".join(k + v for k, v in sorted(form.items()))
    signature = base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    headers = {
        "X-Mandrill-Signature": signature,
        "Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode(),
    }
    return client.post("/webhooks/mandrill/tracking/", form, headers=headers).status_code


@pytest.fixture
def mandrill(configure: Callable[..., None]) -> None:
    configure(MANDRILL_WEBHOOK_KEY=MANDRILL_KEY, POSTWARDEN_WEBHOOK_SECRET=f"{BASIC_USER}:{BASIC_PASSWORD}")


def test_it_suppresses_a_mandrill_hard_bounce_but_not_a_soft_one(
    client: Client, mandrill: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=MANDRILL_PMID)
    assert post_mandrill(client, [MANDRILL_SOFT]) == 200
    assert not Suppression.objects.exists()
    assert post_mandrill(client, [MANDRILL_HARD]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert [e.kind for e in Event.objects.order_by("id")] == ["deferred", "bounced"]
    assert Suppression.objects.get().reason == "hard_bounce"


def test_it_refuses_a_bad_mandrill_signature_without_logging_secrets(
    client: Client, mandrill: None, sent: Callable[..., Recipient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sent("ann@example.net", pmid=MANDRILL_PMID)
    assert post_mandrill(client, [MANDRILL_HARD], key="wrong-key-123456") == 400
    assert not Suppression.objects.exists()
    # anymail's message names the signed URL, which carries the basic-auth password
    assert "webhook refused" in caplog.text
    response = client.post(
        "/webhooks/mandrill/tracking/",
        {"mandrill_events": "[]"},
        headers={"X-Mandrill-Signature": "bad", "Authorization": "Basic Zm9vOmJhcg=="},
    )
    assert (response.status_code, response.content) == (400, b"refused")
    assert BASIC_PASSWORD not in caplog.text
    assert MANDRILL_KEY not in caplog.text


def test_it_suppresses_a_resend_complaint(
    client: Client, resend: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=RESEND_PMID)
    assert post_resend(client, resend_event("email.complained"), svix_id="msg_complained_1") == 200
    recipient.refresh_from_db()
    assert recipient.state == State.COMPLAINED
    assert Suppression.objects.get().reason == "complaint"


def test_it_suppresses_a_mandrill_spam_report_and_an_unsubscribe(
    client: Client, mandrill: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=MANDRILL_PMID)
    assert (
        post_mandrill(client, [mandrill_event("send", state="sent"), mandrill_event("spam", state="sent")])
        == 200
    )
    recipient.refresh_from_db()
    assert recipient.state == State.COMPLAINED
    assert [e.kind for e in Event.objects.order_by("id")] == ["sent", "complained"]
    sent("bob@example.org", pmid="bobaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    unsub = mandrill_event(
        "unsub", state="sent", email="bob@example.org", _id="bobaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    )
    unsub["_id"] = "bobaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert post_mandrill(client, [unsub]) == 200
    bob = Suppression.objects.get(address="bob@example.org")
    assert (bob.reason, bob.expires_at) == ("unsubscribe", None)
