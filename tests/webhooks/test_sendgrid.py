"""SendGrid event webhook: ECDSA-signed (X-Twilio-Email-Event-Webhook-*) plus basic auth,
payloads from SendGrid's Event Webhook reference."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER

URL = "/webhooks/sendgrid/tracking/"
PMID = "4f1d8c1e-6b1a-4d0e-9a55-0c9d3a1b2c3d"
PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_B64 = base64.b64encode(
    PRIVATE.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def event(kind: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "email": "ann@example.net",
        "timestamp": 1764000000,
        "smtp-id": "<14c5d75ce93.dfd@ismtpd>",
        "event": kind,
        "category": ["alert"],
        "sg_event_id": f"sg-{kind}-ZGVsaXZlcmVk",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "anymail_id": PMID,
    }
    return {**base, **extra}


DELIVERED = event("delivered", response="250 OK")
BOUNCE = event(
    "bounce",
    type="bounce",
    status="5.1.1",
    reason="550 5.1.1 The email account that you tried to reach does not exist.",
)
BLOCKED = event("bounce", type="blocked", status="4.0.0", reason="421 4.7.0 Try again later")
SPAM = event("spamreport")


def post(
    client: Client,
    events: list[dict[str, object]],
    *,
    key: ec.EllipticCurvePrivateKey = PRIVATE,
    auth: tuple[str, str] | None = (BASIC_USER, BASIC_PASSWORD),
    tamper: bool = False,
) -> int:
    body = json.dumps(events).encode()
    timestamp = str(int(time.time()))
    signature = base64.b64encode(key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    if tamper:
        body = body.replace(b"ann@", b"eve@")
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return client.post(URL, body, content_type="application/json", headers=headers).status_code


@pytest.fixture
def hook(configure: Callable[..., None]) -> None:
    configure(
        POSTWARDEN_WEBHOOK_SECRET=f"old:rotated-1,{BASIC_USER}:{BASIC_PASSWORD}",
        SENDGRID_WEBHOOK_VERIFICATION_KEY=PUBLIC_B64,
    )


def test_it_marks_a_delivered_recipient(client: Client, hook: None, sent: Callable[..., Recipient]) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [DELIVERED]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.DELIVERED
    [row] = Event.objects.filter(recipient=recipient)
    assert (row.kind, row.provider, row.detail) == ("delivered", "sendgrid", "250 OK")
    assert row.raw == DELIVERED


def test_it_suppresses_a_hard_bounce_for_30_days(
    client: Client, hook: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [DELIVERED, BOUNCE]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED  # bounced after delivered is allowed
    suppression = Suppression.objects.get(address="ann@example.net")
    assert suppression.reason == "hard_bounce"
    assert suppression.source == "sendgrid event sg-bounce-ZGVsaXZlcmVk"
    assert suppression.event is not None
    assert suppression.event.kind == "bounced"
    assert suppression.expires_at is not None
    assert round((suppression.expires_at - suppression.created_at).total_seconds() / 86400) == 30


def test_it_never_moves_a_bounced_recipient_back_to_delivered(
    client: Client, hook: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [BOUNCE, DELIVERED]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert list(Event.objects.filter(recipient=recipient).values_list("kind", flat=True)) == [
        "bounced",
        "delivered",
    ]


def test_it_records_a_blocked_bounce_as_deferred_without_suppressing(
    client: Client, hook: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [BLOCKED]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.SENT
    assert Event.objects.get(recipient=recipient).kind == "deferred"
    assert not Suppression.objects.exists()


def test_it_suppresses_a_complaint_forever(
    client: Client, hook: None, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [SPAM]) == 200
    recipient.refresh_from_db()
    assert recipient.state == State.COMPLAINED
    suppression = Suppression.objects.get(address="ann@example.net")
    assert (suppression.reason, suppression.expires_at) == ("complaint", None)


def test_it_ignores_a_replayed_event(client: Client, hook: None, sent: Callable[..., Recipient]) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    assert post(client, [BOUNCE]) == 200
    assert post(client, [BOUNCE]) == 200
    assert Event.objects.filter(recipient=recipient).count() == 1


@pytest.mark.parametrize("case", ["wrong key", "tampered body", "no basic auth", "wrong basic auth"])
def test_it_refuses_bad_credentials_with_400_and_changes_nothing(
    client: Client, hook: None, case: str, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("ann@example.net", pmid=PMID)
    kwargs: dict[str, object] = {
        "wrong key": {"key": ec.generate_private_key(ec.SECP256R1())},
        "tampered body": {"tamper": True},
        "no basic auth": {"auth": None},
        "wrong basic auth": {"auth": (BASIC_USER, "guess")},
    }[case]
    assert post(client, [BOUNCE], **kwargs) == 400  # type: ignore[arg-type]
    recipient.refresh_from_db()
    assert recipient.state == State.SENT
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


def test_it_accepts_the_rotated_basic_auth_secret(
    client: Client, hook: None, sent: Callable[..., Recipient]
) -> None:
    sent("ann@example.net", pmid=PMID)
    assert post(client, [DELIVERED], auth=("old", "rotated-1")) == 200


def test_it_answers_head_with_200(client: Client, hook: None) -> None:
    assert client.head(URL).status_code == 200


def test_it_stores_nothing_but_suppresses_for_an_unknown_message(client: Client, hook: None) -> None:
    assert (
        post(client, [event("bounce", anymail_id="not-ours", type="bounce", reason="550 no such user")])
        == 200
    )
    assert not Event.objects.exists()
    assert Suppression.objects.get(address="ann@example.net").reason == "hard_bounce"


def test_it_refuses_when_nothing_authenticates_the_webhook(
    client: Client, configure: Callable[..., None], sent: Callable[..., Recipient]
) -> None:
    configure(EMAIL_ENABLED="true")
    sent("ann@example.net", pmid=PMID)
    assert post(client, [BOUNCE], auth=None) == 400
    assert not Event.objects.exists()
