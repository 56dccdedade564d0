"""The Doctor page: run it, see the stages as a pipeline, the root cause with the
server's words and the steps, the transcript; runs are kept for the overview."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest
from django.test import Client

from postwarden.configstore.runtime import save
from postwarden.console.models import DoctorRun
from postwarden.mailtemplates import store
from tests.console.conftest import DISTINCT_SMTP_PASSWORD
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]


def test_with_nothing_configured_the_root_cause_is_config_missing(settings_client: Client) -> None:
    response = settings_client.post("/doctor/run/")
    run = DoctorRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/doctor/?run={run.pk}"
    assert not run.ok
    assert run.root_cause == "config.missing"
    html = settings_client.get(response["Location"]).content.decode()
    assert "Root cause:" in html
    assert "config.missing" in html
    assert '<li class="fail" title=' in html


def test_a_wrong_password_is_the_root_cause_with_the_servers_words(
    settings_client: Client, smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": "the-right-one"})
    save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "localhost",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USER": "ops",
            "SMTP_PASSWORD": DISTINCT_SMTP_PASSWORD,
            "MAIL_FROM": "ops@example.com",
            "SMTP_TIMEOUT": "5",
        },
        None,
    )
    html = settings_client.post(
        "/doctor/run/", {"to": "dest@example.com"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    run = DoctorRun.objects.get()
    assert run.root_cause == "auth.failed"
    assert "Root cause:" in html
    assert "535 5.7.8 Authentication credentials invalid" in html
    assert "AUTH PLAIN ••••" in html
    assert "SMTP_HOST: saved in the console" in html  # the settings block, sources one per line
    assert DISTINCT_SMTP_PASSWORD not in html
    assert server.delivered == []
    overview = settings_client.get("/").content.decode()
    assert "auth.failed" in overview


def test_a_viewer_sees_reports_but_cannot_run(viewer_client: Client) -> None:
    DoctorRun.objects.create(
        ok=True,
        report={
            "ok": True,
            "root_cause": None,
            "findings": [],
            "checks": [{"id": "network.connect", "status": "pass", "duration_ms": 3, "detail": "connected"}],
        },
    )
    html = viewer_client.get("/doctor/").content.decode()
    assert "No error found" in html
    assert "network.connect" in html
    assert "Run the doctor</button>" not in html
    assert viewer_client.post("/doctor/run/").status_code == 403


def test_a_stored_template_that_does_not_render_is_a_finding_with_its_steps(settings_client: Client) -> None:
    html = '<p>Hello {{ name }}</p>\n<a href="{{ reset_url }}">reset</a>'
    store.save(
        "password-reset", store.TemplateDraft("Reset", None, html, {"name": "Ann"}), by="test", create=True
    )
    settings_client.post("/doctor/run/")
    run = DoctorRun.objects.get()
    [found] = [f for f in run.report["findings"] if f["code"] == "links.template_broken"]
    evidence = "template password-reset version 1, html line 2: variable &#x27;reset_url&#x27; is missing"
    html_page = settings_client.get(f"/doctor/?run={run.pk}").content.decode()
    assert "<code>links.template_broken</code>" in html_page
    assert evidence in html_page
    assert "in the console at /templates/password-reset/" in html_page
    assert "give reset_url in the sample variables of password-reset" in html_page
    assert found["severity"] == "error"


def test_settings_that_cannot_be_used_are_a_run_said_in_the_readers_language(
    settings_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PORT", "abc")
    settings_client.post("/doctor/run/")
    run = DoctorRun.objects.get()
    assert run.root_cause == "config.missing"
    # the stored report is the JSON contract, in English, the variable and its value as written
    [finding] = run.report["findings"]
    assert finding["title"] == "The settings cannot be used"
    assert "SMTP_PORT='abc'" in finding["evidence"]
    assert finding["steps"] == ["Fix SMTP_PORT (environment)."]
    english = settings_client.get(f"/doctor/?run={run.pk}").content.decode()
    assert "The settings cannot be used" in english
    page = settings_client.get(f"/doctor/?run={run.pk}", headers={"Accept-Language": "fa"})
    persian = html.unescape(page.content.decode())
    assert "The settings cannot be used" not in persian
    assert "Fix SMTP_PORT" not in persian
    assert "تنظیمات" in persian
    assert "SMTP_PORT='abc'" in persian
