"""django-anymail's captured payloads for all six providers, signed as each provider signs
them, through the real URL map: every one is answered exactly as its kind asks (200, or
400 for the two that anymail's own tests post to the wrong URL), and each provider's
documented permanent reasons suppress the address with the right reason (webhooks/verdicts.py),
the captured payload modified where needed to carry the reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from postwarden.outbox.models import Event, Recipient, State, Suppression
from tests.webhooks import real
from tests.webhooks.test_ses_sns import Fetcher, fetcher  # noqa: F401 - fixture

#: captured payloads that anymail's tests post to the wrong webhook: an inbound
#: notification sent to the tracking URL can never be recorded
WRONG_URL = {
    ("ses", "AmazonSESNotificationsTests.test_incorrect_received_event"),
    ("mailgun", "MailgunLegacyTestCase.test_misconfigured_inbound"),
}


def _names() -> list[tuple[str, str]]:
    found = [
        (provider, name)
        for provider, folder in real.FOLDERS.items()
        if (real.ROOT / folder).is_dir()
        for name in real.every(provider)
    ]
    return found or [("sendgrid", "missing")]  # the test then skips (or fails under CI) saying why


def payload_of(provider: str, name: str) -> Any:
    if provider == "ses" and "NotificationsTests" in name:
        return real.captured(provider, name, "raw_sns_message")
    return real.captured(provider, name)


@pytest.fixture
def hooks(configure: Callable[..., None], fetcher: Fetcher) -> Fetcher:  # noqa: F811 - fixture
    configure(**real.SETTINGS)
    return fetcher


@pytest.mark.parametrize(("provider", "name"), _names())
def test_it_answers_every_captured_payload_exactly(
    client: Client, hooks: Fetcher, provider: str, name: str
) -> None:
    payload = payload_of(provider, name)
    response = real.post(client, provider, real.SENDERS[provider](payload))
    if (provider, name) in WRONG_URL:
        assert (response.status_code, response.content) == (400, b"malformed")
        assert not Event.objects.exists()
        assert not Suppression.objects.exists()
    else:
        assert (response.status_code, response.content) == (200, b"")


def about(provider: str, payload: Any) -> tuple[str, str | None]:
    """(recipient address, provider message id) a captured payload names."""
    if provider == "sendgrid":
        return payload[0]["email"], payload[0].get("anymail_id") or payload[0]["smtp-id"]
    if provider == "postmark":
        return payload.get("Email") or payload["Recipient"], payload["MessageID"]
    if provider == "mailgun" and "event-data" in payload:
        data = payload["event-data"]
        return data["recipient"], data["message"]["headers"]["message-id"]
    if provider == "mailgun":
        return payload["recipient"], payload.get("Message-Id")  # a drop may name no message
    if provider == "mandrill":
        return payload[0]["msg"]["email"], payload[0]["_id"]
    if provider == "resend":
        return payload["data"]["to"][0], payload["data"]["email_id"]
    event = json.loads(payload["Message"])
    recipient = event.get("bounce") or event.get("complaint")
    key = "bouncedRecipients" if "bounce" in event else "complainedRecipients"
    return recipient[key][0]["emailAddress"], event["mail"]["messageId"]


HB, CO, UN, MA = "hard_bounce", "complaint", "unsubscribe", "manual"
#: (provider, captured payload, changes to it, kind recorded, recipient state, suppression)
CASES: list[tuple[str, str, dict[str, Any], str, State, str | None]] = [
    # Postmark: a SubscriptionChange names why the address is now suppressed
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_subscription_change_bounce",
        {},
        "bounced",
        State.BOUNCED,
        HB,
    ),
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_subscription_change_bounce",
        {"SuppressionReason": "SpamComplaint"},
        "complained",
        State.COMPLAINED,
        CO,
    ),
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_subscription_change_bounce",
        {"SuppressionReason": "ManualSuppression"},
        "unsubscribed",
        State.SENT,
        UN,
    ),
    ("postmark", "PostmarkDeliveryTestCase.test_bounce_event", {}, "bounced", State.BOUNCED, HB),
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_bounce_event",
        {"Type": "BadEmailAddress", "TypeCode": 100000},
        "rejected",
        State.FAILED,
        HB,
    ),
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_bounce_event",
        {"Type": "ManuallyDeactivated", "TypeCode": 100001},
        "rejected",
        State.FAILED,
        MA,
    ),
    (
        "postmark",
        "PostmarkDeliveryTestCase.test_bounce_event",
        {"Type": "SoftBounce", "TypeCode": 4096},
        "deferred",
        State.SENT,
        None,
    ),
    ("postmark", "PostmarkDeliveryTestCase.test_spam_event", {}, "complained", State.COMPLAINED, CO),
    # SendGrid: "dropped" because of what SendGrid already knows about the address
    ("sendgrid", "SendGridDeliveryTestCase.test_dropped_bounced", {}, "rejected", State.FAILED, HB),
    (
        "sendgrid",
        "SendGridDeliveryTestCase.test_dropped_unsubscribed_event",
        {},
        "rejected",
        State.FAILED,
        UN,
    ),
    (
        "sendgrid",
        "SendGridDeliveryTestCase.test_dropped_bounced",
        {"reason": "Spam Reporting Address"},
        "rejected",
        State.FAILED,
        CO,
    ),
    ("sendgrid", "SendGridDeliveryTestCase.test_dropped_invalid_event", {}, "rejected", State.FAILED, HB),
    (
        "sendgrid",
        "SendGridDeliveryTestCase.test_dropped_bounced",
        {"reason": "Recipient List over Package Quota"},
        "rejected",
        State.FAILED,
        None,
    ),
    ("sendgrid", "SendGridDeliveryTestCase.test_bounce_event", {}, "bounced", State.BOUNCED, HB),
    # Mailgun's legacy drops: 605 previously bounced, 607 previously complained
    ("mailgun", "MailgunLegacyTestCase.test_dropped_bounce", {}, "rejected", State.FAILED, HB),
    ("mailgun", "MailgunLegacyTestCase.test_dropped_spam", {}, "rejected", State.FAILED, CO),
    ("mailgun", "MailgunTestCase.test_failed_permanent_event", {}, "bounced", State.BOUNCED, HB),
    ("mailgun", "MailgunTestCase.test_failed_temporary_event", {}, "deferred", State.SENT, None),
    ("mandrill", "MandrillTrackingTestCase.test_hard_bounce_event", {}, "bounced", State.BOUNCED, HB),
    ("resend", "ResendTestCase.test_hard_bounced_event", {}, "bounced", State.BOUNCED, HB),
    ("resend", "ResendTestCase.test_suppressed_event", {}, "bounced", State.BOUNCED, HB),
    ("resend", "ResendTestCase.test_complained_event", {}, "complained", State.COMPLAINED, CO),
    ("ses", "AmazonSESNotificationsTests.test_bounce_event", {}, "bounced", State.BOUNCED, HB),
    ("ses", "AmazonSESNotificationsTests.test_complaint_event", {}, "complained", State.COMPLAINED, CO),
]


def _changed(provider: str, payload: Any, changes: dict[str, Any]) -> Any:
    (payload[0] if isinstance(payload, list) else payload).update(changes)
    return payload


@pytest.mark.parametrize(
    ("provider", "name", "changes", "kind", "state", "reason"),
    CASES,
    ids=[
        f"{c[0]}-{c[1].rpartition('.')[2]}-{'-'.join(map(str, c[2].values())) or 'as-captured'}"
        for c in CASES
    ],
)
def test_it_reads_each_providers_permanent_reasons(
    client: Client,
    hooks: Fetcher,
    sent: Callable[..., Recipient],
    provider: str,
    name: str,
    changes: dict[str, Any],
    kind: str,
    state: State,
    reason: str | None,
) -> None:
    payload = _changed(provider, payload_of(provider, name), changes)
    address, pmid = about(provider, payload)
    recipient = sent(address.lower(), pmid=pmid.strip("<>")) if pmid else None
    response = real.post(client, provider, real.SENDERS[provider](payload))
    assert response.status_code == 200
    event = None
    if recipient is not None:
        recipient.refresh_from_db()
        event = Event.objects.get(recipient=recipient)
        assert (event.kind, recipient.state) == (kind, state)
    else:  # about no message Postwarden knows: nothing to store it on, but the address is a fact
        assert not Event.objects.exists()
    suppression = Suppression.objects.filter(address=address.lower()).first()
    assert (suppression.reason if suppression else None) == reason
    if suppression is not None:
        assert suppression.event == event
        assert suppression.source.startswith(f"{provider} event ")
