"""Replayed webhook requests are refused (webhooks/replay.py): Mailgun signs only a timestamp
and a token, so an old timestamp, one far in the future and a token seen before are refused
with 400 and change nothing; SendGrid's signed timestamp gets the same tolerance; a token is
not spent by a request answered 500, so Mailgun's retry is accepted. And the SES webhook
takes only the SNS topics it is pinned to (SES_WEBHOOK_TOPIC_ARN)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from postwarden.outbox.models import Event, Recipient, State, Suppression
from postwarden.webhooks.models import SeenToken
from tests.webhooks import real
from tests.webhooks.test_real_payloads import payload_of
from tests.webhooks.test_ses_sns import TOPIC, Fetcher, fetcher  # noqa: F401 - fixture

PERMANENT = "MailgunTestCase.test_failed_permanent_event"
PMID = "20130503192659.13651.20287@example.com"


@pytest.fixture
def hooks(configure: Callable[..., None], fetcher: Fetcher) -> Fetcher:  # noqa: F811 - fixture
    configure(**real.SETTINGS, POSTWARDEN_WEBHOOK_TOLERANCE="300")
    return fetcher


def failed() -> dict[str, object]:
    payload = payload_of("mailgun", PERMANENT)
    assert isinstance(payload, dict)
    payload.pop("signature", None)
    return payload


def _pmid() -> str:
    headers = failed()["event-data"]["message"]["headers"]  # type: ignore[index]
    return str(headers["message-id"])


@pytest.mark.parametrize("offset", [-301, -3600, -86400 * 365, 301, 3600])
def test_it_refuses_a_mailgun_timestamp_outside_the_tolerance(
    client: Client,
    hooks: Fetcher,
    sent: Callable[..., Recipient],
    offset: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recipient = sent("alice@example.com", pmid=_pmid())
    signed = real.mailgun(failed(), at=int(time.time()) + offset)
    response = real.post(client, "mailgun", signed)
    assert (response.status_code, response.content) == (400, b"refused")
    assert any("refused as a possible replay" in getattr(r, "why", "") for r in caplog.records)
    recipient.refresh_from_db()
    assert recipient.state == State.SENT
    assert not Suppression.objects.exists()
    assert not SeenToken.objects.exists()


def test_it_accepts_a_mailgun_timestamp_within_the_tolerance(
    client: Client, hooks: Fetcher, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("alice@example.com", pmid=_pmid())
    assert real.post(client, "mailgun", real.mailgun(failed(), at=int(time.time()) - 240)).status_code == 200
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED


def test_it_refuses_a_mailgun_token_seen_before_even_with_another_event(
    client: Client, hooks: Fetcher, sent: Callable[..., Recipient], caplog: pytest.LogCaptureFixture
) -> None:
    sent("alice@example.com", pmid=_pmid())
    stamp = int(time.time())
    assert real.post(client, "mailgun", real.mailgun(failed(), at=stamp, token="t" * 50)).status_code == 200
    # the signature block does not cover the event: a captured one carrying a complaint
    forged = failed()
    forged["event-data"]["event"] = "complained"  # type: ignore[index]
    forged["event-data"]["recipient"] = "victim@example.org"  # type: ignore[index]
    response = real.post(client, "mailgun", real.mailgun(forged, at=stamp, token="t" * 50))
    assert (response.status_code, response.content) == (400, b"refused")
    assert any("token seen before" in getattr(r, "why", "") for r in caplog.records)
    assert not Suppression.objects.filter(address="victim@example.org").exists()
    assert Event.objects.count() == 1


def test_a_token_is_not_spent_by_a_request_answered_500(
    client: Client, hooks: Fetcher, sent: Callable[..., Recipient]
) -> None:
    recipient = sent("alice@example.com", pmid=_pmid())
    signed = real.mailgun(failed())
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {Event._meta.db_table} RENAME TO gone")
    assert real.post(client, "mailgun", signed).status_code == 500
    assert not SeenToken.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE gone RENAME TO " + Event._meta.db_table)
    assert real.post(client, "mailgun", signed).status_code == 200  # Mailgun's retry, same token
    recipient.refresh_from_db()
    assert recipient.state == State.BOUNCED
    assert SeenToken.objects.get().provider == "mailgun"


def test_it_refuses_a_legacy_mailgun_post_replayed(client: Client, hooks: Fetcher) -> None:
    fields = payload_of("mailgun", "MailgunLegacyTestCase.test_dropped_bounce")
    signed = real.mailgun_legacy(fields)
    assert real.post(client, "mailgun", signed).status_code == 200
    assert real.post(client, "mailgun", signed).status_code == 400


def test_it_forgets_tokens_once_their_timestamp_is_too_old_anyway(client: Client, hooks: Fetcher) -> None:
    old = int(time.time()) - 299
    assert real.post(client, "mailgun", real.mailgun(failed(), at=old)).status_code == 200
    SeenToken.objects.update(expires_at=SeenToken.objects.get().expires_at.replace(year=2000))
    assert real.post(client, "mailgun", real.mailgun(failed())).status_code == 200
    assert SeenToken.objects.count() == 1  # the expired one was deleted


@pytest.mark.parametrize("offset", [-301, -86400, 301])
def test_it_refuses_a_sendgrid_timestamp_outside_the_tolerance(
    client: Client, hooks: Fetcher, offset: int
) -> None:
    body = json.dumps(payload_of("sendgrid", "SendGridDeliveryTestCase.test_bounce_event")).encode()
    response = real.post(client, "sendgrid", real.sendgrid(body, at=int(time.time()) + offset))
    assert (response.status_code, response.content) == (400, b"refused")
    assert not Suppression.objects.exists()
    assert real.post(client, "sendgrid", real.sendgrid(body, at=int(time.time()) - 200)).status_code == 200
    assert Suppression.objects.exists()


def test_the_tolerance_is_a_setting(client: Client, configure: Callable[..., None], fetcher: Fetcher) -> None:  # noqa: F811
    configure(**real.SETTINGS, POSTWARDEN_WEBHOOK_TOLERANCE="3600")
    stamp = int(time.time()) - 1800
    assert real.post(client, "mailgun", real.mailgun(failed(), at=stamp)).status_code == 200


def test_it_takes_only_the_pinned_sns_topics(
    client: Client,
    configure: Callable[..., None],
    fetcher: Fetcher,  # noqa: F811
) -> None:
    configure(**real.SETTINGS, SES_WEBHOOK_TOPIC_ARN=f"arn:aws:sns:eu-west-1:1:other, {TOPIC}")
    sns = payload_of("ses", "AmazonSESNotificationsTests.test_bounce_event")
    assert real.post(client, "ses", real.ses({**sns, "TopicArn": TOPIC})).status_code == 200
    elsewhere = real.ses({**sns, "TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-else"})
    fetched = len(fetcher.fetched)
    response = real.post(client, "ses", elsewhere)
    assert (response.status_code, response.content) == (400, b"refused")
    assert len(fetcher.fetched) == fetched  # refused before any certificate is fetched


def test_an_unpinned_ses_webhook_takes_any_signed_topic(client: Client, hooks: Fetcher) -> None:
    sns = payload_of("ses", "AmazonSESNotificationsTests.test_bounce_event")
    other = real.ses({**sns, "TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-else"})
    assert real.post(client, "ses", other).status_code == 200
