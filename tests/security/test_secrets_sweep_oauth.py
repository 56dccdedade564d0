"""The secrets sweep (test_secrets_sweep.py) for SMTP_AUTH=oauth2: a client secret, a
certificate's key, a service account key and a refresh token saved in the console, and
every access token the local identity server (tests/oauthd.py) issued. The console's
settings page, Test connection and Send test email (signed in, and refused by Exchange
and by the identity platform), the doctor page and API, and a worker delivering through
XOAUTH2: none of the answers, log records, the log file or the database's rows may hold
one of them in a recognisable form (the sealed settings included)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client

from postwarden.accounts.bootstrap import create_admin
from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.configstore.models import StoredSetting
from postwarden.configstore.runtime import current_settings
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.oauthd import BearerCheck, IdentityServer, self_signed
from tests.reliability.figures import report
from tests.security.leaks import Secret, sweep
from tests.security.leaks import forms as recognisable
from tests.security.test_secrets_sweep import at_rest, body, log_file
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_env", "ssl_cert_file")]
ADMIN, ADMIN_PASSWORD = "alice@example.com", "Ad0mInPw5-oauth-sweep-admin"
MAILBOX = "alerts@contoso.test"
TENANT = "contoso.onmicrosoft.test"
CLIENT_SECRET = "Oc1sEcRt7-oauth-client-secret~do-not-leak"
WRONG_SECRET = "Oc2wRoNg8-typed-wrong-client-secret"
GOOGLE_SECRET = "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"


def _settings(server: SmtpServer, identity: IdentityServer, client_id: str, **more: str) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "localhost",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "starttls",
        "SMTP_USER": MAILBOX,
        "SMTP_TIMEOUT": "5",
        "SMTP_AUTH": "oauth2",
        "OAUTH2_PROVIDER": "microsoft",
        "OAUTH2_TENANT_ID": TENANT,
        "OAUTH2_CLIENT_ID": client_id,
        "OAUTH2_AUTHORITY": identity.url,
        "MAIL_FROM": MAILBOX,
        **more,
    }


def _deliver() -> None:
    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="sweep", retry_base=0.01), settings_source=current_settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def _console(client: Client, form: dict[str, str], outputs: dict[str, str], label: str) -> None:
    for url, extra in (
        ("/settings/test-connection/", {}),
        ("/settings/send-test/", {"test_to": "bob@example.com"}),
    ):
        answer = client.post(
            url, {**form, "EMAIL_ENABLED": "on", "SMTP_TLS_VERIFY": "on", **extra}, HTTP_HX_REQUEST="true"
        )
        assert answer.status_code == 200, url
        outputs[f"{label} POST {url}"] = body(answer)
    outputs[f"{label} GET /settings/"] = body(client.get("/settings/"))
    outputs[f"{label} POST /doctor/run/"] = body(client.post("/doctor/run/", {}, follow=True))


def test_no_answer_log_or_row_holds_an_oauth2_secret_or_token(
    smtpd_factory: Callable[..., SmtpServer],
    identity: IdentityServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    caplog.set_level(logging.DEBUG)
    pem, certificate = self_signed()
    app = identity.register_app(TENANT, secret=CLIENT_SECRET, certificate=certificate)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    generic = identity.register_app("generic")
    refresh = identity.register_refresh_token(generic.client_id, MAILBOX, "smtp")
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})
    create_admin(ADMIN, ADMIN_PASSWORD)
    client = Client()
    assert client.post("/login/", {"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 302
    _, api_key = ApiKey.issue("sweep", ["admin"])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    outputs: dict[str, str] = {}

    # 1. a client secret, saved; the app signs in and the mail goes out
    saved = _settings(server, identity, app.client_id, OAUTH2_CLIENT_SECRET=CLIENT_SECRET)
    runtime.save(saved)
    enqueue(Outgoing(to=["carol@example.org"], subject="Hi", text="x"), settings=current_settings())
    _deliver()
    _console(client, {k: v for k, v in saved.items() if k != "OAUTH2_CLIENT_SECRET"}, outputs, "secret")
    outputs["POST /api/v1/doctor"] = body(
        api.post(
            "/api/v1/doctor",
            json.dumps({"timeout": 5, "send": True, "to": "bob@example.com"}),
            content_type="application/json",
        )
    )
    # 2. Exchange refuses the app's tokens: the error paths (transcript, explanation) run
    check.mailboxes.clear()
    _console(client, {k: v for k, v in saved.items() if k != "OAUTH2_CLIENT_SECRET"}, outputs, "refused")
    enqueue(Outgoing(to=["dave@example.org"], subject="Hi", text="x"), settings=current_settings())
    _deliver()
    check.mailboxes[app.client_id] = {MAILBOX}
    # 3. a wrong secret typed into the form: the identity platform refuses it
    _console(client, {**saved, "OAUTH2_CLIENT_SECRET": WRONG_SECRET}, outputs, "wrong secret")
    # 4. a certificate, a service account key and a refresh token, saved in turn
    for label, more in (
        ("cert", {"OAUTH2_CLIENT_CERT": pem, "OAUTH2_CLIENT_SECRET": ""}),
        ("service account", {"OAUTH2_PROVIDER": "google", "OAUTH2_SERVICE_ACCOUNT": json.dumps(key)}),
        (
            "refresh token",
            {
                "OAUTH2_PROVIDER": "generic",
                "OAUTH2_TOKEN_URL": f"{identity.url}/generic/token",
                "OAUTH2_CLIENT_ID": generic.client_id,
                "OAUTH2_REFRESH_TOKEN": refresh,
            },
        ),
    ):
        runtime.save({**saved, **more})
        _console(
            client,
            {
                k: v
                for k, v in {**saved, **more}.items()
                if not k.startswith("OAUTH2_C") or k == "OAUTH2_CLIENT_ID"
            },
            outputs,
            label,
        )

    # 5. a person's Google mailbox connected through the console (authorization code with
    # PKCE), then its refresh token rotated by the platform and saved again by the worker
    google = identity.register_app("google", secret=GOOGLE_SECRET)
    identity.user = MAILBOX
    identity.rotate_refresh_tokens = True
    runtime.save(
        {
            **saved,
            "OAUTH2_PROVIDER": "google",
            "OAUTH2_CLIENT_ID": google.client_id,
            "OAUTH2_CLIENT_SECRET": GOOGLE_SECRET,
            "OAUTH2_REFRESH_TOKEN": "",
            "OAUTH2_AUTHORIZATION_URL": f"{identity.url}/google/auth",
            "OAUTH2_TOKEN_URL": f"{identity.url}/google/token",
        }
    )
    started = client.post("/settings/oauth2/connect/")
    outputs["POST /settings/oauth2/connect/ (Location)"] = started["Location"]
    back = requests.get(
        started["Location"], allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"]
    )
    callback = urlsplit(back.headers["Location"])
    outputs["GET /settings/oauth2/callback/"] = body(
        client.get(f"{callback.path}?{callback.query}", follow=True)
    )
    connected = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    enqueue(Outgoing(to=["erin@example.org"], subject="Hi", text="x"), settings=current_settings())
    _deliver()  # a token from the connected mailbox's refresh token, which the platform rotates
    _console(client, {k: v for k, v in saved.items() if k != "OAUTH2_CLIENT_SECRET"}, outputs, "google")

    secrets = [
        Secret("client secret", CLIENT_SECRET),
        Secret("Google client secret", GOOGLE_SECRET),
        *(Secret(f"refresh token {i}", token) for i, token in enumerate(identity.grants)),
        Secret("typed wrong secret", WRONG_SECRET),
        Secret("certificate key", pem.split("-----BEGIN CERTIFICATE-----")[0]),
        Secret("service account key", str(key["private_key"])),
        Secret("refresh token", refresh),
        Secret("admin password", ADMIN_PASSWORD),
        # a JWT's header and claims look alike in every token; its signature is its own
        *(Secret(f"access token {i}", token.rsplit(".", 1)[1]) for i, token in enumerate(identity.tokens)),
    ]
    outputs["log records"] = "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("mail.log")
    )
    outputs["log file"] = log_file()
    outputs["stderr"] = capfd.readouterr().err
    outputs["database"] = at_rest()

    # the paths ran: mail went out over XOAUTH2, refusals were explained, every form signed in
    assert len(identity.tokens) >= 5
    assert Recipient.objects.get(address="carol@example.org").state == "sent"
    assert Recipient.objects.get(address="dave@example.org").state == "deferred"
    assert "auth.token_refused" in outputs["refused POST /settings/test-connection/"]
    assert "AADSTS7000215" in outputs["wrong secret POST /settings/test-connection/"]
    assert "AUTH XOAUTH2 accepted" in outputs["cert POST /settings/test-connection/"]
    for label in ("service account", "refresh token"):  # tokens issued, then refused by "Exchange"
        assert "[OAuth2 token from" in outputs[f"{label} POST /settings/test-connection/"], label
    assert StoredSetting.objects.filter(name="OAUTH2_REFRESH_TOKEN", sealed=True).exists()
    assert "Connected: the mailbox" in outputs["GET /settings/oauth2/callback/"]
    rotated = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    assert rotated != connected
    assert identity.grants[connected].revoked
    assert len(identity.grants) >= 3
    assert sweep(outputs, secrets) == []
    report(
        request,
        "secrets sweep (OAuth2)",
        secrets=len(secrets),
        surfaces=len(outputs),
        forms=sum(len(recognisable(s)) for s in secrets),
    )
