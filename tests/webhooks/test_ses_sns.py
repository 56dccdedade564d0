"""Amazon SES events through SNS: signatures (v1 SHA1, v2 SHA256) checked against a
certificate from an SNS host only, served here through the injectable fetcher; subscription
confirmation; SES notification payloads from the SES developer guide."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.test import Client

from postwarden.outbox.models import Event, Recipient, State, Suppression
from postwarden.webhooks import sns
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER

CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem"
)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
SES_PMID = "0100018f3d7c5a1e-5b9e1a2c-0f6e-4c1b-9a3d-1e2f3a4b5c6d-000000"
_CA = trustme.CA(key_type=trustme.KeyType.RSA)
_LEAF = _CA.issue_cert("sns.amazonaws.com", key_type=trustme.KeyType.RSA)
KEY: rsa.RSAPrivateKey = serialization.load_pem_private_key(_LEAF.private_key_pem.bytes(), None)  # type: ignore[assignment]
CERT_PEM = _LEAF.cert_chain_pems[0].bytes()


class Fetcher:
    """Answers as SNS would: the certificate at CERT_URL, "confirmed" at a SubscribeURL."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        if url == CERT_URL:
            return CERT_PEM
        if "Action=ConfirmSubscription" in url:
            return b"<ConfirmSubscriptionResponse/>"
        raise OSError(f"nothing at {url}")


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    fake = Fetcher()
    previous = sns.set_fetcher(fake)
    yield fake
    sns.set_fetcher(previous)


def sign(message: dict[str, Any], version: str = "1", key: rsa.RSAPrivateKey = KEY) -> dict[str, Any]:
    # the canonical string as AWS documents it, written out here independently
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS v1 signs with SHA1
    signature = key.sign(text.encode(), padding.PKCS1v15(), digest)
    return {
        **message,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": message.get("SigningCertURL", CERT_URL),
    }


def notification(
    ses_event: dict[str, Any], message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC,
        "Message": json.dumps(ses_event),
        "Timestamp": "2026-11-22T10:00:00.000Z",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }


MAIL = {
    "timestamp": "2026-11-22T09:59:58.000Z",
    "source": "alerts@verified.example",
    "messageId": SES_PMID,
    "destination": ["ann@example.net", "bob@example.org"],
    "commonHeaders": {
        "from": ["alerts@verified.example"],
        "to": ["ann@example.net", "bob@example.org"],
        "messageId": "<m_ses.1700000000@postwarden.example.com>",
        "subject": "Disk full",
    },
}
BOUNCE = {
    "notificationType": "Bounce",
    "mail": MAIL,
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "timestamp": "2026-11-22T10:00:00.000Z",
        "feedbackId": "0100018f-bounce",
        "reportingMTA": "dsn; a1-2.smtp-out.amazonses.com",
        "bouncedRecipients": [
            {
                "emailAddress": "ann@example.net",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
    },
}
TRANSIENT = {
    **BOUNCE,
    "bounce": {**BOUNCE["bounce"], "bounceType": "Transient", "bounceSubType": "MailboxFull"},
}
DELIVERY = {
    "notificationType": "Delivery",
    "mail": MAIL,
    "delivery": {
        "timestamp": "2026-11-22T10:00:01.000Z",
        "processingTimeMillis": 546,
        "reportingMTA": "a8-70.smtp-out.amazonses.com",
        "recipients": ["ann@example.net", "bob@example.org"],
        "smtpResponse": "250 ok:  Message 64111812 accepted",
        "remoteMtaIp": "127.0.2.0",
    },
}


def post(
    client: Client, message: dict[str, Any], auth: tuple[str, str] | None = (BASIC_USER, BASIC_PASSWORD)
) -> int:
    headers = {
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": TOPIC,
    }
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    return client.post(
        "/webhooks/ses/tracking/",
        json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        headers=headers,
    ).status_code


@pytest.fixture
def ses(configure: Callable[..., None], fetcher: Fetcher) -> Fetcher:
    configure(POSTWARDEN_WEBHOOK_SECRET=f"{BASIC_USER}:{BASIC_PASSWORD}")
    return fetcher


@pytest.fixture
def two(sent: Callable[..., Recipient]) -> tuple[Recipient, Recipient]:
    ann = sent("ann@example.net", pmid=SES_PMID)
    return ann, sent("bob@example.org", pmid=SES_PMID, message=ann.message)


@pytest.mark.parametrize("version", ["1", "2"])
def test_it_accepts_a_signed_delivery_for_each_recipient(
    client: Client, ses: Fetcher, version: str, two: tuple[Recipient, Recipient]
) -> None:
    assert post(client, sign(notification(DELIVERY), version)) == 200
    for recipient in two:
        recipient.refresh_from_db()
        assert recipient.state == State.DELIVERED
    assert Event.objects.count() == 2  # one SNS message, two recipients, two timeline entries
    assert ses.fetched == [CERT_URL]


def test_it_suppresses_only_the_bounced_recipient(
    client: Client, ses: Fetcher, two: tuple[Recipient, Recipient]
) -> None:
    assert post(client, sign(notification(BOUNCE))) == 200
    assert post(client, sign(notification(BOUNCE))) == 200  # SNS redelivery: same MessageId
    ann, bob = two
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert (ann.state, bob.state) == (State.BOUNCED, State.SENT)
    assert Event.objects.count() == 1
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.reason) == ("ann@example.net", "hard_bounce")
    assert "550 5.1.1 user unknown" in suppression.detail
    assert ses.fetched == [CERT_URL]  # the certificate is cached


