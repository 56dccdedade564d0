"""``doctor --send`` with a provider: the test mail goes through the worker's own
transport (the registry's anymail backend), against a local server answering as the
provider's documented API does."""

from __future__ import annotations

import json

import pytest
from pytest_httpserver import HTTPServer

from postwarden.configstore import runtime
from postwarden.core.doctor.context import Options
from postwarden.core.doctor.model import Status
from postwarden.doctor.report import run_doctor
from tests.providers import MAILGUN, mailgun_queued

pytestmark = pytest.mark.django_db
KEY = "key-mAiLgUn-send-d1st1nct1ve"


def save_mailgun(server: HTTPServer) -> None:
    runtime.save(
        {
            "EMAIL_PROVIDER": "mailgun",
            "MAILGUN_API_KEY": KEY,
            "MAILGUN_DOMAIN": "mg.example.com",
            "MAILGUN_API_URL": server.url_for(MAILGUN.base),
            "MAIL_FROM": "ops@mg.example.com",
            "TEST_EMAIL": "dest@example.com",
        }
    )
    server.expect_request("/v3/domains/mg.example.com").respond_with_json(
        {"domain": {"name": "mg.example.com", "state": "active", "type": "custom", "is_disabled": False}}
    )


def test_it_sends_through_the_workers_transport(httpserver: HTTPServer) -> None:
    save_mailgun(httpserver)
    mailgun_queued(httpserver, "<20260101.1.DOCTOR@mg.example.com>")
    report = run_doctor(Options(send=True, only=frozenset({"provider"}), timeout=5))
    send = next(c for c in report.checks if c.id == "provider.send")
    assert (send.status, send.detail) == (
        Status.PASS,
        "accepted; message id <20260101.1.DOCTOR@mg.example.com>",
    )
    sent = [r for r, _ in httpserver.log if r.path == "/v3/mg.example.com/messages"]
    assert len(sent) == 1
    assert sent[0].form.getlist("to") == ["dest@example.com"]
    assert KEY not in json.dumps(report.to_json())


def test_it_reports_what_the_provider_refused(httpserver: HTTPServer) -> None:
    save_mailgun(httpserver)
    MAILGUN.answer(httpserver, 401, "Forbidden")
    report = run_doctor(Options(send=True, only=frozenset({"provider"}), timeout=5))
    send = next(c for c in report.checks if c.id == "provider.send")
    assert send.status is Status.FAIL
    assert [f.code.value for f in report.findings] == ["provider.invalid_credentials"]
    assert report.findings[0].evidence.startswith("HTTP 401: ")
