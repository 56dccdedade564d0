"""Email settings with SMTP_AUTH=oauth2: the presets, Test connection and Send test email
showing the token step against the local identity server (tests/oauthd.py) and an
Exchange-like SMTP server, and the OAuth2 secrets kept as every other secret is."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import pytest
from django.test import Client

from postwarden.configstore import runtime
from tests.oauthd import BearerCheck, IdentityServer
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.usefixtures("clean_env", "ssl_cert_file")]
Smtpd = Callable[..., SmtpServer]
MAILBOX = "alerts@contoso.test"
TENANT = "contoso.onmicrosoft.test"
SECRET = "Cs9~Zq9XkVbN-client-secret-do-not-leak"


@pytest.fixture
def exchange(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck, str]:
    app = identity.register_app(TENANT, secret=SECRET)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    return smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",)), check, app.client_id


def form(server: SmtpServer, identity: IdentityServer, client_id: str, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "smtp",
        "EMAIL_ENABLED": "on",
        "SMTP_TLS_VERIFY": "on",
        "SMTP_HOST": "localhost",
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": "starttls",
        "SMTP_USER": MAILBOX,
        "SMTP_TIMEOUT": "5",
        "SMTP_EHLO_NAME": "client.test",
        "SMTP_AUTH": "oauth2",
        "OAUTH2_PROVIDER": "microsoft",
        "OAUTH2_TENANT_ID": TENANT,
        "OAUTH2_CLIENT_ID": client_id,
        "OAUTH2_CLIENT_SECRET": SECRET,
        "OAUTH2_AUTHORITY": identity.url,
        "MAIL_FROM": MAILBOX,
        **extra,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("preset", "host", "provider"),
    [("office365_oauth2", "smtp.office365.com", "microsoft"), ("google_oauth2", "smtp.gmail.com", "google")],
)
def test_the_oauth2_presets_fill_host_port_security_and_the_identity_platform(
    settings_client: Client, preset: str, host: str, provider: str
) -> None:
    html = settings_client.post("/settings/", {"action": "preset", "preset": preset}).content.decode()

    assert re.search(rf'name="SMTP_HOST" value="{re.escape(host)}"', html)
    assert re.search(r'name="SMTP_PORT" value="587"', html)
    assert re.search(r'<option value="starttls" selected>', html)
    assert re.search(r'<option value="oauth2" selected>', html)
    assert re.search(rf'<option value="{provider}" selected>', html)
    assert "Microsoft 365 (OAuth2)" in html
    assert "Google Workspace (OAuth2)" in html


@pytest.mark.django_db
def test_test_connection_shows_the_token_step(
    settings_client: Client, exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange

    html = settings_client.post(
        "/settings/test-connection/", form(server, identity, client_id), HTTP_HX_REQUEST="true"
    ).content.decode()

    assert "Connected: the server accepted the connection, TLS and the credentials" in html
    assert f"OAuth2 token from 127.0.0.1:{identity.port} for client {client_id}, expires in 35" in html
    assert "AUTH XOAUTH2 accepted" in html
    assert check.attempts == [(MAILBOX, "ok")]
    assert SECRET not in html


@pytest.mark.django_db
def test_test_connection_names_a_wrong_secret_in_microsofts_words(
    settings_client: Client, exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange

    html = settings_client.post(
        "/settings/test-connection/",
        form(server, identity, client_id, OAUTH2_CLIENT_SECRET="Wr0ng-client-secret-xyz"),
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "AADSTS7000215: Invalid client secret provided." in html
    assert "auth.token_invalid_client" in html
    assert "Certificates &amp; secrets" in html
    assert "Wr0ng-client-secret-xyz" not in html
    assert check.attempts == []


@pytest.mark.django_db(transaction=True)
def test_send_test_email_goes_out_over_xoauth2_and_shows_the_token_step(
    settings_client: Client, exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange

    html = settings_client.post(
        "/settings/send-test/",
        form(server, identity, client_id, test_to="dest@example.com"),
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert "Accepted by the server for dest@example.com" in html, html
    assert f"[OAuth2 token from 127.0.0.1:{identity.port} for client {client_id}" in html
    assert "C: AUTH XOAUTH2 ••••" in html
    assert [m.login for m in server.delivered] == [MAILBOX]
    assert SECRET not in html


@pytest.mark.django_db
def test_a_settings_user_cannot_read_the_saved_secret_nor_send_it_elsewhere(
    settings_client: Client, exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange
    runtime.save(form(server, identity, client_id))

    page = settings_client.get("/settings/").content.decode()
    moved = settings_client.post(
        "/settings/test-connection/",
        form(server, identity, client_id, OAUTH2_CLIENT_SECRET="", OAUTH2_AUTHORITY="https://127.0.0.1:9"),
        HTTP_HX_REQUEST="true",
    ).content.decode()

    assert SECRET not in page
    assert SECRET[:-4] not in page
    assert "Type the client secret again to use it with the new OAUTH2_AUTHORITY." in moved
    assert identity.requests == []


def _saved_delegated(identity: IdentityServer, server: SmtpServer, client_id: str) -> None:
    saved = form(server, identity, client_id)
    del saved["OAUTH2_CLIENT_SECRET"]  # a public client: a person's mailbox
    runtime.save({k: v for k, v in saved.items() if k != "EMAIL_ENABLED"})


@pytest.mark.django_db
def test_connect_account_signs_the_person_in_and_saves_the_refresh_token_sealed(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    import asyncio
    from urllib.parse import urlsplit

    import requests

    from postwarden.configstore.models import StoredSetting
    from postwarden.configstore.runtime import current_settings
    from postwarden.core.smtp.session import Endpoint, SmtpSession

    app = identity.register_app(TENANT)
    identity.user = MAILBOX
    check = BearerCheck(identity, "exchange")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    _saved_delegated(identity, server, app.client_id)

    started = settings_client.post("/settings/oauth2/connect/")
    assert started.status_code == 302
    assert started["Location"].startswith(f"{identity.url}/{TENANT}/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in started["Location"]
    # the browser at the platform: it signs the person in and sends them back with a code
    back = requests.get(
        started["Location"], allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"]
    )
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/settings/oauth2/callback/"
    done = settings_client.get(f"{callback.path}?{callback.query}", follow=True)

    html = done.content.decode()
    assert (
        f"Connected: the mailbox&#x27;s refresh token is saved (sealed). Postwarden signs in as {MAILBOX}"
        in html
    )
    row = StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN")
    assert row.sealed
    refresh = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    assert identity.grants[refresh].user == MAILBOX
    assert refresh not in html
    assert refresh not in row.value

    endpoint = Endpoint.from_settings(current_settings().smtp)

    async def sign_in() -> str | None:
        async with SmtpSession(endpoint) as session:
            return session.auth_mechanism

    assert asyncio.run(sign_in()) == "XOAUTH2"
    assert check.attempts == [(MAILBOX, "ok")]


@pytest.mark.django_db
def test_connect_account_says_when_the_person_declines(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    from urllib.parse import urlsplit

    import requests

    app = identity.register_app(TENANT)
    identity.consent = False
    _saved_delegated(identity, smtpd_factory(tls="starttls"), app.client_id)

    started = settings_client.post("/settings/oauth2/connect/")
    back = requests.get(
        started["Location"], allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"]
    )
    callback = urlsplit(back.headers["Location"])
    html = settings_client.get(f"{callback.path}?{callback.query}", follow=True).content.decode()

    assert "Not connected: " in html
    assert "AADSTS65004: User declined to consent." in html
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()


GOOGLE_SECRET = "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not-leak"


def _saved_google(identity: IdentityServer, server: SmtpServer, client_id: str, **more: str) -> None:
    saved = form(server, identity, client_id, OAUTH2_PROVIDER="google", OAUTH2_CLIENT_SECRET=GOOGLE_SECRET)
    del saved["OAUTH2_TENANT_ID"], saved["OAUTH2_AUTHORITY"], saved["EMAIL_ENABLED"]
    saved["OAUTH2_AUTHORIZATION_URL"] = f"{identity.url}/google/auth"
    saved["OAUTH2_TOKEN_URL"] = f"{identity.url}/google/token"
    runtime.save({**saved, **more})


def _sign_in_at_the_platform(client: Client) -> tuple[str, str]:
    """Press Connect account, let the identity server sign the person in: (the sign-in
    URL, the callback path with its query) — what the browser would follow."""
    from urllib.parse import urlsplit

    import requests

    started = client.post("/settings/oauth2/connect/")
    assert started.status_code == 302
    back = requests.get(
        started["Location"], allow_redirects=False, timeout=5, verify=os.environ["SSL_CERT_FILE"]
    )
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/settings/oauth2/callback/"
    return started["Location"], f"{callback.path}?{callback.query}"


@pytest.mark.django_db
def test_connect_account_signs_a_google_mailbox_in_with_pkce_and_an_offline_refresh_token(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    import asyncio
    from urllib.parse import parse_qs, urlsplit

    from postwarden.configstore.models import StoredSetting
    from postwarden.configstore.runtime import current_settings
    from postwarden.core.smtp.session import Endpoint, SmtpSession

    app = identity.register_app("google", secret=GOOGLE_SECRET)
    identity.user = MAILBOX
    identity.consented.add((app.client_id, MAILBOX))  # consented before: only prompt=consent gets a new one
    check = BearerCheck(identity, "gmail")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    _saved_google(identity, server, app.client_id)

    url, callback = _sign_in_at_the_platform(settings_client)
    done = settings_client.get(callback, follow=True).content.decode()

    asked = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{identity.url}/google/auth?")
    assert asked["scope"] == ["https://mail.google.com/"]
    assert asked["access_type"] == ["offline"]
    assert asked["prompt"] == ["consent"]
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) == 43
    assert asked["login_hint"] == [MAILBOX]
    assert "Connected: the mailbox&#x27;s refresh token is saved (sealed)." in done, done
    refresh = runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]
    assert identity.grants[refresh].user == MAILBOX
    assert StoredSetting.objects.get(name="OAUTH2_REFRESH_TOKEN").sealed
    assert refresh not in done
    assert GOOGLE_SECRET not in done
    assert GOOGLE_SECRET not in url

    endpoint = Endpoint.from_settings(current_settings().smtp)

    async def sign_in() -> str | None:
        async with SmtpSession(endpoint) as session:
            return session.auth_mechanism

    assert asyncio.run(sign_in()) == "XOAUTH2"
    assert check.attempts == [(MAILBOX, "ok")]
    assert [kind for kind, _, _ in identity.issued] == ["authorization_code", "refresh_token"]


@pytest.mark.django_db
def test_connect_account_works_with_a_generic_platform(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app("generic")  # a public client
    identity.user = MAILBOX
    server = smtpd_factory(tls="starttls")
    saved = form(server, identity, app.client_id, OAUTH2_PROVIDER="generic", OAUTH2_SCOPE="smtp offline")
    del saved["OAUTH2_CLIENT_SECRET"], saved["EMAIL_ENABLED"]
    saved["OAUTH2_AUTHORIZATION_URL"] = f"{identity.url}/generic/authorize"
    saved["OAUTH2_TOKEN_URL"] = f"{identity.url}/generic/token"
    runtime.save(saved)

    url, callback = _sign_in_at_the_platform(settings_client)
    html = settings_client.get(callback, follow=True).content.decode()

    assert url.startswith(f"{identity.url}/generic/authorize?")
    assert "scope=smtp+offline" in url
    assert "access_type" not in url
    assert "Connected: the mailbox&#x27;s refresh token is saved (sealed)." in html
    assert identity.grants[runtime.stored_values()["OAUTH2_REFRESH_TOKEN"]].user == MAILBOX


@pytest.mark.django_db
def test_connect_account_refuses_an_answer_with_another_state(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app("google", secret=GOOGLE_SECRET)
    _saved_google(identity, smtpd_factory(tls="starttls"), app.client_id)

    _, callback = _sign_in_at_the_platform(settings_client)
    forged = re.sub(r"state=[^&]+", "state=forged-by-another-site", callback)
    html = settings_client.get(forged, follow=True).content.decode()

    assert "Not connected: " in html
    assert "the answer&#x27;s state is not this sign-in&#x27;s" in html
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()
    assert not any(kind == "authorization_code" for kind, _, _ in identity.issued)  # the code was not traded


@pytest.mark.django_db
def test_connect_account_trades_the_code_only_with_the_flows_verifier(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app("google", secret=GOOGLE_SECRET)
    _saved_google(identity, smtpd_factory(tls="starttls"), app.client_id)

    _, callback = _sign_in_at_the_platform(settings_client)
    session = settings_client.session
    flow = session["oauth2_flow"]
    session["oauth2_flow"] = {**flow, "verifier": "x" * 64}  # a verifier that is not the challenge's
    session.save()
    html = settings_client.get(callback, follow=True).content.decode()

    assert "Not connected: token request to" in html
    assert "invalid_grant: Invalid code verifier." in html
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()


@pytest.mark.django_db
def test_connect_account_says_when_the_person_declines_at_google(
    settings_client: Client, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app("google", secret=GOOGLE_SECRET)
    identity.consent = False
    _saved_google(identity, smtpd_factory(tls="starttls"), app.client_id)

    _, callback = _sign_in_at_the_platform(settings_client)
    html = settings_client.get(callback, follow=True).content.decode()

    assert "Not connected: " in html
    assert "access_denied" in html
    assert "OAUTH2_REFRESH_TOKEN" not in runtime.stored_values()