def test_it_does_not_suppress_a_transient_bounce(
    client: Client, ses: Fetcher, two: tuple[Recipient, Recipient]
) -> None:
    assert post(client, sign(notification(TRANSIENT))) == 200
    assert Event.objects.get().kind == "deferred"
    assert not Suppression.objects.exists()


def test_it_refuses_a_bad_signature(client: Client, ses: Fetcher, two: tuple[Recipient, Recipient]) -> None:
    forged = sign(notification(BOUNCE), key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert post(client, forged) == 400
    tampered = sign(notification(DELIVERY))
    tampered["Message"] = json.dumps(BOUNCE)
    assert post(client, tampered) == 400
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/cert.pem",
    ],
)
def test_it_refuses_a_certificate_from_a_non_sns_host_without_fetching(
    client: Client, ses: Fetcher, url: str, two: tuple[Recipient, Recipient]
) -> None:
    assert post(client, sign({**notification(BOUNCE), "SigningCertURL": url})) == 400
    assert ses.fetched == []
    assert not Suppression.objects.exists()


def test_it_challenges_sns_without_credentials_and_records_nothing(
    client: Client, ses: Fetcher, two: tuple[Recipient, Recipient]
) -> None:
    # SNS sends basic auth only after a 401 challenge (anymail's SES view)
    assert post(client, sign(notification(BOUNCE)), auth=None) == 401
    assert post(client, sign(notification(BOUNCE)), auth=(BASIC_USER, "wrong")) == 400
    assert not Event.objects.exists()


def subscription(subscribe_url: str) -> dict[str, Any]:
    return sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425c464de12884",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-11-22T10:00:00.000Z",
        }
    )


def test_it_confirms_a_subscription_through_the_fetcher(client: Client, ses: Fetcher) -> None:
    url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f"
    assert post(client, subscription(url)) == 200
    assert ses.fetched == [CERT_URL, url]


def test_it_refuses_to_confirm_a_subscription_url_off_amazonaws(client: Client, ses: Fetcher) -> None:
    assert post(client, subscription("https://attacker.example/?Action=ConfirmSubscription")) == 400
    assert ses.fetched == [CERT_URL]


def test_it_verifies_both_signature_versions_directly(fetcher: Fetcher) -> None:
    verifier = sns.SnsVerifier(fetcher)
    verifier.verify(sign(notification(DELIVERY), "1"))
    verifier.verify(sign(notification(DELIVERY), "2"))
    with pytest.raises(sns.SnsVerificationError, match="SignatureVersion"):
        verifier.verify({**sign(notification(DELIVERY)), "SignatureVersion": "3"})


def test_it_answers_500_when_the_confirmation_cannot_be_fetched(client: Client, ses: Fetcher) -> None:
    # SNS retries a SubscriptionConfirmation that was not answered 2xx
    url = "https://sns.us-east-1.amazonaws.com/?Action=Unreachable"
    assert post(client, subscription(url)) == 500
    assert ses.fetched == [CERT_URL, url]


