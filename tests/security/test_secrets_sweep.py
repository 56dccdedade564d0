"""The secrets sweep of issue #8, inside one web process: distinctive secrets seeded in the
console's settings store and in the environment (tests/security/leaks.py), an admin whose
password is POSTWARDEN_ADMIN_PASSWORD and an API key; then every console page, the
settings form and its test buttons against a local SMTP server that REFUSES the password
(so the error paths run, transcript included), the doctor, every API operation, every
provider's webhook, /metrics and /healthz. None of the answers (bodies and headers), the
log records, the process's log file in the data directory or the database's rows (the
sealed settings included) may hold a secret or a recognisable form of it.

The CLI commands and a worker process are swept by test_secrets_cli.py."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import serializers
from django.db.models import Model
from django.http import HttpResponseBase
from django.test import Client
from django.urls import reverse

from postwarden.accounts.bootstrap import create_admin
from postwarden.accounts.models import ApiKey, Member, MemberGroup
from postwarden.canaries import store as canary_store
from postwarden.canaries.models import Canary
from postwarden.canaries.runner import run_due
from postwarden.configstore import runtime
from postwarden.configstore.models import StoredSetting
from postwarden.console.access import ACCESS
from postwarden.mailtemplates import store
from postwarden.outbox.attachments import FileIn
from postwarden.webhooks.views import HOOKS
from tests.console.helpers import ATTACHED, capture_one, enqueue_one
from tests.dnsd import DnsTestServer
from tests.reliability.figures import report
from tests.security.leaks import (
    ENVIRONMENT,
    SMTP_USER,
    STORED,
    WRONG_PASSWORD,
    Secret,
    dkim_key,
    seeded,
    sweep,
)
from tests.security.leaks import forms as recognisable
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_env")]
ADMIN = "alice@example.com"
#: a new SMTP password typed into the settings form (not saved: the form has a typo)
TYPED_PASSWORD = "Ty6pEdPw9-typed-into-the-form-do-not-leak"
#: a canary mailbox's IMAP password, given in the console and the API
IMAP_PASSWORD = "Im4pPw7-canary-mailbox-do-not-leak"
SMTP_FORM = {
    "EMAIL_ENABLED": "on",
    "EMAIL_PROVIDER": "smtp",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_SECURITY": "none",
    "SMTP_USER": SMTP_USER,
    "SMTP_TIMEOUT": "3",
    "MAIL_FROM": "ops@example.com",
}


def body(response: HttpResponseBase) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n\n" + raw.decode("utf-8", "replace")


def seed(server: SmtpServer, dns: DnsTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POSTWARDEN_DNS_SERVER", dns.address)
    runtime.save(
        {
            **STORED,
            **{k: v for k, v in SMTP_FORM.items() if k != "EMAIL_ENABLED"},
            "SMTP_PORT": str(server.port),
            "DKIM_PRIVATE_KEY": dkim_key(),
            "DKIM_SELECTOR": "s1",
            "DKIM_DOMAIN": "example.com",
        }
    )


def log_in(outputs: dict[str, str]) -> Client:
    create_admin(ADMIN, ENVIRONMENT["POSTWARDEN_ADMIN_PASSWORD"])
    client = Client()
    outputs["login: wrong password"] = body(
        client.post("/login/", {"username": ADMIN, "password": WRONG_PASSWORD})
    )
    answer = client.post("/login/", {"username": ADMIN, "password": ENVIRONMENT["POSTWARDEN_ADMIN_PASSWORD"]})
    assert answer.status_code == 302
    outputs["login"] = body(answer)
    return client


def console_pages(client: Client, outputs: dict[str, str]) -> None:
    message = enqueue_one(files=[FileIn("r.csv", b"a,b\r\n")])
    template = store.save(
        "welcome", store.TemplateDraft("Hi {{ name }}", "Hello {{ name }}"), by="test", create=True
    )
    args: dict[str, dict[str, object]] = {
        "message_attachment": {"public_id": message.public_id, "index": 0},
        "template": {"name": template.template.name},
        "template_diff": {"name": template.template.name},
        "template_send_test": {"name": template.template.name},
        "template_delete": {"name": template.template.name},
        "message": {"public_id": message.public_id},
        "message_html": {"public_id": message.public_id},
        "message_raw": {"public_id": message.public_id},
        "member": {"pk": Member.objects.create(email="m@example.com").pk},
        "group": {"pk": MemberGroup.objects.create(name="ops").pk},
        "apikey_revoke": {"pk": ApiKey.issue("victim", ["send"])[0].pk},
        "user": {"pk": client.session["_auth_user_id"]},
    }
    canary = canary_store.create(
        canary_store.CanaryInput(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=9,
            imap_security="none",
            imap_user="canary@example.com",
            imap_password=IMAP_PASSWORD,
        )
    )
    # a run against a mailbox that is not there: its failure is on the pages too
    run_due()
    for name in ("canary", "canary_run", "canary_delete"):
        args[name] = {"pk": canary.pk}
    captured = capture_one(ATTACHED)
    for name in ("captured_message", "captured_html", "captured_raw"):
        args[name] = {"captured_id": captured}
    args["captured_attachment"] = {"captured_id": captured, "index": 0}
    for name in ACCESS:
        if name not in ("logout", "login"):
            url = reverse(f"console:{name}", kwargs=args.get(name))
            response = client.get(url, follow=True)
            assert response.status_code == 200, (url, response.status_code)
            outputs[f"GET {url}"] = body(response)


def console_forms(client: Client, server: SmtpServer, outputs: dict[str, str]) -> None:
    form = {**SMTP_FORM, "SMTP_PORT": str(server.port), "SMTP_TLS_VERIFY": "on"}
    for url, extra in (
        ("/settings/test-connection/", {}),
        ("/settings/send-test/", {"test_to": "bob@example.com"}),
        ("/settings/dkim/check/", {}),
    ):
        for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.post(url, {**form, **extra}, **htmx)  # type: ignore[arg-type]
            assert response.status_code == 200, url
            outputs[f"POST {url} {bool(htmx)}"] = body(response)
    generated = client.post("/settings/dkim/generate/", {"selector": "s2"}, follow=True)
    outputs["POST /settings/dkim/generate/"] = body(generated)
    outputs["POST /doctor/run/"] = body(client.post("/doctor/run/", {}, follow=True))
    outputs["POST /settings/"] = body(client.post("/settings/", {**form, "action": "save"}, follow=True))
    # a password typed into the form is used by the test buttons and never shown back
    typed = {**form, "SMTP_PASSWORD": TYPED_PASSWORD}
    outputs["POST test-connection typed"] = body(
        client.post("/settings/test-connection/", typed, HTTP_HX_REQUEST="true")
    )
    outputs["POST /settings/ typed, bad port"] = body(
        client.post("/settings/", {**typed, "SMTP_PORT": "x", "action": "save"})
    )
    # a typo in a field: the form comes back with what was typed, never the stored password
    outputs["POST /settings/ bad port"] = body(
        client.post("/settings/", {**form, "SMTP_PORT": "x", "action": "save"})
    )
    typed_canary = {
        "address": "c2@example.com",
        "imap_host": "127.0.0.1",
        "imap_port": "9",
        "imap_security": "none",
        "imap_user": "c2@example.com",
        "imap_password": IMAP_PASSWORD,
        "interval_minutes": "4",
        "deadline_minutes": "10",
        "slow_seconds": "300",
    }
    outputs["POST /canaries/ bad interval"] = body(client.post("/canaries/", typed_canary))
    outputs["POST /canaries/"] = body(
        client.post("/canaries/", {**typed_canary, "interval_minutes": "60"}, follow=True)
    )
    # the test alert fails on the stored destination: its reason is shown, never the URL
    outputs["POST /alerts/test/"] = body(client.post("/alerts/test/", follow=True))
    typed_url = f"nosuch://127.0.0.1/{IMAP_PASSWORD}"
    outputs["POST /alerts/ unknown service"] = body(client.post("/alerts/", {"url": typed_url}))
    outputs["POST /alerts/"] = body(
        client.post("/alerts/", {"url": f"json://127.0.0.1:9/{IMAP_PASSWORD}"}, follow=True)
    )
    outputs["POST /api-keys/"] = body(
        client.post("/api-keys/", {"name": "ci", "scopes": ["send"]}, follow=True)
    )


def api_calls(key: str, outputs: dict[str, str]) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    sent = client.post(
        "/api/v1/messages",
        {"to": ["bob@example.com"], "subject": "Hi", "text": "Hello"},
        content_type="application/json",
    )
    assert sent.status_code == 202, sent.content
    public_id = sent.json()["id"]
    canary_id = Canary.objects.order_by("pk").values_list("pk", flat=True).first()
    calls: list[tuple[str, str, object]] = [
        ("get", "/api/v1/messages", None),
        ("get", f"/api/v1/messages/{public_id}", None),
        ("post", f"/api/v1/messages/{public_id}/requeue", None),
        ("post", f"/api/v1/messages/{public_id}/cancel", None),
        (
            "post",
            "/api/v1/messages/batch",
            {"messages": [{"to": ["b@example.com"], "subject": "x", "text": "x"}]},
        ),
        ("get", "/api/v1/recipients/suggest?q=m", None),
        ("post", "/api/v1/suppressions", {"address": "gone@example.com"}),
        ("get", "/api/v1/suppressions", None),
        ("delete", "/api/v1/suppressions/gone@example.com", None),
        ("get", "/api/v1/bounces", None),
        ("get", "/api/v1/bounces?outcome=unknown_message", None),
        ("post", "/api/v1/doctor", {"timeout": 3}),
        ("post", "/api/v1/doctor", {"timeout": 3, "send": True, "to": "bob@example.com"}),
        (
            "post",
            "/api/v1/canaries",
            {
                "address": "c3@example.com",
                "imap_host": "127.0.0.1",
                "imap_port": 9,
                "imap_user": "c3@example.com",
                "imap_password": IMAP_PASSWORD,
            },
        ),
        (
            "post",
            "/api/v1/canaries",
            {"address": "x", "imap_host": "h", "imap_user": "u", "imap_password": IMAP_PASSWORD},
        ),
        ("get", "/api/v1/canaries", None),
        ("get", f"/api/v1/canaries/{canary_id}/runs", None),
        ("post", f"/api/v1/canaries/{canary_id}/run", None),
        ("get", "/api/openapi.json", None),
        ("get", "/api/docs", None),
    ]
    for method, url, payload in calls:
        call: Callable[..., HttpResponseBase] = getattr(client, method)
        response = call(url, json.dumps(payload) if payload else "", content_type="application/json")
        assert response.status_code < 500, (url, response.status_code)
        outputs[f"{method.upper()} {url}"] = body(response)
    outputs["sent"] = body(sent)


def machines(outputs: dict[str, str]) -> None:
    client = Client()
    for url in ("/metrics", "/healthz"):
        outputs[f"GET {url}"] = body(client.get(url))
    basic = ENVIRONMENT["POSTWARDEN_WEBHOOK_SECRET"]
    for provider in HOOKS:
        url = f"/webhooks/{provider}/tracking/"
        for auth in ("", "wrong:credentials", basic):
            headers = {"HTTP_AUTHORIZATION": f"Basic {_b64(auth)}"} if auth else {}
            response = client.post(url, '{"event": "x"}', content_type="application/json", **headers)  # type: ignore[arg-type]
            assert response.status_code < 500, (provider, response.status_code)
            assert response.status_code != 200 or auth == basic, provider
            outputs[f"POST {url} {auth[:4]}"] = body(response)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def at_rest() -> str:
    """Every row of every table as JSON (sealed settings and key hashes included)."""
    from django.apps import apps

    rows: list[Model] = []
    for model in apps.get_models():
        rows += list(model._default_manager.all())
    return str(serializers.serialize("json", rows))


def log_file() -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    path = Path(django_settings.DATA_DIR) / "logs"
    return "\n".join(p.read_text("utf-8", "replace") for p in path.glob(f"*-{os.getpid()}.jsonl*"))


def test_no_answer_log_or_row_holds_a_secret(
    smtpd_factory: Callable[..., SmtpServer],
    dns_server: DnsTestServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    settings: object,
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings.SECRET_KEY = ENVIRONMENT["POSTWARDEN_SECRET_KEY"]  # type: ignore[attr-defined]
    server = smtpd_factory(users={SMTP_USER: "the server wants another one"}, auth_require_tls=False)
    seed(server, dns_server, monkeypatch)
    outputs: dict[str, str] = {}
    client = log_in(outputs)
    console_pages(client, outputs)
    console_forms(client, server, outputs)
    _, key = ApiKey.issue("sweep", ["admin"])
    api_calls(key, outputs)
    machines(outputs)
    # after the console generated a key of its own, that one is a secret too
    stored_dkim = runtime.stored_values()["DKIM_PRIVATE_KEY"]
    secrets = seeded(
        Secret("dkim key", dkim_key()),
        Secret("generated dkim key", stored_dkim),
        Secret("typed password", TYPED_PASSWORD),
        Secret("imap password", IMAP_PASSWORD),
        Secret("api key", key.split("_", 2)[2]),
    )
    # the test SMTP server's own log (aiosmtpd's "mail.log") is not Postwarden's output
    outputs["log records"] = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("mail.log")
    )
    outputs["log file"] = log_file()
    outputs["stderr"] = capfd.readouterr().err
    outputs["database"] = at_rest()
    assert server.auth_attempts, "the SMTP server was asked to authenticate"
    assert StoredSetting.objects.filter(name="SMTP_PASSWORD", sealed=True).exists()
    # the error paths ran: the server's refusal is shown and logged, the password masked
    assert "535" in outputs["POST /settings/test-connection/ True"]
    assert "AUTH PLAIN ••••" in outputs["POST /settings/send-test/ True"]
    assert '"finding": "auth.failed"' in outputs["log file"]
    assert "••••leak" in outputs["GET /settings/"]
    assert sweep(outputs, secrets) == []
    report(
        request,
        "secrets sweep (web process)",
        secrets=len(secrets),
        surfaces=len(outputs),
        forms=sum(len(recognisable(s)) for s in secrets),
    )
    assert len(outputs) >= 60
