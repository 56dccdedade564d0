"""A server that echoes the AUTH line in its refusal: the stored attempt must not carry the
password nor its base64 (issue #11). A real aiosmtpd server answers AUTH PLAIN or AUTH
LOGIN with a 535 quoting what the client sent (the base64 line and the decoded password);
the worker sends to it, and then the API's message answer, the console's message page and
the database file are searched for the password in every form the client put on the wire.
The same for a provider's API that quotes the Authorization header it refused.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from django.db import connection
from django.urls import reverse
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from postwarden.configstore import runtime
from postwarden.core.config.model import OAuth2Provider, OAuth2Settings, Security, SmtpAuth, SmtpSettings
from postwarden.core.secrets import Secret
from postwarden.core.smtp.errors import AuthRejected, SmtpError
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.oauthd import IdentityServer
from tests.ports import free_port
from tests.providers import MAILGUN
from tests.security.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)
USER = "ops"
PASSWORD = "Ech0-Pa55-Zq9XkVbN-auth-line"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: every form of the password the client sends in PLAIN (RFC 4616) or LOGIN
FORMS = (PASSWORD, b64(PASSWORD), b64(f"\0{USER}\0{PASSWORD}"))


class Echo:
    """Refuses AUTH PLAIN and AUTH LOGIN with a 535 that quotes the client's lines, as
    some servers do in their error text."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def _refuse(self, line: str, password: str) -> AuthResult:
        reply = f"535 5.7.8 Authentication failed for {line!r} (password {password!r} is wrong)"
        self.said.append(reply)
        return AuthResult(success=False, handled=False, message=reply)

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        token = args[1]  # Postwarden sends the initial response (RFC 4954 4)
        password = base64.b64decode(token).split(b"\0")[-1].decode()
        return self._refuse(f"AUTH PLAIN {token}", password)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        token = base64.b64decode(args[1]).decode().split("auth=Bearer ")[1].split("\x01")[0]
        return self._refuse(f"AUTH XOAUTH2 {args[1]}", token)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        await server.challenge_auth("Username:")
        password = await server.challenge_auth("Password:")
        assert isinstance(password, bytes)
        return self._refuse(base64.b64encode(password).decode(), password.decode())


class LongAuthLines(SMTP):
    """RFC 4954 4: AUTH lines up to 12288 octets (an OAuth2 token alone is 1-2 KB)."""

    line_length_limit = 12290

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_size_limits = collections.defaultdict(lambda: 12288)


class EchoController(Controller):
    handler: Echo

    def factory(self) -> SMTP:
        return LongAuthLines(self.handler, **self.SMTP_kwargs)


def echoing(mechanism: str) -> EchoController:
    others = [m for m in ("PLAIN", "LOGIN", "XOAUTH2", "CRAM-MD5") if m != mechanism]
    return EchoController(
        Echo(),
        hostname="127.0.0.1",
        port=free_port(),
        auth_require_tls=False,
        auth_exclude_mechanism=others,
    )


@pytest.fixture(params=["PLAIN", "LOGIN"])
def echo_server(request: pytest.FixtureRequest) -> Iterator[tuple[Echo, int]]:
    controller = echoing(request.param)
    handler = controller.handler
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def deliver() -> None:
    async def once() -> None:
        worker = Worker(WorkerOptions(worker_id="echo-test", retry_base=60))
        await worker.deliver_step()
        await worker.close()

    asyncio.run(once())


def database_bytes(tmp_path: Path) -> bytes:
    """The whole database as a file (the test database lives in memory)."""
    copy = tmp_path / "copy.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(copy)])
    with sqlite3.connect(copy) as db:  # every text, also in rows a page would not show
        rows = [
            repr(row)
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            for row in db.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - the schema's names
        ]
    return copy.read_bytes() + "\n".join(rows).encode()


def post_one(world: World) -> str:
    sent = world.clients["key:send"].post(
        "/api/v1/messages",
        json.dumps({"to": ["alice@example.com"], "subject": "echo", "text": "x"}),
        content_type="application/json",
    )
    assert sent.status_code == 202, sent.content
    return str(sent.json()["id"])


def assert_nowhere(forms: tuple[str, ...], public_id: str, world: World, tmp_path: Path) -> Attempt:
    """None of ``forms`` in the API's answer, the console's page or the database; the
    attempt that was stored."""
    api = world.clients["key:read"].get(f"/api/v1/messages/{public_id}")
    page = world.clients["viewer"].get(reverse("console:message", args=[public_id]))
    assert api.status_code == page.status_code == 200
    attempt = Attempt.objects.get(recipient__message__public_id=public_id)
    assert attempt.reply
    assert attempt.reply in api.json()["recipients"][0]["last_reply"]
    shown = html.unescape(page.content.decode())
    assert attempt.reply in shown
    stored = database_bytes(tmp_path)
    seen: dict[str, Any] = {"api": api.content.decode(), "page": shown}
    for where, text in seen.items():
        for form in forms:
            assert form not in text, (where, form[:6])
    for form in forms:
        assert form.encode() not in stored, ("database", form[:6])
    return attempt


SMTP_SETTINGS = {
    "EMAIL_PROVIDER": "smtp",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_SECURITY": "none",
    "SMTP_USER": USER,
    "SMTP_TIMEOUT": "5",
    "MAIL_FROM": "ops@example.com",
}