def test_it_trusts_the_sns_signature_alone_but_confirms_nothing_without_basic_auth(
    client: Client, configure: Callable[..., None], fetcher: Fetcher, two: tuple[Recipient, Recipient]
) -> None:
    configure()
    assert post(client, sign(notification(BOUNCE)), auth=None) == 200
    assert Suppression.objects.get().address == "ann@example.net"
    url = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f"
    assert post(client, subscription(url), auth=None) == 400
    assert url not in fetcher.fetched


def test_it_answers_400_when_a_signed_event_can_never_be_processed(
    client: Client, ses: Fetcher, two: tuple[Recipient, Recipient], caplog: pytest.LogCaptureFixture
) -> None:
    # an SES *inbound* rule pointed at the tracking URL: anymail refuses to process it, and
    # a 500 would make SNS send it again and again (webhooks/outcomes.py)
    received = {"notificationType": "Received", "mail": MAIL, "receipt": {"action": {"type": "SNS"}}}
    assert post(client, sign(notification(received))) == 400
    assert not Event.objects.exists()
    assert "webhook payload refused: it can never be processed" in caplog.text
    assert BASIC_PASSWORD not in caplog.text


def test_it_suppresses_an_ses_complaint(
    client: Client, ses: Fetcher, two: tuple[Recipient, Recipient]
) -> None:
    complaint = {
        "notificationType": "Complaint",
        "mail": MAIL,
        "complaint": {
            "complainedRecipients": [{"emailAddress": "bob@example.org"}],
            "timestamp": "2026-11-22T10:05:00.000Z",
            "feedbackId": "0100018f-complaint",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
            "complaintFeedbackType": "abuse",
        },
    }
    assert post(client, sign(notification(complaint, message_id="9c6e8d3a-complaint"))) == 200
    _, bob = two
    bob.refresh_from_db()
    assert bob.state == State.COMPLAINED
    suppression = Suppression.objects.get()
    assert (suppression.address, suppression.reason, suppression.detail) == (
        "bob@example.org",
        "complaint",
        "abuse; reason: spam",
    )


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        (
            "http://sns.eu-west-1.amazonaws.com/cert.pem",
            "refusing a non-SNS URL: http://sns.eu-west-1.amazonaws.com/cert.pem",
        ),
        (
            "https://ops@sns.eu-west-1.amazonaws.com/cert.pem",
            "refusing a non-SNS URL: https://sns.eu-west-1.amazonaws.com/cert.pem",
        ),
        (
            "https://:pw@sns.eu-west-1.amazonaws.com/cert.pem",
            "refusing a non-SNS URL: https://sns.eu-west-1.amazonaws.com/cert.pem",
        ),
        (
            "https://sns.eu-west-1.amazonaws.com:444/cert.pem",
            "refusing a non-SNS URL: https://sns.eu-west-1.amazonaws.com/cert.pem",
        ),
        (
            "https://sns.eu-west-1.amazonaws.com.evil.test/cert.pem",
            "refusing a non-SNS host: sns.eu-west-1.amazonaws.com.evil.test",
        ),
        (
            "https://sns.eu-west-1.amazonaws.com/cert.txt",
            "refusing a signing certificate URL that is not a .pem: /cert.txt",
        ),
    ],
)
def test_it_names_why_it_refuses_a_signing_certificate_url(url: str, refusal: str) -> None:
    with pytest.raises(sns.SnsVerificationError) as refused:
        sns.sns_url(url, pem=True)
    assert str(refused.value) == refusal


def test_it_takes_an_sns_url_on_the_https_port_written_out() -> None:
    url = "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-0123.pem"
    assert sns.sns_url(url, pem=True) == url


def test_it_refuses_a_signing_certificate_that_is_not_a_pem_before_fetching(fetcher: Fetcher) -> None:
    url = CERT_URL.removesuffix(".pem") + ".txt"
    with pytest.raises(sns.SnsVerificationError) as refused:
        sns.SnsVerifier(fetcher).verify(sign({**notification(DELIVERY), "SigningCertURL": url}))
    assert str(refused.value).startswith("refusing a signing certificate URL that is not a .pem: ")
    assert fetcher.fetched == []
