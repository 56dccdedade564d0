"""``postwarden oauth2 connect``: the device-code flow against the local identity server
(tests/oauthd.py), the refresh token saved sealed and never printed, and the first token
fetched with it; refusals in the platform's words."""

from __future__ import annotations

import io

import pytest

from postwarden.cli.django_setup import CommandError
from postwarden.cli.oauth2 import run
from postwarden.configstore import runtime
from postwarden.configstore.models import StoredSetting
from postwarden.core.config.variables import VARIABLES
from tests.oauthd import IdentityServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ssl_cert_file")]
TENANT = "contoso.onmicrosoft.test"
MAILBOX = "person@contoso.test"


@pytest.fixture(autouse=True)
def _no_mail_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for var in VARIABLES:
        if var.storable:
            for name in (var.name, *var.synonyms, f"{var.name}_FILE"):
                monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


def _save(identity: IdentityServer, client_id: str, **more: str) -> None:
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "smtp.office365.com",
            "SMTP_USER": MAILBOX,
            "MAIL_FROM": MAILBOX,
            "SMTP_AUTH": "oauth2",
            "OAUTH2_PROVIDER": "microsoft",
            "OAUTH2_TENANT_ID": TENANT,
            "OAUTH2_CLIENT_ID": client_id,
            "OAUTH2_AUTHORITY": identity.url,
            **more,
        }
    )


def test_it_connects_a_mailbox_with_a_device_code(identity: IdentityServer) -> None:
    app = identity.register_app(TENANT)  # a public client
    identity.user = MAILBOX
    _save(identity, app.client_id)
    out = io.StringIO()

    status = run(["connect"], out=out)

    text = out.getvalue()
    assert status == 0, text
    lines = text.splitlines()
    assert lines[0].startswith(f"To sign in, use a web browser to open the page {identity.url}/devicelogin")
    assert lines[-1].startswith(
        "Connected. The refresh token is saved (sealed) as OAUTH2_REFRESH_TOKEN; "
        f"token from 127.0.0.1:{identity.port} for client {app.client_id}, expires in"
    )
    saved = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    assert saved in identity.grants
    assert identity.grants[saved].user == MAILBOX
    assert StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN").sealed
    assert saved not in text
    assert [kind for kind, _, _ in identity.issued] == [
        "urn:ietf:params:oauth:grant-type:device_code",
        "refresh_token",
    ]


def test_it_explains_why_a_confidential_app_cannot_use_the_device_flow(identity: IdentityServer) -> None:
    app = identity.register_app(TENANT, secret="s3cret-value-of-the-app")
    _save(identity, app.client_id, OAUTH2_CLIENT_SECRET="s3cret-value-of-the-app")

    with pytest.raises(CommandError, match="the device-code flow is for public clients"):
        run(["connect"], out=io.StringIO())


def test_it_says_what_the_platform_refused(identity: IdentityServer) -> None:
    identity.register_app(TENANT)  # the tenant exists; the client id below is not in it
    _save(identity, "00000000-0000-0000-0000-00000000beef")
    out = io.StringIO()

    assert run(["connect"], out=out) == 1

    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith(
            f"Not connected: token request to 127.0.0.1:{identity.port} failed: unauthorized_client: "
            "AADSTS700016: Application with identifier '00000000-0000-0000-0000-00000000beef' was not found"
        )
    )
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()


class _Person(io.StringIO):
    """The person at the terminal: opens the printed sign-in URL in "a browser" (the
    identity server signs them in and redirects) and pastes the address it was sent to."""

    def __init__(self, out: io.StringIO, *, tamper: str | None = None) -> None:
        super().__init__()
        self.out, self.tamper = out, tamper
        self.url = ""

    def readline(self, size: int | None = -1) -> str:
        import os

        import requests

        self.url = next(line for line in self.out.getvalue().splitlines() if line.startswith("https://"))
        back = requests.get(self.url, allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"])
        location = back.headers["Location"]
        if self.tamper:
            location = location.replace("state=", f"state={self.tamper}")
        return location + "\n"


def _save_google(identity: IdentityServer, client_id: str) -> None:
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "smtp.gmail.com",
            "SMTP_USER": MAILBOX,
            "MAIL_FROM": MAILBOX,
            "SMTP_AUTH": "oauth2",
            "OAUTH2_PROVIDER": "google",
            "OAUTH2_CLIENT_ID": client_id,
            "OAUTH2_CLIENT_SECRET": "GOCSPX-desktop-client-secret",
            "OAUTH2_AUTHORIZATION_URL": f"{identity.url}/google/auth",
            "OAUTH2_TOKEN_URL": f"{identity.url}/google/token",
        }
    )


def test_it_connects_a_google_mailbox_through_the_sign_in_url(identity: IdentityServer) -> None:
    from urllib.parse import parse_qs, urlsplit

    app = identity.register_app("google", secret="GOCSPX-desktop-client-secret")
    identity.user = MAILBOX
    _save_google(identity, app.client_id)
    out = io.StringIO()
    person = _Person(out)

    status = run(["connect"], out=out, inp=person)

    text = out.getvalue()
    assert status == 0, text
    asked = parse_qs(urlsplit(person.url).query)
    assert asked["redirect_uri"] == ["http://127.0.0.1/"]
    assert asked["scope"] == ["https://mail.google.com/"]
    assert asked["access_type"] == ["offline"]
    assert asked["code_challenge_method"] == ["S256"]
    assert text.splitlines()[0] == f"Open this address in a browser on any device and sign in as {MAILBOX}:"
    assert text.splitlines()[-1].startswith(
        "Connected. The refresh token is saved (sealed) as OAUTH2_REFRESH_TOKEN; "
        f"token from 127.0.0.1:{identity.port} for client {app.client_id}, expires in"
    )
    saved = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    assert identity.grants[saved].user == MAILBOX
    assert StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN").sealed
    assert saved not in text
    assert "GOCSPX-desktop-client-secret" not in text
    assert [kind for kind, _, _ in identity.issued] == ["authorization_code", "refresh_token"]


def test_it_refuses_a_pasted_address_of_another_sign_in(identity: IdentityServer) -> None:
    app = identity.register_app("google", secret="GOCSPX-desktop-client-secret")
    _save_google(identity, app.client_id)
    out = io.StringIO()

    assert run(["connect"], out=out, inp=_Person(out, tamper="x")) == 1

    assert "Not connected: " in out.getvalue()
    assert "the answer's state is not this sign-in's" in out.getvalue()
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()
    assert identity.issued == []
