"""The console in a real browser (issue #5): first login; a preset and the SMTP
settings; "Test connection" with a wrong password against a local server shows the
humanized error and the raw reply; fixed, "Send test email" arrives; a message sent over
the API reaches "sent" on its timeline (the worker of ``postwarden serve`` delivers it);
the doctor names the root cause; a suppression is added and removed; a viewer cannot
reach the settings. Every test leaves a screenshot in tests/screenshots/."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.browser.conftest import ADMIN_EMAIL, SCREENSHOTS, SMTP_USER, Service, fill_smtp, log_in, run_doctor
from tests.smtpd import SmtpdOptions, SmtpServer

# Each test stands alone (xdist may split the module: each worker then runs its own service).
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SMTP_PASSWORD = "Right-Zq9XkVbN-smtp-password"
WRONG_PASSWORD = "Wrong-Zq9XkVbN-smtp-password"
#: polls of a page that waits for the worker: bounded by count and time
POLLS, POLL_SECONDS = 60, 0.5


@pytest.fixture(scope="module")
def smtp_server(server_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    """STARTTLS required, AUTH PLAIN/LOGIN, on loopback, for the whole module."""
    server = SmtpServer(
        SmtpdOptions(
            tls="starttls", require_starttls=True, cert=server_cert, users={SMTP_USER: SMTP_PASSWORD}
        )
    ).start()
    try:
        yield server
    finally:
        server.stop()


def open_settings(page: Any, service: Service) -> None:
    page.goto(service.url + "/settings/")


def test_first_login(page: Any, service: Service) -> None:
    page.goto(service.url + "/")
    assert page.url.startswith(service.url + "/login/")
    page.fill("#id_username", ADMIN_EMAIL)
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    assert "The email address or the password is wrong." in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "login.png"), full_page=True)
    log_in(page, service)
    assert page.inner_text("h1") == "Overview"
    nav = page.inner_text("nav.nav")
    for label in ("Deliveries", "Email settings", "Doctor", "Captured", "API keys", "Users"):
        assert label in nav
    assert page.csp_errors == []


def test_preset_fills_the_smtp_settings(page: Any, service: Service) -> None:
    log_in(page, service)
    open_settings(page, service)
    page.select_option("#preset", "gmail")
    assert page.input_value("#id_SMTP_HOST") == "smtp.gmail.com"
    assert page.input_value("#id_SMTP_PORT") == "587"
    assert page.input_value("#id_SMTP_SECURITY") == "starttls"
    assert "App Password" in page.inner_text("#preset-note")
    page.select_option("#preset", "ses")
    page.select_option("#preset_region", "eu-central-1")
    assert page.input_value("#id_SMTP_HOST") == "email-smtp.eu-central-1.amazonaws.com"
    page.select_option("#preset", "sendgrid")
    assert page.input_value("#id_SMTP_USER") == "apikey"
    assert page.input_value("#id_SMTP_AUTH") == ""
    page.select_option("#preset", "office365_oauth2")
    assert page.input_value("#id_SMTP_HOST") == "smtp.office365.com"
    assert (page.input_value("#id_SMTP_AUTH"), page.input_value("#id_OAUTH2_PROVIDER")) == (
        "oauth2",
        "microsoft",
    )
    assert "SMTP.SendAsApp" in page.inner_text("#preset-note")
    page.select_option("#preset", "google_oauth2")
    assert (page.input_value("#id_SMTP_HOST"), page.input_value("#id_OAUTH2_PROVIDER")) == (
        "smtp.gmail.com",
        "google",
    )
    page.select_option("#preset", "gmail")  # a password preset signs in with a password again
    assert page.input_value("#id_SMTP_AUTH") == ""
    assert page.csp_errors == []


def test_test_connection_with_a_wrong_password_shows_the_error_and_the_raw_reply(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    open_settings(page, service)
    fill_smtp(page, smtp_server.port, WRONG_PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#test-outcome")
    outcome = page.inner_text("#test-outcome")
    assert "failed at auth" in outcome
    assert page.inner_text("#raw-reply") == "535 5.7.8 Authentication credentials invalid"
    assert "auth.failed" in outcome
    assert WRONG_PASSWORD not in page.content()
    assert page.url == service.url + "/settings/"  # htmx swapped the result in; no navigation
    assert page.input_value("#id_SMTP_HOST") == "localhost"
    assert smtp_server.messages == []


def test_fixed_password_send_test_email_arrives(page: Any, service: Service, smtp_server: SmtpServer) -> None:
    log_in(page, service)
    open_settings(page, service)
    fill_smtp(page, smtp_server.port, SMTP_PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#test-outcome")
    assert "Connected" in page.inner_text("#test-outcome")
    page.fill("#test_to", "dest@example.com")
    before = len(smtp_server.delivered)
    page.get_by_role("button", name="Send test email").click()
    page.wait_for_selector("#test-outcome >> text=Accepted by the server")
    assert [m.rcpt_tos for m in smtp_server.delivered[before:]] == [["dest@example.com"]]
    assert b"Subject: Postwarden test email" in smtp_server.delivered[-1].data
    fill_smtp(page, smtp_server.port, SMTP_PASSWORD)
    page.click("button[value=save]")
    assert "Email settings saved." in page.inner_text("main")
    assert "connection test failed" not in page.inner_text("main")


def save_smtp(page: Any, service: Service, server: SmtpServer) -> None:
    open_settings(page, service)
    fill_smtp(page, server.port, SMTP_PASSWORD)
    page.click("button[value=save]")
    assert "Email settings saved." in page.inner_text("main")
    wait_for_worker_to_follow(page, service)


def _new_api_key(page: Any, service: Service) -> str:
    page.goto(service.url + "/api-keys/")
    page.fill("#id_name", "browser test app")
    page.check("input[name=scopes][value=read]")
    page.get_by_role("button", name="Create key").click()
    return str(page.inner_text("#new-key")).strip()


def send_over_the_api(service: Service, key: str, subject: str) -> str:
    """POST /api/v1/messages as an application would; returns the message id."""
    body = json.dumps({"to": ["api-dest@example.com"], "subject": subject, "text": "hi"}).encode()
    request = urllib.request.Request(
        service.url + "/api/v1/messages",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["id"])


def test_a_message_sent_over_the_api_reaches_sent_on_its_timeline(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    save_smtp(page, service, smtp_server)
    key = _new_api_key(page, service)
    public_id = send_over_the_api(service, key, "Over the API")
    page.goto(f"{service.url}/deliveries/{public_id}/")
    for _ in range(POLLS):
        if page.locator("#rcpt-h + .table-wrap .badge.sent").count():
            break
        time.sleep(POLL_SECONDS)
        page.reload()
    assert page.locator("#rcpt-h + .table-wrap .badge.sent").count() == 1
    timeline = page.inner_text("ol.timeline")
    assert "Enqueued" in timeline or "enqueued" in timeline
    assert "Attempt 1" in timeline
    assert any(m.rcpt_tos == ["api-dest@example.com"] for m in smtp_server.delivered)


def wait_for_worker_to_follow(page: Any, service: Service) -> None:
    """A running worker re-reads the settings every few seconds; until its heartbeat
    carries the new fingerprint the overview (and the doctor) report drift."""
    for _ in range(POLLS):
        page.goto(service.url + "/")
        if "running" in page.inner_text("#workers-h + *") and "other email settings" not in page.content():
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError("the worker never picked up the saved settings")


def test_the_doctor_names_the_root_cause(page: Any, service: Service, smtp_server: SmtpServer) -> None:
    log_in(page, service)
    open_settings(page, service)
    fill_smtp(page, smtp_server.port, WRONG_PASSWORD)
    page.click("button[value=save]")
    assert "Saved, but the connection test failed" in page.inner_text("main")
    wait_for_worker_to_follow(page, service)
    page.goto(service.url + "/doctor/")
    page.fill("#doctor-to", "dest@example.com")
    run_doctor(page)
    cause = page.inner_text("#root-cause")
    assert "auth.failed" in cause
    assert "535 5.7.8 Authentication credentials invalid" in cause
    assert page.locator("ol.pipeline li.fail").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "doctor-root-cause.png"), full_page=True)
    save_smtp(page, service, smtp_server)  # the right password again, for what runs next


def test_a_suppression_is_added_and_removed(page: Any, service: Service) -> None:
    log_in(page, service)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(service.url + "/suppressions/")
    page.fill("#id_address", "Bouncy@Example.com")
    page.fill("#id_detail", "asked us to stop")
    page.get_by_role("button", name="Suppress", exact=True).click()
    assert "bouncy@example.com is suppressed (manual)." in page.inner_text("main")
    row = page.locator("tr", has_text="bouncy@example.com")
    assert "asked us to stop" in row.inner_text()
    row.locator("button", has_text="Remove").click()
    assert "bouncy@example.com is no longer suppressed." in page.inner_text("main")
    assert page.locator("tr", has_text="bouncy@example.com").count() == 0


def test_a_viewer_cannot_reach_the_settings(page: Any, service: Service) -> None:
    log_in(page, service)
    page.goto(service.url + "/users/")
    page.fill("#id_email", "viewer@example.com")
    page.select_option("#id_role", "viewer")
    page.fill("#id_password", "viewer-password-123")
    page.get_by_role("button", name="Create user").click()
    page.get_by_role("button", name="Log out").click()
    log_in(page, service, "viewer@example.com", "viewer-password-123")
    assert "Email settings" not in page.inner_text("nav.nav")
    response = page.goto(service.url + "/settings/")
    assert response is not None
    assert response.status == 403
    assert "This needs the Settings role" in page.inner_text("main")


PAGES = (
    "overview",
    "deliveries",
    "message",
    "templates",
    "held",
    "suppressions",
    "captured",
    "doctor",
    "settings",
    "people",
    "apikeys",
    "users",
    "logs",
)


def test_every_page_renders_on_a_laptop_and_a_phone_without_csp_violations(
    browser: Any, service: Service
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, viewport in (
        ("laptop", {"width": 1280, "height": 900}),
        ("phone", {"width": 390, "height": 844}),
    ):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None
        )
        log_in(page, service)
        if label == "laptop":  # something to show: a delivered message and a doctor run
            page.goto(service.url + "/doctor/")
            run_doctor(page)
            send_over_the_api(service, _new_api_key(page, service), "Shown on every page")
        page.goto(service.url + "/deliveries/")
        first = page.locator("td a[href^='/deliveries/m_']").first
        message_url = (
            service.url + str(first.get_attribute("href")) if first.count() else service.url + "/deliveries/"
        )
        urls = {
            "overview": "/",
            "deliveries": "/deliveries/",
            "templates": "/templates/",
            "held": "/held/",
            "suppressions": "/suppressions/",
            "captured": "/captured/",
            "doctor": "/doctor/",
            "settings": "/settings/",
            "people": "/people/",
            "apikeys": "/api-keys/",
            "users": "/users/",
            "logs": "/logs/",
        }
        for name in PAGES:
            url = message_url if name == "message" else service.url + urls[name]
            response = page.goto(url)
            assert response is not None, (name, label)
            assert response.status == 200, (name, label)
            page.screenshot(path=str(SCREENSHOTS / f"{label}-{name}.png"), full_page=True)
            if label == "phone":  # nothing wider than the screen: tables scroll inside their card
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        assert [e for e in errors if "Content Security Policy" in e or "Refused" in e] == [], label
        context.close()
