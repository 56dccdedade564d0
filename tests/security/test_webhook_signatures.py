"""Every provider's tracking webhook, fully configured (basic-auth secret and the provider's
own signing key), refuses a request that is not signed, signed with another key, or has
no credentials at all: 400 (SNS: 401, its challenge for basic auth), and nothing changes,
no event, no suppression, the recipient as it was. Each provider's genuine request is
accepted first, so a refusal is the signature's doing and not a malformed payload.

Requests are built from the payloads of tests/webhooks (taken from each provider's
documentation), through the project's real URL map. A provider added to
``webhooks.views.HOOKS`` without requests here fails :func:`test_every_provider_is_covered`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.test import Client
from svix.webhooks import Webhook

from postwarden.outbox.models import Event, Recipient, State, Suppression
from postwarden.webhooks.views import HOOKS
from tests.webhooks.conftest import BASIC_PASSWORD, BASIC_USER, configure, sent  # noqa: F401 - fixtures
from tests.webhooks.test_mailgun_postmark import (
    MAILGUN_FAILED,
    MAILGUN_KEY,
    MAILGUN_PMID,
    POSTMARK_BOUNCE,
    POSTMARK_PMID,
    mailgun_body,
)
from tests.webhooks.test_resend_mandrill import (
    MANDRILL_HARD,
    MANDRILL_KEY,
    MANDRILL_PMID,
    RESEND_BOUNCE,
    RESEND_PMID,
    RESEND_SECRET,
)
from tests.webhooks.test_sendgrid import PMID as SENDGRID_PMID
from tests.webhooks.test_sendgrid import PRIVATE, PUBLIC_B64
from tests.webhooks.test_sendgrid import event as sendgrid_event
from tests.webhooks.test_ses_sns import BOUNCE as SES_BOUNCE
from tests.webhooks.test_ses_sns import SES_PMID, TOPIC, fetcher, notification, sign  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db
BASIC = (BASIC_USER, BASIC_PASSWORD)
OTHER_SECRET = "another-key-nobody-configured-7c1e"


@dataclass(frozen=True)
class Request:
    body: bytes | dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def basic(auth: tuple[str, str] | None) -> dict[str, str]:
    if auth is None:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(":".join(auth).encode()).decode()}


# -- each provider: its genuine request, and the same without or with a wrong signature ----


def sendgrid(variant: str) -> Request:
    body = json.dumps([sendgrid_event("bounce", type="bounce", reason="550 5.1.1 no such user")]).encode()
    key = PRIVATE if variant != "forged" else ec.generate_private_key(ec.SECP256R1())
    now = str(int(time.time()))
    signed = key.sign(now.encode() + body, ec.ECDSA(hashes.SHA256()))
    signature = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signed).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": now,
    }
    if variant == "anonymous":
        return Request(body)
    return Request(body, {**basic(BASIC), **({} if variant == "unsigned" else signature)})


def mailgun(variant: str) -> Request:
    signed = json.loads(
        mailgun_body(MAILGUN_FAILED, key=OTHER_SECRET if variant == "forged" else MAILGUN_KEY)
    )
    if variant in ("unsigned", "anonymous"):
        del signed["signature"]
    return Request(json.dumps(signed).encode(), basic(None if variant == "anonymous" else BASIC))


def postmark(variant: str) -> Request:
    # Postmark signs nothing: its basic-auth secret is the signature
    auth = {"genuine": BASIC, "forged": (BASIC_USER, OTHER_SECRET)}.get(variant)
    return Request(json.dumps(POSTMARK_BOUNCE).encode(), basic(auth))


def resend(variant: str) -> Request:
    body = json.dumps(RESEND_BOUNCE)
    secret = (
        RESEND_SECRET if variant != "forged" else "whsec_" + base64.b64encode(OTHER_SECRET.encode()).decode()
    )
    now = datetime.now(UTC)
    svix = {
        "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "svix-timestamp": str(int(now.timestamp())),
        "svix-signature": Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", now, body),
    }
    if variant == "anonymous":
        return Request(body.encode())
    return Request(body.encode(), {**basic(BASIC), **({} if variant == "unsigned" else svix)})


def mandrill(variant: str) -> Request:
    form = {"mandrill_events": json.dumps([MANDRILL_HARD])}
    url = f"http://{BASIC_USER}:{BASIC_PASSWORD}@testserver/webhooks/mandrill/tracking/"
    key = MANDRILL_KEY if variant != "forged" else OTHER_SECRET
    signed = url + "".join(k + v for k, v in sorted(form.items()))
    signature = base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    if variant == "anonymous":
        return Request(form, content_type="")
    headers = {**basic(BASIC), **({} if variant == "unsigned" else {"X-Mandrill-Signature": signature})}
    return Request(form, headers, content_type="")


def ses(variant: str) -> Request:
    message = notification(SES_BOUNCE)
    if variant == "forged":
        signed = sign(message, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif variant == "unsigned":
        signed = {**message, "SignatureVersion": "1", "SigningCertURL": sign(message)["SigningCertURL"]}
    else:
        signed = sign(message)
    headers = {
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": TOPIC,
        **basic(None if variant == "anonymous" else BASIC),
    }
    return Request(json.dumps(signed).encode(), headers, content_type="text/plain; charset=UTF-8")


@dataclass(frozen=True)
class Provider:
    build: Callable[[str], Request]
    settings: dict[str, str]
    #: the provider message id its genuine request names
    pmid: str
    #: what a request without any credentials gets
    anonymous: int = 400


PROVIDERS: dict[str, Provider] = {
    "sendgrid": Provider(sendgrid, {"SENDGRID_WEBHOOK_VERIFICATION_KEY": PUBLIC_B64}, SENDGRID_PMID),
    "mailgun": Provider(mailgun, {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}, MAILGUN_PMID),
    "postmark": Provider(postmark, {}, POSTMARK_PMID),
    "resend": Provider(resend, {"RESEND_WEBHOOK_SECRET": RESEND_SECRET}, RESEND_PMID),
    "mandrill": Provider(mandrill, {"MANDRILL_WEBHOOK_KEY": MANDRILL_KEY}, MANDRILL_PMID),
    # SNS sends basic auth only after a 401 challenge (anymail's SES view)
    "ses": Provider(ses, {}, SES_PMID, anonymous=401),
}


def test_every_provider_is_covered() -> None:
    assert set(PROVIDERS) == set(HOOKS)


def post(client: Client, provider: str, request: Request) -> Any:
    url = f"/webhooks/{provider}/tracking/"
    if isinstance(request.body, dict):  # a form (Mandrill)
        return client.post(url, request.body, headers=request.headers)
    return client.post(url, request.body, content_type=request.content_type, headers=request.headers)


def snapshot(recipient: Recipient) -> tuple[Any, ...]:
    recipient.refresh_from_db()
    return (recipient.state, recipient.updated_at, Event.objects.count(), Suppression.objects.count())


@pytest.mark.parametrize("variant", ["anonymous", "unsigned", "forged"])
@pytest.mark.parametrize("name", sorted(HOOKS))
def test_it_refuses_an_unsigned_or_forged_event_and_changes_nothing(
    client: Client,
    configure: Callable[..., None],  # noqa: F811 - the fixture imported above
    sent: Callable[..., Recipient],  # noqa: F811
    fetcher: Any,  # noqa: F811
    name: str,
    variant: str,
) -> None:
    provider = PROVIDERS[name]
    configure(POSTWARDEN_WEBHOOK_SECRET=f"{BASIC_USER}:{BASIC_PASSWORD}", **provider.settings)
    ann = sent("ann@example.net", pmid=provider.pmid)
    before = snapshot(ann)
    response = post(client, name, provider.build(variant))
    assert response.status_code == (provider.anonymous if variant == "anonymous" else 400), response.content
    assert snapshot(ann) == before
    # the genuine request, on the same configuration, is taken: the refusal was the signature's
    assert post(client, name, provider.build("genuine")).status_code == 200
    ann.refresh_from_db()
    assert ann.state == State.BOUNCED
    assert Suppression.objects.filter(address="ann@example.net").exists()


def test_it_answers_404_for_a_provider_it_does_not_know(client: Client) -> None:
    assert (
        client.post("/webhooks/unknown/tracking/", b"{}", content_type="application/json").status_code == 404
    )
