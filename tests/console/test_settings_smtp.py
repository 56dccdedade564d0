""" "Test connection" and "Send test email" against a real SMTP server on loopback
(aiosmtpd with STARTTLS from a trustme CA and AUTH), with the values in the form,
saved or not; and saving, which probes and warns without refusing."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from postwarden.accounts.models import User
from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import save, stored_values
from postwarden.outbox.models import Recipient
from tests.console.conftest import DISTINCT_SMTP_PASSWORD, logged_in
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.usefixtures("clean_env", "ssl_cert_file")]
WRONG = "Wr0ng-Zq9XkVbN-password-do-not-leak"


@pytest.fixture
def server(smtpd_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtpd_factory(tls="starttls", require_starttls=True, users={"ops": DISTINCT_SMTP_PASSWORD})


def form(server: SmtpServer, password: str, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "smtp",
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "SMTP_HOST": "localhost",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "starttls",
        "SMTP_USER": "ops",
        "SMTP_PASSWORD": password,
        "SMTP_TIMEOUT": "5",
        "SMTP_EHLO_NAME": "client.test",
        "MAIL_FROM": "ops@example.com",
        **extra,
    }


@pytest.mark.django_db
def test_a_wrong_password_shows_the_humanized_error_and_the_raw_reply(
    settings_client: Client, server: SmtpServer
) -> None:
    response = settings_client.post("/settings/test-connection/", form(server, WRONG), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # the htmx partial only
    assert "failed at auth" in html
    assert (
        '<pre class="evidence" id="raw-reply" dir="ltr">535 5.7.8 Authentication credentials invalid</pre>'
        in html
    )
    assert "auth.failed" in html
    assert "C: AUTH PLAIN ••••" in html
    assert "STARTTLS" in html
    assert WRONG not in html
    assert server.messages == []
    assert not StoredSetting.objects.exists()  # the form's values were tested, not saved


@pytest.mark.django_db
def test_the_right_password_connects_with_tls_and_auth_and_sends_no_mail(
    settings_client: Client, server: SmtpServer
) -> None:
    html = settings_client.post(
        "/settings/test-connection/", form(server, DISTINCT_SMTP_PASSWORD), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert (
        '<span class="badge pass">OK</span> Connected: the server accepted the connection, TLS and the '
        "credentials" in html
    )
    assert "AUTH PLAIN accepted" in html
    assert "TLS (starttls): TLSv1." in html
    assert DISTINCT_SMTP_PASSWORD not in html
    assert server.messages == []
    assert server.commands[-1].startswith("QUIT")


@pytest.mark.django_db
def test_an_empty_password_field_tests_with_the_stored_password(
    settings_client: Client, server: SmtpServer
) -> None:
    # saved with its server: a saved password is never sent to a new one
    # (tests/security/test_secret_destinations.py)
    saved = form(server, DISTINCT_SMTP_PASSWORD)
    save({k: saved[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_PASSWORD")}, None)
    html = settings_client.post(
        "/settings/test-connection/", form(server, ""), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<span class="badge pass">OK</span>' in html


@pytest.mark.django_db
def test_without_javascript_the_whole_page_comes_back_with_the_result(
    settings_client: Client, server: SmtpServer
) -> None:
    html = settings_client.post("/settings/test-connection/", form(server, WRONG)).content.decode()
    assert "<html" in html
    assert "535 5.7.8 Authentication credentials invalid" in html
    assert 'value="localhost"' in html  # the form keeps what was typed


@pytest.mark.django_db
def test_saving_with_a_failing_probe_saves_and_warns(settings_client: Client, server: SmtpServer) -> None:
    response = settings_client.post("/settings/", {**form(server, WRONG), "action": "save"}, follow=True)
    html = response.content.decode()
    assert "Email settings saved." in html
    assert "Saved, but the connection test failed" in html
    assert "535 5.7.8 Authentication credentials invalid" in html
    assert stored_values()["SMTP_PASSWORD"] == WRONG
    assert WRONG not in html


@pytest.mark.django_db
def test_saving_with_a_good_probe_does_not_warn(settings_client: Client, server: SmtpServer) -> None:
    html = settings_client.post(
        "/settings/", {**form(server, DISTINCT_SMTP_PASSWORD), "action": "save"}, follow=True
    ).content.decode()
    assert "Email settings saved." in html
    assert "connection test failed" not in html


@pytest.mark.django_db(transaction=True)
def test_send_test_email_arrives_at_the_server_through_the_outbox(
    settings_client: Client, server: SmtpServer
) -> None:
    html = settings_client.post(
        "/settings/send-test/",
        form(server, DISTINCT_SMTP_PASSWORD, test_to="dest@example.com"),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Accepted by the server for dest@example.com" in html, html
    assert [m.rcpt_tos for m in server.delivered] == [["dest@example.com"]]
    assert server.delivered[0].login == "ops"
    assert server.delivered[0].tls
    recipient = Recipient.objects.get(address="dest@example.com")
    assert recipient.state == "sent"
    assert recipient.message.source == "console"
    assert f'href="/deliveries/{recipient.message.public_id}/"' in html
    assert DISTINCT_SMTP_PASSWORD not in html


@pytest.mark.django_db(transaction=True)
def test_send_test_email_with_a_refused_recipient_explains_and_cancels(
    settings_client: Client, server: SmtpServer
) -> None:
    server.inject("RCPT", "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown")
    html = settings_client.post(
        "/settings/send-test/",
        form(server, DISTINCT_SMTP_PASSWORD, test_to="nobody@example.com"),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "550 5.1.1 &lt;nobody@example.com&gt;: Recipient address rejected: User unknown" in html
    assert "envelope.recipient_rejected" in html
    assert Recipient.objects.get(address="nobody@example.com").state in ("cancelled", "failed")
    assert server.delivered == []


@pytest.mark.django_db
def test_send_test_defaults_to_the_users_own_address(settings_client: Client) -> None:
    html = settings_client.get("/settings/").content.decode()
    assert 'id="test_to" name="test_to" type="email" value="sam@example.com"' in html


@pytest.mark.django_db(transaction=True)
def test_send_test_to_capture_lands_in_the_captured_inbox(settings_client: Client) -> None:
    data = {
        "EMAIL_PROVIDER": "capture",
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "MAIL_FROM": "ops@example.com",
        "test_to": "me@example.com",
    }
    html = settings_client.post("/settings/send-test/", data, HTTP_HX_REQUEST="true").content.decode()
    assert "Captured: see Captured mail" in html
    captured_id = re.search(r"captured as ([0-9T]+-m_[A-Za-z0-9_]+-[0-9a-f]{6})", html).group(1)  # type: ignore[union-attr]
    assert "Postwarden test email" in settings_client.get(f"/captured/{captured_id}/").content.decode()


def _events(response: object) -> list[dict[str, object]]:
    import json

    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)
def test_the_live_test_streams_each_stage_as_it_starts_and_ends_then_the_result(
    settings_client: Client, server: SmtpServer
) -> None:
    response = settings_client.post(
        "/settings/test-connection/", form(server, WRONG), HTTP_ACCEPT="application/x-ndjson"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    events = _events(response)
    begin, *steps, outcome = events
    assert begin["event"] == "begin"
    assert [s["stage"] for s in begin["stages"]] == [  # type: ignore[union-attr]
        "resolve",
        "connect",
        "greeting",
        "ehlo",
        "starttls",
        "auth",
    ]
    assert (begin["timeout"], begin["limit"]) == (5.0, 45.0)
    seen = [(e["event"], e["stage"]) for e in steps]
    for stage in ("resolve", "connect", "greeting", "starttls", "auth"):
        assert seen.index(("start", stage)) < seen.index(("step", stage))
    auth = next(e for e in steps if e == {**e, "event": "step", "stage": "auth"})
    assert auth["ok"] is False
    assert outcome["event"] == "outcome"
    assert outcome["ok"] is False
    html = str(outcome["html"])
    assert "failed at auth" in html
    assert "The server said:" in html
    assert WRONG not in "".join(map(str, events))


@pytest.mark.django_db
def test_show_its_settings_renders_the_chosen_transport_without_saving(settings_client: Client) -> None:
    response = settings_client.post("/settings/", {"EMAIL_PROVIDER": "mailgun", "action": "provider"})
    html = response.content.decode()
    assert "These are the settings for <bdi>mailgun</bdi>. Nothing is saved yet" in html
    assert re.search(r'<fieldset class="card group" id="group-mailgun" data-provider="mailgun">', html)
    assert re.search(r'<fieldset class="card group" id="group-smtp" data-provider="smtp" hidden>', html)
    assert not StoredSetting.objects.exists()


@pytest.mark.django_db
def test_saving_retries_at_once_the_deferred_recipients_the_change_can_help(
    settings_client: Client, server: SmtpServer
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from postwarden.outbox.models import Event
    from tests.console.helpers import enqueue_one

    later = timezone.now() + timedelta(hours=1)
    Recipient.objects.filter(message=enqueue_one("auth@example.com")).update(
        state="deferred", finding="auth.failed", next_attempt_at=later
    )
    Recipient.objects.filter(message=enqueue_one("full@example.com")).update(
        state="deferred", finding="envelope.mailbox_full", next_attempt_at=later
    )
    response = settings_client.post(
        "/settings/", {**form(server, DISTINCT_SMTP_PASSWORD), "action": "save"}, follow=True
    )
    assert "1 deferred recipient that the change can help is retried now." in response.content.decode()
    assert Recipient.objects.get(address="auth@example.com").next_attempt_at <= timezone.now()
    assert Recipient.objects.get(address="full@example.com").next_attempt_at == later
    assert Event.objects.get(kind="retry").detail == (
        "auth@example.com: retried now (auth.failed): the email settings were saved"
    )


@pytest.mark.django_db(transaction=True)
def test_the_test_mails_body_is_in_the_instance_language_as_its_subject(settings_client: Client) -> None:
    data = {
        "EMAIL_PROVIDER": "capture",
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "MAIL_FROM": "ops@example.com",
        "POSTWARDEN_LANGUAGE": "fa",
        "test_to": "me@example.com",
    }
    html = settings_client.post("/settings/send-test/", data, HTTP_HX_REQUEST="true").content.decode()
    captured_id = re.search(r"captured as ([0-9T]+-m_[A-Za-z0-9_]+-[0-9a-f]{6})", html).group(1)  # type: ignore[union-attr]
    page = settings_client.get(f"/captured/{captured_id}/?view=text").content.decode()
    assert "این یک ایمیل آزمایشی از Postwarden است که sam@example.com آن را از صفحه‌ی تنظیمات ایمیل" in page
    assert "If you can read this" not in page


@pytest.mark.django_db
def test_the_failing_probes_warning_is_in_the_readers_language_with_the_reply_verbatim(
    settings_user: User, server: SmtpServer
) -> None:
    from django.utils import translation

    from postwarden.core import i18n

    settings_user.language = "fa"
    settings_user.save()
    client = logged_in(settings_user)
    html = client.post("/settings/", {**form(server, WRONG), "action": "save"}, follow=True).content.decode()
    with translation.override("fa"), i18n.override("fa"):
        warned = translation.gettext(
            "Saved, but the connection test failed: %(summary)s. "
            "Mail will wait in the queue until this is fixed."
        ).split("%(summary)s")[0]
        title = i18n.gettext("The SMTP server rejected the username or password")
    assert warned in html
    assert title in html
    assert "The SMTP server rejected the username or password" not in html
    assert "535 5.7.8 Authentication credentials invalid" in html
