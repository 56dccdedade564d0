"""The Email settings page in a real browser (issue #17): only the chosen transport's
fields show, and "Send through" switches them without a reload (and, without JavaScript,
with "Show its settings"); DKIM, webhooks and tuning are closed sections of their own; Test
connection, Send test and Save sit right under the fields they use. A Test connection
against a server that never greets disables the buttons, shows each stage as it happens
with the seconds left, and keeps one result; a certificate error names "Verify
certificate" and what turning it off costs, says OpenSSL said it (not the server), and
renders the steps' `code` as code. Screenshots at laptop and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.browser.conftest import Service, log_in
from tests.browser.test_failed_mail import LAPTOP, shoot
from tests.smtpd import RawServer, SmtpdOptions, SmtpServer, silent

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
#: seconds a step of the slow test may take (the shortest SMTP_TIMEOUT worth showing)
STEP_TIMEOUT = 4


@pytest.fixture(scope="module")
def silent_server() -> Iterator[RawServer]:
    server = RawServer(silent()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def untrusted_server(untrusted_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    server = SmtpServer(SmtpdOptions(tls="starttls", require_starttls=True, cert=untrusted_cert)).start()
    try:
        yield server
    finally:
        server.stop()


def visible(page: Any, selector: str) -> bool:
    return bool(page.locator(selector).is_visible())


def test_only_the_chosen_transport_shows_and_send_through_switches_it_in_place(
    page: Any, service: Service
) -> None:
    log_in(page, service)
    page.goto(service.url + "/settings/")
    page.evaluate("window.stillThisPage = true")
    # a fresh service captures: no SMTP or provider fields, a note instead
    assert visible(page, "#capture-note")
    assert not visible(page, "#id_SMTP_HOST")
    assert not visible(page, "#id_SENDGRID_API_KEY")
    page.select_option("#id_EMAIL_PROVIDER", "smtp")
    assert visible(page, "#id_SMTP_HOST")
    assert visible(page, "#id_SMTP_PASSWORD")
    assert not visible(page, "#capture-note")
    assert not visible(page, "#id_OAUTH2_CLIENT_ID")  # until "Sign in with" says OAuth2
    page.select_option("#id_SMTP_AUTH", "oauth2")
    assert visible(page, "#id_OAUTH2_CLIENT_ID")
    page.select_option("#id_SMTP_AUTH", "password")
    # the advanced parts are sections of their own, closed
    for key, field in (
        ("dkim", "DKIM_SELECTOR"),
        ("webhooks", "POSTWARDEN_PUBLIC_URL"),
        ("delivery", "POSTWARDEN_MAX_ATTEMPTS"),
    ):
        assert page.locator(f"details#group-{key}").count() == 1
        assert not visible(page, f"#id_{field}")
    # Test connection, Send test and Save come right after the SMTP fields, before the advanced parts
    smtp, actions, advanced = (
        page.locator(s).bounding_box() for s in ("#group-smtp", "#test-card", "#group-dkim")
    )
    assert smtp["y"] + smtp["height"] <= actions["y"] <= smtp["y"] + smtp["height"] + 40
    assert actions["y"] < advanced["y"]
    for name in ("Test connection", "Send test email", "Save settings"):
        assert page.locator("#test-card").get_by_role("button", name=name).is_visible()
    fields = page.locator(
        "#settings-form input:visible, #settings-form select:visible, #settings-form textarea:visible"
    )
    assert fields.count() <= 20, fields.count()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, height  # it was about 4,000 px with every provider's fields
    shoot(page, "settings-smtp")
    page.select_option("#id_EMAIL_PROVIDER", "sendgrid")
    assert visible(page, "#id_SENDGRID_API_KEY")
    assert not visible(page, "#id_SMTP_HOST")
    assert page.evaluate("window.stillThisPage") is True  # no reload
    shoot(page, "settings-sendgrid")
    page.click("a[href='#group-dkim']")
    assert visible(page, "#id_DKIM_SELECTOR")
    assert page.csp_errors == []


def test_without_javascript_show_its_settings_switches_the_fields(browser: Any, service: Service) -> None:
    context = browser.new_context(viewport=LAPTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, service)
        page.goto(service.url + "/settings/")
        assert not visible(page, "#id_SMTP_HOST")
        page.select_option("#id_EMAIL_PROVIDER", "smtp")
        page.get_by_role("button", name="Show its settings").click()
        assert "These are the settings for smtp. Nothing is saved yet" in page.inner_text("main")
        assert visible(page, "#id_SMTP_HOST")
        assert page.input_value("#id_EMAIL_PROVIDER") == "smtp"
        shoot(page, "settings-no-javascript")
    finally:
        context.close()


def test_a_test_connection_that_hangs_shows_each_stage_and_the_time_left_and_one_result(
    page: Any, service: Service, silent_server: RawServer
) -> None:
    log_in(page, service)
    page.goto(service.url + "/settings/")
    page.select_option("#id_EMAIL_PROVIDER", "smtp")
    page.fill("#id_SMTP_HOST", "localhost")
    page.fill("#id_SMTP_PORT", str(silent_server.port))
    page.select_option("#id_SMTP_SECURITY", "starttls")
    page.fill("#id_SMTP_TIMEOUT", str(STEP_TIMEOUT))
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#test-progress li[data-stage=greeting].running")
    for name in ("Test connection", "Send test email", "Save settings"):
        assert page.locator("#test-card").get_by_role("button", name=name).is_disabled()
    assert page.locator("#test-progress li[data-stage=connect].pass").count() == 1
    assert page.locator("#test-progress li[data-stage=ehlo].pending").count() == 1
    page.wait_for_function(
        "document.getElementById('test-clock').textContent.includes('s left before it times out')"
    )
    assert "Greeting" in page.inner_text("#test-clock")
    shoot(page, "settings-test-running")
    # a second click while the first runs does nothing (the button is disabled)
    page.locator("#test-connection").click(force=True)
    page.wait_for_selector("#test-outcome", timeout=(STEP_TIMEOUT + 20) * 1000)
    assert page.locator("#test-outcome").count() == 1
    assert "failed at greeting" in page.inner_text("#test-outcome")
    assert page.locator("#test-progress li[data-stage=greeting].fail").count() == 1
    assert page.locator("#test-connection").is_enabled()
    assert silent_server.connections == 1
    shoot(page, "settings-test-timed-out")


def test_a_certificate_error_names_the_option_labels_openssl_and_renders_the_steps(
    page: Any, service: Service, untrusted_server: SmtpServer
) -> None:
    log_in(page, service)
    page.goto(service.url + "/settings/")
    page.select_option("#id_EMAIL_PROVIDER", "smtp")
    page.fill("#id_SMTP_HOST", "localhost")
    page.fill("#id_SMTP_PORT", str(untrusted_server.port))
    page.select_option("#id_SMTP_SECURITY", "starttls")
    page.fill("#id_SMTP_TIMEOUT", "5")
    page.get_by_role("button", name="Test connection").click()
    page.wait_for_selector("#test-outcome")
    outcome = page.inner_text("#test-outcome")
    assert "tls.certificate_untrusted" in outcome
    said = page.inner_text("#said-by")
    assert "OpenSSL" in said
    assert "The server said" not in said
    note = page.inner_text("#verify-note")
    assert "Verify certificate" in note
    assert "read the password and every message" in note
    steps = page.locator("#test-outcome ol.steps")
    assert "`" not in steps.inner_text()
    assert steps.locator("code").count() >= 1
    assert "openssl s_client" in steps.locator("code").first.inner_text()
    page.click("#verify-note a[href='#field-SMTP_TLS_VERIFY']")
    assert visible(page, "#id_SMTP_TLS_VERIFY")
    shoot(page, "settings-certificate-error")
