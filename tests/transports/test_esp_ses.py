"""Amazon SES through moto's server mode on loopback (AWS_ENDPOINT_URL): the stored MIME
goes as it is (attachments and inline images byte for byte), the envelope is this
delivery's recipients, and an unverified sender is refused with SES's own words."""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
from hashlib import sha256

import boto3

from postwarden.core.config.model import Provider, ProviderSettings
from postwarden.core.secrets import Secret
from postwarden.transports.base import Outcome, RecipientResult, TransportDelivery
from postwarden.transports.esp import EspTransport
from tests.transports import test_esp_attachments as with_files

REGION = "eu-west-1"
SECRET_KEY = "ses-distinctive-secret-4d2e9b"
RAW = (
    b"From: Alerts <alerts@verified.example>\r\nTo: ann@example.net\r\nSubject: Disk full\r\n"
    b"Message-ID: <m_ses1.1700000000@postwarden.example.com>\r\nDate: Sun, 01 Nov 2026 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
    b"Bcc: hidden@example.org\r\n\r\nThe disk is full.\r\n"
)


def settings(url: str) -> ProviderSettings:
    return ProviderSettings(
        name=Provider.SES,
        secrets={"AWS_SECRET_ACCESS_KEY": Secret(SECRET_KEY)},
        options={"AWS_ACCESS_KEY_ID": "AKIDPOSTWARDENTEST", "AWS_REGION": REGION},
        api_url=url,
    )


def ses_client(url: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="AKIDPOSTWARDENTEST",
        aws_secret_access_key=SECRET_KEY,
    )


def send(url: str, d: TransportDelivery) -> list[RecipientResult]:
    transport = EspTransport(settings(url))

    async def go() -> list[RecipientResult]:
        try:
            return list(await transport.send(d))
        finally:
            await transport.close()

    return asyncio.run(go())


def delivery(*recipients: str, sender: str = "alerts@verified.example") -> TransportDelivery:
    raw = RAW.replace(b"alerts@verified.example", sender.encode())
    return TransportDelivery(
        message_pk=1,
        public_id="m_ses1",
        message_id="<m_ses1.1700000000@postwarden.example.com>",
        envelope_from=sender,
        recipients=recipients,
        raw=raw,
    )


def test_it_sends_the_stored_mime_through_ses(moto_url: str) -> None:
    ses_client(moto_url).create_email_identity(EmailIdentity="verified.example")
    results = send(moto_url, delivery("ann@example.net", "hidden@example.org"))
    assert [(r.address, r.outcome, r.stage, r.http_status) for r in results] == [
        ("ann@example.net", Outcome.SENT, "api", 200),
        ("hidden@example.org", Outcome.SENT, "api", 200),
    ]
    assert results[0].provider_message_id
    assert results[0].provider_message_id == results[1].provider_message_id
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"][REGION]
    [raw_message] = [
        m for m in backend.sent_messages if getattr(m, "id", "") == results[0].provider_message_id
    ]
    parsed = email.message_from_string(raw_message.raw_data)
    assert parsed["Message-ID"] == "<m_ses1.1700000000@postwarden.example.com>"
    assert parsed["Bcc"] is None
    assert set(raw_message.destinations) >= {"ann@example.net", "hidden@example.org"}


def test_it_reports_an_unverified_sender_with_ses_words(moto_url: str) -> None:
    [result] = send(moto_url, delivery("ann@example.net", sender="nobody@unverified.example"))
    assert (result.outcome, result.http_status) == (Outcome.FAILED, 400)
    assert (
        result.detail
        == "MessageRejected: Did not have authority to send from email nobody@unverified.example"
    )
    assert SECRET_KEY not in result.detail


def test_it_reports_an_unreachable_endpoint_without_http_status() -> None:
    [result] = send("http://127.0.0.1:9", delivery("ann@example.net"))
    assert (result.outcome, result.http_status) == (Outcome.FAILED, None)
    assert result.detail.startswith("EndpointConnectionError: ")


def test_a_pdf_attachment_and_an_inline_image_arrive_byte_for_byte(moto_url: str) -> None:
    """The message composed as the API composes it (core.message), sent through the SES
    transport; the raw message moto stored is parsed and each file's SHA-256 compared."""
    ses_client(moto_url).create_email_identity(EmailIdentity="example.com")
    d = with_files.delivery()
    [result] = send(moto_url, d)
    assert (result.outcome, result.http_status) == (Outcome.SENT, 200)
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"][REGION]
    [stored] = [m for m in backend.sent_messages if getattr(m, "id", "") == result.provider_message_id]
    raw = stored.raw_data.encode() if isinstance(stored.raw_data, str) else stored.raw_data
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed["Message-ID"] == d.message_id
    files = {}
    for part in parsed.walk():
        if not part.get_filename():
            continue
        assert isinstance(part, email.message.EmailMessage)
        content = part.get_content()
        assert isinstance(content, bytes)
        key = (part.get_filename(), part.get_content_type(), str(part.get("Content-ID") or ""))
        files[key] = sha256(content).hexdigest()
    assert files == {
        (with_files.NAME, "application/pdf", ""): sha256(with_files.PDF).hexdigest(),
        ("logo.png", "image/png", "<logo>"): sha256(with_files.PNG).hexdigest(),
    }
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert 'src="cid:logo"' in html.get_content()
