"""Provider transports against local servers answering as each provider's documented API
does (tests/providers.py): success, per-recipient refusals and errors."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pytest_httpserver import HTTPServer

from postwarden.core.config.model import Provider, ProviderSettings
from postwarden.core.secrets import Secret
from postwarden.transports.base import Outcome, Parts, RecipientResult, TransportDelivery
from postwarden.transports.esp import EspTransport
from postwarden.transports.esp_backends import EspConfigurationError
from tests import providers as p

MESSAGE_ID = "<m_abc123.1700000000@postwarden.example.com>"


def delivery(
    *recipients: str,
    to: tuple[str, ...] = ("Ann <ann@example.net>",),
    cc: tuple[str, ...] = (),
    text: str | None = "Hello.",
    html: str | None = "<p>Hello.</p>",
) -> TransportDelivery:
    parts = Parts(
        from_address="alerts@example.com",
        from_name="Alerts",
        subject="Disk full",
        text=text,
        html=html,
        to=to,
        cc=cc,
        reply_to=("help@example.com",),
        headers={"Message-ID": MESSAGE_ID, "X-App": "metabase"},
        tags=("alert",),
        metadata={"tenant": "t1"},
    )
    return TransportDelivery(
        message_pk=1,
        public_id="m_abc123",
        message_id=MESSAGE_ID,
        envelope_from="alerts@example.com",
        recipients=recipients or ("ann@example.net",),
        raw=b"unused",
        parts=parts,
    )


def send(settings: ProviderSettings, d: TransportDelivery) -> list[RecipientResult]:
    transport = EspTransport(settings)

    async def go() -> list[RecipientResult]:
        try:
            return list(await transport.send(d))
        finally:
            await transport.close()

    return asyncio.run(go())


def last_json(server: HTTPServer) -> dict:
    request, _ = server.log[-1]
    return json.loads(request.get_data())


# --- SendGrid ---------------------------------------------------------------------------


def test_it_sends_through_sendgrid_and_keeps_a_message_id_per_recipient(httpserver: HTTPServer) -> None:
    p.sendgrid_accepted(httpserver)
    results = send(p.SENDGRID.settings(httpserver), delivery("ann@example.net"))
    [result] = results
    assert (result.address, result.outcome, result.stage, result.http_status) == (
        "ann@example.net",
        Outcome.SENT,
        "api",
        202,
    )
    sent = last_json(httpserver)
    personalization = sent["personalizations"][0]
    # anymail tags each recipient with its own id; the webhook events carry it back
    assert result.provider_message_id == personalization["custom_args"]["anymail_id"]
    assert personalization["to"] == [{"email": "ann@example.net", "name": "Ann"}]
    assert sent["from"] == {"email": "alerts@example.com", "name": "Alerts"}
    assert sent["subject"] == "Disk full"
    assert sent["headers"]["Message-ID"] == MESSAGE_ID
    assert sent["headers"]["X-App"] == "metabase"
    assert [c["type"] for c in sent["content"]] == ["text/plain", "text/html"]
    request, _ = httpserver.log[-1]
    assert request.headers["Authorization"] == "Bearer SG.test-key-0001"


def test_it_silences_only_the_sendgrid_support_warning(
    httpserver: HTTPServer, recwarn: pytest.WarningsRecorder
) -> None:
    p.sendgrid_accepted(httpserver)
    send(p.SENDGRID.settings(httpserver), delivery())
    assert [str(w.message) for w in recwarn if "SendGrid" in str(w.message)] == []


@pytest.mark.parametrize("status", [401, 429, 400])
def test_it_reports_sendgrid_errors_with_status_and_body(httpserver: HTTPServer, status: int) -> None:
    p.SENDGRID.answer(httpserver, status, p.ERRORS[Provider.SENDGRID][status])
    [result] = send(p.SENDGRID.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, status)
    assert json.loads(result.detail) == p.ERRORS[Provider.SENDGRID][status]


# --- Mailgun ----------------------------------------------------------------------------


def test_it_sends_through_mailgun_to_the_configured_domain(httpserver: HTTPServer) -> None:
    p.mailgun_queued(httpserver)
    results = send(
        p.MAILGUN.settings(httpserver),
        delivery("ann@example.net", "bob@example.org", to=("Ann <ann@example.net>", "bob@example.org")),
    )
    assert {(r.address, r.outcome, r.provider_message_id, r.http_status) for r in results} == {
        ("ann@example.net", Outcome.SENT, "<20260101120000.1.ABCDEF@mg.example.com>", 200),
        ("bob@example.org", Outcome.SENT, "<20260101120000.1.ABCDEF@mg.example.com>", 200),
    }
    request, _ = httpserver.log[-1]
    assert request.form.getlist("to") == ["Ann <ann@example.net>", "bob@example.org"]
    assert request.form["h:Message-Id"] == MESSAGE_ID
    assert request.form["o:tag"] == "alert"
    assert request.authorization is not None
    assert request.authorization.password == "key-mailgun-0001"


@pytest.mark.parametrize("status", [401, 429, 400])
def test_it_reports_mailgun_errors_verbatim(httpserver: HTTPServer, status: int) -> None:
    body = p.ERRORS[Provider.MAILGUN][status]
    p.MAILGUN.answer(httpserver, status, body)
    [result] = send(p.MAILGUN.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, status)
    assert result.detail == (body if isinstance(body, str) else json.dumps(body))


# --- Postmark ---------------------------------------------------------------------------


def test_it_sends_through_postmark_on_the_configured_stream(httpserver: HTTPServer) -> None:
    p.postmark_ok(httpserver)
    [result] = send(p.POSTMARK.settings(httpserver), delivery())
    assert (result.outcome, result.http_status, result.provider_message_id) == (
        Outcome.SENT,
        200,
        "0a129aee-e1cd-480d-b08d-4f48548ff48d",
    )
    sent = last_json(httpserver)
    assert sent["MessageStream"] == "outbound"
    assert sent["To"] == "Ann <ann@example.net>"
    assert {"Name": "Message-ID", "Value": MESSAGE_ID} in sent["Headers"]
    request, _ = httpserver.log[-1]
    assert request.headers["X-Postmark-Server-Token"] == "pm-server-token-0001"


@pytest.mark.parametrize("status", [401, 429, 422])
def test_it_reports_postmark_errors(httpserver: HTTPServer, status: int) -> None:
    p.POSTMARK.answer(httpserver, status, p.ERRORS[Provider.POSTMARK][status])
    [result] = send(p.POSTMARK.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, status)
    assert json.loads(result.detail) == p.ERRORS[Provider.POSTMARK][status]


def test_it_reports_a_postmark_inactive_recipient_as_refused(httpserver: HTTPServer) -> None:
    body = {
        "ErrorCode": 406,
        "Message": "You tried to send to recipient(s) that have been marked as inactive. "
        "Found inactive addresses: ann@example.net. Inactive recipients are ones that have generated a hard "
        "bounce, a spam complaint, or a manual suppression.",
    }
    p.POSTMARK.answer(httpserver, 422, body)
    [result] = send(p.POSTMARK.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, 422)
    assert "marked as inactive" in result.detail


# --- Resend -----------------------------------------------------------------------------


def test_it_sends_through_resend(httpserver: HTTPServer) -> None:
    p.resend_ok(httpserver)
    [result] = send(p.RESEND.settings(httpserver), delivery())
    assert (result.outcome, result.http_status, result.provider_message_id) == (
        Outcome.SENT,
        200,
        "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794",
    )
    sent = last_json(httpserver)
    assert sent["to"] == ["Ann <ann@example.net>"]
    assert sent["headers"]["Message-ID"] == MESSAGE_ID
    request, _ = httpserver.log[-1]
    assert request.headers["Authorization"] == "Bearer re_test_key_0001"


@pytest.mark.parametrize("status", [401, 429, 422])
def test_it_reports_resend_errors(httpserver: HTTPServer, status: int) -> None:
    p.RESEND.answer(httpserver, status, p.ERRORS[Provider.RESEND][status])
    [result] = send(p.RESEND.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, status)
    assert json.loads(result.detail) == p.ERRORS[Provider.RESEND][status]


# --- Mandrill ---------------------------------------------------------------------------


def test_it_reads_mandrill_statuses_per_recipient(httpserver: HTTPServer) -> None:
    p.mandrill_results(
        httpserver,
        {
            "ann@example.net": ("sent", None),
            "bob@example.org": ("rejected", "hard-bounce"),
            "cy@example.org": ("queued", None),
        },
    )
    results = send(
        p.MANDRILL.settings(httpserver),
        delivery(
            "ann@example.net",
            "bob@example.org",
            "cy@example.org",
            to=("ann@example.net", "bob@example.org", "cy@example.org"),
        ),
    )
    by_address = {r.address: r for r in results}
    assert by_address["ann@example.net"].outcome is Outcome.SENT
    assert by_address["cy@example.org"].outcome is Outcome.SENT
    bob = by_address["bob@example.org"]
    assert (bob.outcome, bob.http_status, bob.detail) == (Outcome.FAILED, 200, "rejected: hard-bounce")
    assert by_address["ann@example.net"].provider_message_id.startswith("md")
    assert last_json(httpserver)["key"] == "md-key-0001"


def test_it_reports_mandrills_http_500_errors_as_mandrill_sends_them(httpserver: HTTPServer) -> None:
    # Mandrill answers every error, even a bad key, with HTTP 500 (its API docs)
    p.MANDRILL.answer(httpserver, 500, p.ERRORS[Provider.MANDRILL][500])
    [result] = send(p.MANDRILL.settings(httpserver), delivery())
    assert (result.outcome, result.http_status) == (Outcome.FAILED, 500)
    assert json.loads(result.detail)["name"] == "Invalid_Key"


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("ValidationError", "failed"),  # this message is wrong: no retry mends it
        ("Unknown_Template", "failed"),
        ("Invalid_Key", "deferred"),  # the path: an operator mends the key, mail waits
        ("PaymentRequired", "deferred"),
        ("GeneralError", "deferred"),  # Mandrill's side
        ("ServiceUnavailable", "deferred"),
    ],
)
def test_mandrills_error_name_decides_what_its_500_means(
    httpserver: HTTPServer, name: str, state: str
) -> None:
    from datetime import UTC, datetime

    from postwarden.outbox.retry import RetryPolicy, judge

    p.MANDRILL.answer(httpserver, 500, {"status": "error", "code": -2, "name": name, "message": "words"})
    [result] = send(p.MANDRILL.settings(httpserver), delivery())
    assert (result.http_status, result.provider_error) == (500, name)
    now = datetime.now(UTC)
    assert judge(result, tries=1, queued_at=now, now=now, policy=RetryPolicy()).state == state


def test_an_error_body_of_another_shape_names_nothing(httpserver: HTTPServer) -> None:
    p.RESEND.answer(httpserver, 500, {"statusCode": 500, "name": "internal_server_error", "message": "x"})
    [result] = send(p.RESEND.settings(httpserver), delivery())
    assert (result.http_status, result.provider_error) == (500, "")


# --- envelope, visibility, failures without an answer -------------------------------------


def test_it_sends_to_this_deliverys_recipients_only(httpserver: HTTPServer) -> None:
    # a retry for bob must not re-send to ann, who was accepted earlier
    p.resend_ok(httpserver)
    send(
        p.RESEND.settings(httpserver),
        delivery("bob@example.org", to=("ann@example.net", "Bob <bob@example.org>")),
    )
    assert last_json(httpserver)["to"] == ["Bob <bob@example.org>"]


def test_it_keeps_bcc_recipients_hidden_with_one_call_each(httpserver: HTTPServer) -> None:
    p.resend_ok(httpserver, "id-1")
    p.resend_ok(httpserver, "id-2")
    results = send(p.RESEND.settings(httpserver), delivery("x@example.org", "y@example.org", to=()))
    assert [json.loads(req.get_data())["to"] for req, _ in httpserver.log] == [
        ["x@example.org"],
        ["y@example.org"],
    ]
    assert [(r.address, r.provider_message_id) for r in results] == [
        ("x@example.org", "id-1"),
        ("y@example.org", "id-2"),
    ]


def test_it_sends_bcc_beside_a_visible_recipient_in_one_call(httpserver: HTTPServer) -> None:
    p.sendgrid_accepted(httpserver)
    send(p.SENDGRID.settings(httpserver), delivery("ann@example.net", "hid@example.org"))
    personalization = last_json(httpserver)["personalizations"][0]
    assert personalization["bcc"] == [{"email": "hid@example.org"}]


def test_it_reports_a_refused_connection_without_http_status(httpserver: HTTPServer) -> None:
    settings = p.SENDGRID.settings(httpserver)
    dead = ProviderSettings(name=settings.name, secrets=settings.secrets, api_url="http://127.0.0.1:9/v3/")
    [result] = send(dead, delivery())
    assert (result.outcome, result.http_status, result.stage) == (Outcome.FAILED, None, "api")
    assert result.detail.startswith("ConnectionError: ")


def test_it_never_shows_the_api_key_in_results_or_logs(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    key = "SG.distinctive-secret-7f3a9c1e"
    p.SENDGRID.answer(httpserver, 401, {"errors": [{"message": f"key {key} is revoked", "field": None}]})
    caplog.set_level(logging.DEBUG)
    [result] = send(p.SENDGRID.settings(httpserver, SENDGRID_API_KEY=key), delivery())
    assert result.http_status == 401
    assert key not in result.detail
    assert "key •••• is revoked" in result.detail
    assert key not in caplog.text
    assert key not in repr(EspTransport(p.SENDGRID.settings(httpserver, SENDGRID_API_KEY=key)).__dict__)


def test_it_refuses_to_build_without_the_api_key() -> None:
    with pytest.raises(EspConfigurationError, match=r"^POSTMARK_SERVER_TOKEN is not set"):
        EspTransport(ProviderSettings(name=Provider.POSTMARK, secrets={"POSTMARK_SERVER_TOKEN": Secret("")}))


def test_it_caps_recipients_per_request_at_the_providers_limit() -> None:
    settings = ProviderSettings(name=Provider.POSTMARK, secrets={"POSTMARK_SERVER_TOKEN": Secret("t")})
    assert EspTransport(settings).max_recipients == 50
    assert EspTransport(settings, max_recipients=10).max_recipients == 10


def test_it_rebuilds_the_parts_of_a_delivery_stored_as_mime_only(httpserver: HTTPServer) -> None:
    p.resend_ok(httpserver)
    raw = (
        b"From: Alerts <alerts@example.com>\r\nTo: ann@example.net\r\nSubject: Disk full\r\n"
        b"Message-ID: <m_raw@postwarden.example.com>\r\nContent-Type: text/plain\r\n\r\nFull.\r\n"
    )
    bare = TransportDelivery(
        message_pk=1,
        public_id="m_raw",
        message_id="<m_raw@postwarden.example.com>",
        envelope_from="alerts@example.com",
        recipients=("ann@example.net",),
        raw=raw,
    )
    [result] = send(p.RESEND.settings(httpserver), bare)
    assert result.outcome is Outcome.SENT
    sent = last_json(httpserver)
    assert (sent["from"], sent["to"], sent["subject"], sent["text"]) == (
        "Alerts <alerts@example.com>",
        ["ann@example.net"],
        "Disk full",
        "Full.\r\n",
    )
    assert sent["headers"]["Message-ID"] == "<m_raw@postwarden.example.com>"
