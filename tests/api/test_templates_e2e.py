"""The issue's walk-through, as an application would do it: a "password-reset" template
with {{ reset_url }} and a logo by cid:, previewed, then sent over the API with a PDF; a
real worker delivers it to a real SMTP server; a call missing reset_url is refused; a
reset_url on http://localhost is a links warning on the timeline and in the doctor."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.models import Message
from tests.api.test_attachments import PDF, PNG
from tests.api.test_messages_e2e import deliver_until
from tests.mime_check import perl_parts
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEMPLATE = {
    "name": "password-reset",
    "subject": "Reset your password",
    "html": (
        '<img src="cid:logo" alt="Example">\n'
        "<p>Hello {{ name }},</p>\n"
        '<p><a href="{{ reset_url }}">Choose a new password</a></p>\n'
    ),
    "sample_variables": {"name": "Ann", "reset_url": "https://app.example.com/reset/sample"},
}


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_a_password_reset_goes_from_template_to_server_and_broken_ones_are_caught(
    smtpd_factory: Callable[..., SmtpServer], client: Client
) -> None:
    server = smtpd_factory()
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "accounts@example.com",
            "APP_URL": "https://app.example.com",
        }
    )
    _, plain = ApiKey.issue("accounts-app", ["send", "read"])
    auth = {"Authorization": f"Bearer {plain}"}

    def post(url: str, body: Any) -> Any:
        return client.post(url, json.dumps(body), content_type="application/json", headers=auth)

    assert post("/api/v1/templates", TEMPLATE).status_code == 201
    preview = post("/api/v1/templates/password-reset/render", {}).json()
    assert 'href="https://app.example.com/reset/sample"' in preview["html"]

    files = [
        {"filename": "security-notice.pdf", "content": b64(PDF)},
        {"filename": "logo.png", "content": b64(PNG), "content_id": "logo"},
    ]
    url = "https://app.example.com/reset/9f3c"
    sent = post(
        "/api/v1/messages",
        {
            "to": ["ann@example.net"],
            "template": "password-reset",
            "variables": {"name": "Ann", "reset_url": url},
            "attachments": files,
        },
    )
    assert sent.status_code == 202, sent.json()

    # missing reset_url: refused, named, nothing queued
    refused = post(
        "/api/v1/messages",
        {"to": ["bob@example.net"], "template": "password-reset", "variables": {"name": "Bob"}},
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "variables.reset_url"
    assert "html line 3" in refused.json()["detail"]
    assert Message.objects.count() == 1

    deliver_until(lambda: len(server.delivered) == 1)
    [delivered] = server.delivered
    parsed = email.message_from_bytes(delivered.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Reset your password"
    [pdf] = list(parsed.iter_attachments())
    assert hashlib.sha256(pdf.get_content()).hexdigest() == hashlib.sha256(PDF).hexdigest()
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    assert '<img src="cid:logo"' in html.get_content()
    assert f'href="{url}"' in html.get_content()
    leaves = {leaf.type: leaf for leaf in perl_parts(delivered.data)}
    assert leaves["application/pdf"].sha256 == hashlib.sha256(PDF).hexdigest()
    assert leaves["image/png"].content_id == "<logo>"
    assert 'src="cid:logo"' in leaves["text/html"].text
    assert url in leaves["text/plain"].text  # made from the HTML
    timeline = client.get(f"/api/v1/messages/{sent.json()['id']}", headers=auth).json()["timeline"]
    assert [e["detail"] for e in timeline if e["kind"] == "template"] == [
        "rendered from template password-reset version 1"
    ]
    assert not [e for e in timeline if e["kind"] == "links"]

    # a reset_url on http://localhost: queued, with a links warning, and the doctor says so
    local = post(
        "/api/v1/messages",
        {
            "to": ["carol@example.net"],
            "template": "password-reset",
            "variables": {"name": "Carol", "reset_url": "http://localhost:8000/reset/1"},
        },
    )
    assert local.status_code == 202
    timeline = client.get(f"/api/v1/messages/{local.json()['id']}", headers=auth).json()["timeline"]
    [warning] = [e for e in timeline if e["kind"] == "links"]
    assert "http://localhost:8000/reset/1 points at localhost" in warning["detail"]
    doctor = post("/api/v1/doctor", {"only": ["links"]}).json()
    checks = {c["id"]: c for c in doctor["checks"]}
    assert checks["links.messages"]["status"] == "fail"
    assert "http://localhost:8000/reset/1" in checks["links.messages"]["detail"]
    assert checks["links.templates"]["status"] == "pass"
    assert any(f["code"] == "links.host_mismatch" for f in doctor["findings"])

    # a template version whose sample variables point at localhost fails links.templates
    change = {k: v for k, v in TEMPLATE.items() if k != "name"}
    change["sample_variables"] = {"name": "Ann", "reset_url": "http://localhost:8000/reset/x"}
    assert (
        client.put(
            "/api/v1/templates/password-reset",
            json.dumps(change),
            content_type="application/json",
            headers=auth,
        ).json()["version"]
        == 2
    )
    doctor = post("/api/v1/doctor", {"only": ["links"]}).json()
    checks = {c["id"]: c for c in doctor["checks"]}
    assert checks["links.templates"]["status"] == "fail"
    assert (
        "template password-reset version 2: http://localhost:8000/reset/x"
        in checks["links.templates"]["detail"]
    )