def test_a_reply_echoing_the_auth_line_is_stored_without_the_password(
    world: World, echo_server: tuple[Echo, int], tmp_path: Path
) -> None:
    handler, port = echo_server
    runtime.save({**SMTP_SETTINGS, "SMTP_PORT": str(port), "SMTP_PASSWORD": PASSWORD})
    public_id = post_one(world)
    deliver()

    # the server did echo the secret, and what is stored is that reply, masked
    assert len(handler.said) == 1
    assert any(form in handler.said[0] for form in FORMS[1:])
    attempt = assert_nowhere(FORMS, public_id, world, tmp_path)
    assert attempt.code == 535
    assert attempt.reply.startswith("535 5.7.8 Authentication failed for")
    assert "••••" in attempt.reply
    assert Recipient.objects.get(message__public_id=public_id).last_reply == attempt.reply


@pytest.mark.parametrize("button", ["/settings/test-connection/", "/settings/send-test/"])
def test_the_settings_page_tests_show_the_echo_without_the_password(
    world: World, echo_server: tuple[Echo, int], button: str
) -> None:
    handler, port = echo_server
    runtime.save({**SMTP_SETTINGS, "SMTP_PORT": str(port), "SMTP_PASSWORD": PASSWORD})
    form = {
        **SMTP_SETTINGS,
        "SMTP_PORT": str(port),
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "test_to": "bob@example.com",
    }
    answer = world.clients["settings"].post(button, form, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    shown = html.unescape(answer.content.decode())
    assert len(handler.said) == 1  # the saved password went to the server, which echoed it
    assert "5.7.8" in shown
    for form_ in FORMS:
        assert form_ not in shown, form_[:6]


MAILGUN_KEY = "key-Zq9XkVbN-echoed-by-the-api"


def test_a_provider_error_echoing_the_credentials_is_stored_without_them(
    world: World, httpserver: HTTPServer, tmp_path: Path
) -> None:
    runtime.save(
        {
            "EMAIL_PROVIDER": "mailgun",
            "MAILGUN_API_KEY": MAILGUN_KEY,
            "MAILGUN_DOMAIN": "mg.example.com",
            "MAILGUN_API_URL": httpserver.url_for(MAILGUN.base),
            "MAIL_FROM": "ops@mg.example.com",
        }
    )

    def echo(request: Request) -> Response:  # a gateway that quotes the request it refused
        body = {"message": f"Forbidden: Authorization: {request.headers['Authorization']} is not valid"}
        return Response(json.dumps(body), status=401, content_type="application/json")

    httpserver.expect_request(MAILGUN.send_path, method="POST").respond_with_handler(echo)
    public_id = post_one(world)
    deliver()

    forms = (MAILGUN_KEY, b64(MAILGUN_KEY), b64(f"api:{MAILGUN_KEY}"))
    assert {request.headers["Authorization"] for request, _ in httpserver.log} == {f"Basic {forms[2]}"}
    attempt = assert_nowhere(forms, public_id, world, tmp_path)
    assert attempt.stage == "api"
    assert "Forbidden: Authorization: Basic ••••" in attempt.reply


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_the_session_masks_what_the_server_quotes_of_the_credentials(mechanism: str) -> None:
    """Below the redactor: the SMTP connection itself masks, in the reply to a credentials
    line, the base64 it sent and the password in it, whoever reads the reply next."""
    controller = echoing(mechanism)
    controller.start()
    try:
        endpoint = Endpoint(
            host="127.0.0.1",
            port=controller.port,
            security=Security.NONE,
            timeout=5.0,
            ehlo_name="client.test",
            user=USER,
            password=Secret(PASSWORD),
        )
        with pytest.raises(AuthRejected) as refused:
            asyncio.run(SmtpSession(endpoint).open())
    finally:
        controller.stop()
    said = controller.handler.said
    assert len(said) == 1
    assert any(form in said[0] for form in FORMS)
    shown = f"{refused.value} {refused.value.reply} {refused.value.reply.lines}"  # type: ignore[union-attr]
    assert "535 5.7.8 Authentication failed for" in shown
    for form in FORMS:
        assert form not in shown, form[:6]


TENANT = "contoso.onmicrosoft.test"
APP_SECRET = "Qx8~app-secret-echo-Lantern-2931"


def test_an_oauth2_token_quoted_back_is_masked(identity: IdentityServer) -> None:
    app = identity.register_app(TENANT, secret=APP_SECRET)
    controller = echoing("XOAUTH2")
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=controller.port,
            security=Security.NONE,
            user="alerts@contoso.test",
            timeout=5.0,
            ehlo_name="client.test",
            auth=SmtpAuth.OAUTH2,
            oauth2=OAuth2Settings(
                provider=OAuth2Provider.MICROSOFT,
                tenant_id=TENANT,
                client_id=app.client_id,
                client_secret=Secret(APP_SECRET),
                authority=identity.url,
            ),
        )
        endpoint = Endpoint.from_settings(settings)
        with pytest.raises(SmtpError) as refused:
            asyncio.run(SmtpSession(endpoint).open())
    finally:
        controller.stop()
    said = controller.handler.said  # a refused token is refreshed and tried once more
    assert said
    tokens = [re.findall(r"password '([^']+)'", line)[0] for line in said]
    lines = [re.findall(r"for 'AUTH XOAUTH2 ([^']+)'", line)[0] for line in said]
    assert all(token.count(".") == 2 for token in tokens)  # JWTs, quoted by the server
    shown = f"{refused.value} {refused.value.reply} {refused.value.detail}"
    assert "535 5.7.8 Authentication failed for" in shown
    for secret in (*tokens, *(t[-40:] for t in tokens), *lines):
        assert secret not in shown
