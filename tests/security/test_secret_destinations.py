"""A saved secret goes only where it was saved for. The settings form keeps a saved secret
when its field is left empty; without this rule a "settings" user (who may not see the
SMTP password) pointed Test connection at a server of their own and received the saved
password in AUTH PLAIN (found by this suite). Now a new host, port, security or
certificate check (a new API URL for a provider key) needs the secret typed again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from postwarden.configstore import runtime
from tests.security.conftest import World
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db
SAVED = "Sv4dPw7-the-saved-smtp-password"
RETYPE = "Type the password again to use it with the new SMTP_PORT."


@pytest.fixture
def servers(world: World, smtpd_factory: Callable[..., SmtpServer]) -> tuple[SmtpServer, SmtpServer]:
    real = smtpd_factory(users={"ops": SAVED}, auth_require_tls=False)
    other = smtpd_factory(users={"ops": "typed-by-hand-1234"}, auth_require_tls=False)
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(real.port),
            "SMTP_SECURITY": "none",
            "SMTP_USER": "ops",
            "SMTP_PASSWORD": SAVED,
            "SMTP_TIMEOUT": "3",
        }
    )
    return real, other


def form(port: int, **more: str) -> dict[str, str]:
    return {
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_USER": "ops",
        "SMTP_TIMEOUT": "3",
        "MAIL_FROM": "ops@example.com",
        **more,
    }


@pytest.mark.parametrize("button", ["/settings/test-connection/", "/settings/send-test/"])
def test_it_does_not_send_the_saved_password_to_a_new_server(
    button: str, world: World, servers: tuple[SmtpServer, SmtpServer]
) -> None:
    _, other = servers
    client: Client = world.clients["settings"]
    answer = client.post(button, form(other.port, test_to="bob@example.com"), HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert answer.content.decode().strip() == f'<p class="flash error">SMTP_PASSWORD: {RETYPE}</p>'
    # the new server was never even contacted: nothing, least of all the password, reached it
    assert (other.connections, other.commands, other.credentials) == (0, [], [])


def test_it_does_not_save_a_new_server_for_the_saved_password(
    world: World, servers: tuple[SmtpServer, SmtpServer]
) -> None:
    real, other = servers
    answer = world.clients["admin"].post("/settings/", {**form(other.port), "action": "save"})
    assert answer.status_code == 200
    assert (
        f'<ul class="errorlist" id="id_SMTP_PASSWORD_error"><li>{RETYPE}</li></ul>' in answer.content.decode()
    )
    assert runtime.stored_values()["SMTP_PORT"] == str(real.port)
    assert (other.connections, other.credentials) == (0, [])


def test_it_uses_a_password_typed_for_the_new_server_and_the_saved_one_for_the_same_server(
    world: World, servers: tuple[SmtpServer, SmtpServer]
) -> None:
    real, other = servers
    client: Client = world.clients["settings"]
    typed = client.post("/settings/test-connection/", form(other.port, SMTP_PASSWORD="typed-by-hand-1234"))
    # exactly the typed password reached the new server, once, and it logged in with it
    assert other.credentials == [("PLAIN", "ops", "typed-by-hand-1234")]
    assert list(other.logins.values()) == ["ops"]
    assert RETYPE not in typed.content.decode()
    same = client.post("/settings/test-connection/", form(real.port), HTTP_HX_REQUEST="true")
    # the saved password, on the server it was saved for, and nowhere else
    assert real.credentials == [("PLAIN", "ops", SAVED)]
    assert list(real.logins.values()) == ["ops"]
    assert all(SAVED not in password for _, _, password in other.credentials)
    assert "failed at" not in same.content.decode()


def test_a_provider_key_needs_typing_again_for_a_new_api_url(world: World) -> None:
    runtime.save({"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "SG.saved-key-for-sendgrid"})
    changed = {
        "EMAIL_ENABLED": "on",
        "EMAIL_PROVIDER": "sendgrid",
        "SENDGRID_API_URL": "http://127.0.0.1:9/v3",
    }
    answer = world.clients["settings"].post("/settings/", {**changed, "action": "save"})
    assert (
        "Type the sendgrid api key again to use it with the new SENDGRID_API_URL." in answer.content.decode()
    )
    assert "SENDGRID_API_URL" not in runtime.stored_values()


def test_a_password_from_the_environment_keeps_its_server(
    world: World, servers: tuple[SmtpServer, SmtpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other = servers
    monkeypatch.setenv("SMTP_PASSWORD", SAVED)
    answer = world.clients["settings"].post(
        "/settings/test-connection/", form(other.port), HTTP_HX_REQUEST="true"
    )
    assert answer.content.decode().strip() == (
        '<p class="flash error">SMTP_PORT: SMTP_PASSWORD is set by the environment: '
        "change SMTP_PORT there too.</p>"
    )
    assert (other.connections, other.credentials) == (0, [])
