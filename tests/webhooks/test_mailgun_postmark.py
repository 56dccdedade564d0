"""Mailgun (HMAC-SHA256 signature block) and Postmark (basic auth only) tracking webhooks,
payloads from each provider's webhook documentation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable

import pytest
from django.test import Client

from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER

MAILGUN_KEY = "mg-signing-key-9b7e2f41"
MAILGUN_PMID = "<20260101120000.1.ABCDEF@mg.example.com>"
POSTMARK_PMID = "883953f4-6105-42a2-a16a-77a8eac79483"


def basic(user: str = BASIC_USER, password: str = BASIC_PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def mailgun_body(
    event_data: dict[str, object],
    key: str = MAILGUN_KEY,
    token: str | None = None,
    timestamp: str | None = None,
) -> bytes:
    """A signed Mailgun request as Mailgun sends it: now, with a token of its own."""
    token = token or secrets.token_hex(25)
    timestamp = timestamp or str(int(time.time()))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event_data,
        }
    ).encode()


def mailgun_event(kind: str, **extra: object) -> dict[str, object]:
    return {
        "event": kind,
        "id": f"G9Bn5sl1TC6nu79C8C0bwg-{kind}",
        "timestamp": 1764000000.5,
        "recipient": "ann@example.net",
        "message": {
            "headers": {
                "message-id": MAILGUN_PMID.strip("<>"),
                "from": "Alerts <alerts@example.com>",
                "to": "ann@example.net",
                "subject": "Disk full",
            }
        },
        "log-level": "info",
        **extra,
    }


MAILGUN_FAILED = mailgun_event(
    "failed",
    severity="permanent",
    reason="bounce",
    **{"log-level": "error"},
    **{
        "delivery-status": {
            "code": 550,
            "message": "5.1.1 The email account does not exist",
            "description": "",
            "attempt-no": 1,
        }
    },
)


@pytest.fixture
def mailgun(configure: Callable[..., None]) -> None:
    configure(MAILGUN_WEBHOOK_SIGNING_KEY=MAILGUN_KEY)


def post_mailgun(client: Client, body: bytes) -> int:
    return client.post("/webhooks/mailgun/tracking/", body, content_type="application/json").status_code


def test_it_marks_a_mailgun_delivery(client: Client, mailgun: None, sent: Callable[..., Recipient]) -> None:
    recipient = sent("ann@example.net", pmid=MAILGUN_PMID)
    assert (
        post_mailgun(
            client,
            mailgun_body(
                mailgun_event(
                    "delivered", **{"delivery-status": {"code": 250, "message": "OK", "description": ""}}
                )
            ),
        )
        == 200
    )
    recipient.refresh_from_db()
    assert recipient.state == State.DELIVERED


def test_it_suppresses_a_mailgun_permanent_failure(
    client: Client, mailgun: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=MAILGUN_PMID)
    assert post_mailgun(client, mailgun_body(MAILGUN_FAILED)) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert Suppression.objects.get().reason == "hard_bounce"
    assert "5.1.1 The email account does not exist" in Event.objects.get().detail


def test_it_does_not_suppress_a_mailgun_temporary_failure(
    client: Client, mailgun: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=MAILGUN_PMID)
    temporary = mailgun_event(
        "failed",
        severity="temporary",
        reason="generic",
        **{"delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"}},
    )
    assert post_mailgun(client, mailgun_body(temporary)) == 200
    recipient.refresh_from_db()
    assert (recipient.state, Event.objects.get().kind) == (State.SENT, "deferred")
    assert not Suppression.objects.exists()


def test_it_refuses_a_bad_mailgun_signature(
    client: Client, mailgun: None, sent: Callable[..., Recipient]
) -> None:
    sent("ann@example.net", pmid=MAILGUN_PMID)
    assert post_mailgun(client, mailgun_body(MAILGUN_FAILED, key="not-the-key")) == 400
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


def test_it_refuses_mailgun_without_a_signing_key(
    client: Client, configure: Callable[..., None], sent: Callable[..., Recipient]
) -> None:
    configure(POSTWARDEN_WEBHOOK_SECRET=f"{BASIC_USER}:{BASIC_PASSWORD}")
    sent("ann@example.net", pmid=MAILGUN_PMID)
    assert post_mailgun(client, mailgun_body(MAILGUN_FAILED)) == 400
    assert not Event.objects.exists()


# --- Postmark ---------------------------------------------------------------------------

POSTMARK_DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": POSTMARK_PMID,
    "Recipient": "ann@example.net",
    "Tag": "alert",
    "DeliveredAt": "2026-11-05T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"tenant": "t1"},
}
POSTMARK_BOUNCE = {
    "RecordType": "Bounce",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "alert",
    "MessageID": POSTMARK_PMID,
    "ServerID": 23,
    "MessageStream": "outbound",
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 user unknown",
    "Email": "ann@example.net",
    "From": "alerts@example.com",
    "BouncedAt": "2026-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Disk full",
    "Metadata": {},
}
POSTMARK_SOFT = {
    **POSTMARK_BOUNCE,
    "ID": 4323372036854775808,
    "Type": "SoftBounce",
    "TypeCode": 4096,
    "Name": "Soft bounce",
    "Inactive": False,
}
POSTMARK_SPAM = {
    "RecordType": "SpamComplaint",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "Tag": "alert",
    "MessageID": POSTMARK_PMID,
    "ServerID": 23,
    "MessageStream": "outbound",
    "Description": "",
    "Details": "Test spam complaint details",
    "Email": "ann@example.net",
    "From": "alerts@example.com",
    "BouncedAt": "2026-11-05T16:33:54Z",
    "Subject": "Disk full",
    "Metadata": {},
}


@pytest.fixture
def postmark(configure: Callable[..., None]) -> None:
    configure(POSTWARDEN_WEBHOOK_SECRET=f"{BASIC_USER}:{BASIC_PASSWORD}")


def post_postmark(client: Client, payload: dict[str, object], headers: dict[str, str] | None = None) -> int:
    return client.post(
        "/webhooks/postmark/tracking/",
        json.dumps(payload),
        content_type="application/json",
        headers=basic() if headers is None else headers,
    ).status_code


def test_it_marks_a_postmark_delivery_and_suppresses_a_complaint(
    client: Client, postmark: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=POSTMARK_PMID)
    assert post_postmark(client, POSTMARK_DELIVERY) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.DELIVERED
    assert post_postmark(client, POSTMARK_SPAM) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.COMPLAINED
    assert (Suppression.objects.get().reason, Suppression.objects.get().expires_at) == ("complaint", None)


def test_it_dedupes_a_replayed_postmark_delivery_that_has_no_event_id(
    client: Client, postmark: None, sent: Callable[..., Recipient]
) -> None:
    sent("ann@example.net", pmid=POSTMARK_PMID)
    assert post_postmark(client, POSTMARK_DELIVERY) == 200
    assert post_postmark(client, POSTMARK_DELIVERY) == 200
    assert Event.objects.count() == 1


def test_it_tells_postmark_hard_from_soft_bounces(
    client: Client, postmark: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=POSTMARK_PMID)
    assert post_postmark(client, POSTMARK_SOFT) == 200
    assert not Suppression.objects.exists()
    assert post_postmark(client, POSTMARK_BOUNCE) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert Suppression.objects.get().reason == "hard_bounce"


@pytest.mark.parametrize("headers", [{}, basic(password="wrong")])
def test_it_refuses_postmark_without_the_basic_auth_secret(
    client: Client, postmark: None, headers: dict[str, str], sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=POSTMARK_PMID)
    assert post_postmark(client, POSTMARK_BOUNCE, headers) == 400
    recipient.refresh_from_db()
    assert recipient.state == State.SENT
    assert not Suppression.objects.exists()


def test_it_refuses_postmark_when_no_secret_is_configured(
    client: Client, configure: Callable[..., None]
) -> None:
    configure()
    assert post_postmark(client, POSTMARK_BOUNCE) == 400
    assert not Suppression.objects.exists()


def test_it_suppresses_a_mailgun_complaint(
    client: Client, mailgun: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=MAILGUN_PMID)
    assert post_mailgun(client, mailgun_body(mailgun_event("complained", **{"log-level": "warn"}))) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.COMPLAINED
    assert (Suppression.objects.get().reason, Suppression.objects.get().expires_at) == ("complaint", None)
