"""SMTP_AUTH=oauth2 in the session: a token from the local identity server (msal,
google-auth, plain RFC 6749), XOAUTH2 or OAUTHBEARER chosen from EHLO, refused tokens
refreshed once, error challenges decoded, no token anywhere in the transcript."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from postwarden.core.config.model import OAuth2Provider, OAuth2Settings, Security, SmtpAuth, SmtpSettings
from postwarden.core.secrets import Secret
from postwarden.core.smtp.errors import AuthUnavailable, TokenRefused, TokenRejected, TokenUnreachable
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript
from tests.core.smtp.support import run
from tests.oauthd import APP_SECRET, TENANT, BearerCheck, IdentityServer, microsoft_oauth2, self_signed
from tests.ports import free_port
from tests.smtpd import SmtpServer

Smtpd = Callable[..., SmtpServer]
MAILBOX = "alerts@contoso.test"
SECRET = APP_SECRET
MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


def _settings(server: SmtpServer, oauth2: OAuth2Settings, user: str = MAILBOX) -> SmtpSettings:
    return SmtpSettings(
        host="localhost",
        port=server.port,
        security=Security.STARTTLS,
        user=user,
        timeout=5.0,
        ehlo_name="client.test",
        auth=SmtpAuth.OAUTH2,
        oauth2=oauth2,
    )


async def _send(endpoint: Endpoint, transcript: Transcript | None = None) -> SmtpSession:
    async with SmtpSession(endpoint, transcript=transcript) as session:
        await session.send(MAILBOX, ["someone@example.test"], MESSAGE)
    return session


@pytest.fixture
def exchange(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck, str]:
    """Exchange Online on loopback: XOAUTH2 only, an app allowed to send as MAILBOX."""
    app = identity.register_app(TENANT, secret=SECRET)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    return server, check, app.client_id


def test_it_sends_over_xoauth2_with_a_microsoft_app_token(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    transcript = Transcript()
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, client_id)))

    session = run(_send(endpoint, transcript))

    assert session.auth_mechanism == "XOAUTH2"
    assert check.attempts == [(MAILBOX, "ok")]
    assert [m.login for m in server.delivered] == [MAILBOX]
    token_steps = [s for s in session.steps if s.stage is SmtpStage.TOKEN]
    assert len(token_steps) == 1
    assert token_steps[0].ok
    assert token_steps[
        0
    ].detail == f"token from 127.0.0.1:{identity.port} for client {client_id}, expires in 3598 s" or (
        token_steps[0].detail
        == f"token from 127.0.0.1:{identity.port} for client {client_id}, expires in 3599 s"
    )
    text = str(transcript)
    assert f"[OAuth2 token from 127.0.0.1:{identity.port} for client {client_id}" in text
    assert "C: AUTH XOAUTH2 ••••" in text
    issued = identity.issued
    assert issued == [("client_credentials", client_id, client_id)]


def test_it_never_shows_the_token_or_the_secret(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange
    transcript = Transcript()
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, client_id)))

    session = run(_send(endpoint, transcript))

    token = endpoint.token._token.value.reveal() if endpoint.token and endpoint.token._token else ""
    assert token.count(".") == 2  # a JWT
    wire = base64.b64encode(f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    shown = "\n".join([str(transcript), repr(endpoint), repr(session), *(s.detail for s in session.steps)])
    for secret in (token, token[-40:], wire, SECRET):
        assert secret not in shown


def test_it_shares_one_token_between_connections(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, client_id)))

    async def three() -> list[SmtpSession]:
        import asyncio

        return list(await asyncio.gather(*(_send(endpoint) for _ in range(3))))

    sessions = run(three())

    assert len(identity.issued) == 1
    assert check.attempts == [(MAILBOX, "ok")] * 3
    assert (
        sum(
            1
            for s in sessions
            for step in s.steps
            if step.stage is SmtpStage.TOKEN and "(cached)" in step.detail
        )
        == 2
    )


def test_it_signs_in_with_a_certificate(smtpd_factory: Smtpd, identity: IdentityServer) -> None:
    pem, certificate = self_signed()
    app = identity.register_app(TENANT, certificate=certificate)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    oauth2 = microsoft_oauth2(identity, app.client_id, client_secret=Secret(), client_cert=Secret(pem))

    run(_send(Endpoint.from_settings(_settings(server, oauth2))))

    assert check.attempts == [(MAILBOX, "ok")]
    assert identity.issued == [("client_credentials", app.client_id, app.client_id)]


def test_it_names_a_wrong_secret_with_microsofts_words(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    oauth2 = microsoft_oauth2(identity, client_id, client_secret=Secret("not-the-secret"))
    transcript = Transcript()
    endpoint = Endpoint.from_settings(_settings(server, oauth2))

    with pytest.raises(TokenRefused) as caught:
        run(_send(endpoint, transcript))

    assert caught.value.stage is SmtpStage.AUTH
    assert caught.value.detail.startswith(
        f"token request to 127.0.0.1:{identity.port} failed: invalid_client: AADSTS7000215: Invalid client "
        "secret provided."
    )
    assert "Trace ID" not in caught.value.detail
    assert check.attempts == []  # no AUTH without a token
    assert "AADSTS7000215" in str(transcript)


def test_it_names_an_unknown_tenant(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange
    endpoint = Endpoint.from_settings(
        _settings(server, microsoft_oauth2(identity, client_id, tenant_id="nowhere"))
    )

    with pytest.raises(TokenRefused, match="invalid_tenant: AADSTS90002: Tenant 'nowhere' not found"):
        run(_send(endpoint))


def test_it_names_an_unknown_app(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, _ = exchange
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, "00000000-dead-beef")))

    with pytest.raises(TokenRefused, match="unauthorized_client: AADSTS700016: Application with identifier"):
        run(_send(endpoint))


def test_it_says_when_the_token_endpoint_is_down(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange
    identity.down = True
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, client_id)))

    with pytest.raises(TokenUnreachable, match="HTTP 503"):
        run(_send(endpoint))


def test_it_says_when_nothing_listens_at_the_authority(exchange: tuple[SmtpServer, BearerCheck, str]) -> None:
    server, _, client_id = exchange
    closed_port = free_port()
    oauth2 = OAuth2Settings(
        provider=OAuth2Provider.MICROSOFT,
        tenant_id=TENANT,
        client_id=client_id,
        client_secret=Secret(SECRET),
        authority=f"https://127.0.0.1:{closed_port}",
    )
    endpoint = Endpoint.from_settings(_settings(server, oauth2))

    with pytest.raises(TokenUnreachable) as caught:
        run(_send(endpoint))

    assert "Connection refused" in caught.value.detail


def test_it_refreshes_once_when_the_server_refuses_a_token_it_thinks_expired(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, client_id)))
    run(_send(endpoint))
    check.clock_offset = 3600.0  # the server's clock is an hour ahead: our cached token is dead there
    identity.clock_offset = 3600.0  # and the identity server issues by the same clock

    session = run(_send(endpoint))

    assert check.attempts == [(MAILBOX, "ok"), (MAILBOX, "expired"), (MAILBOX, "ok")]
    assert len(identity.issued) == 2
    auth = [s for s in session.steps if s.stage is SmtpStage.AUTH]
    assert [s.detail for s in auth] == ["authenticated with XOAUTH2 after the first token was refused"]
    tokens = [s.detail for s in session.steps if s.stage is SmtpStage.TOKEN]
    assert len(tokens) == 2
    assert tokens[0].endswith("(cached)")
    assert not tokens[1].endswith("(cached)")
    assert len(server.delivered) == 2


def test_it_gives_up_after_one_fresh_token_is_refused_too(
    smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app(TENANT, secret=SECRET)
    check = BearerCheck(identity, "exchange", mailboxes={})  # no service principal in Exchange
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, app.client_id)))

    with pytest.raises(TokenRejected) as caught:
        run(_send(endpoint))

    assert caught.value.reply is not None
    assert caught.value.reply.code == 535
    assert caught.value.detail.startswith("535 5.7.3 Authentication unsuccessful")
    assert check.attempts == [(MAILBOX, "no_permission")] * 2
    assert len(identity.issued) == 2


def test_it_refuses_when_the_server_offers_no_oauth_mechanism(
    smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app(TENANT, secret=SECRET)
    server = smtpd_factory(tls="starttls", users={MAILBOX: "pw"})
    endpoint = Endpoint.from_settings(_settings(server, microsoft_oauth2(identity, app.client_id)))

    with pytest.raises(AuthUnavailable, match="Postwarden speaks OAUTHBEARER XOAUTH2 with an OAuth2 token"):
        run(_send(endpoint))

    assert identity.issued == []


# -- Google ---------------------------------------------------------------------------


@pytest.fixture
def gmail(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck]:
    check = BearerCheck(identity, "gmail")
    server = smtpd_factory(
        tls="starttls", bearer=check, auth_mechanisms=("LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER")
    )
    return server, check


def _google(key: dict[str, object], **kw: object) -> OAuth2Settings:
    base = OAuth2Settings(provider=OAuth2Provider.GOOGLE, service_account=Secret(json.dumps(key)))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_it_sends_as_a_workspace_user_through_a_delegated_service_account(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, check = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})

    session = run(_send(Endpoint.from_settings(_settings(server, _google(key)))))

    assert session.auth_mechanism == "OAUTHBEARER"  # the standard one, when offered
    assert check.attempts == [(MAILBOX, "ok")]
    assert identity.issued == [
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", "relay@proj.iam.test", MAILBOX)
    ]


def test_it_names_missing_domain_wide_delegation(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, _ = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated=set())

    with pytest.raises(
        TokenRefused, match="unauthorized_client: Client is unauthorized to retrieve access tokens"
    ):
        run(_send(Endpoint.from_settings(_settings(server, _google(key)))))


def test_it_names_a_clock_google_finds_off(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, _ = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})
    identity.clock_offset = 2 * 3600.0

    with pytest.raises(TokenRefused, match="invalid_grant: Invalid JWT: Token must be a short-lived token"):
        run(_send(Endpoint.from_settings(_settings(server, _google(key)))))


def test_it_decodes_gmails_error_challenge(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, check = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})
    transcript = Transcript()
    settings = _settings(server, _google(key, scope="https://www.googleapis.com/auth/gmail.send"))

    with pytest.raises(TokenRejected) as caught:
        run(_send(Endpoint.from_settings(settings), transcript))

    assert (
        '(the server\'s error: {"status":"400","schemes":"bearer","scope":"https://mail.google.com/"})'
        in (caught.value.detail)
    )
    assert caught.value.detail.startswith("535 5.7.8 Username and Password not accepted")
    assert check.attempts == [(MAILBOX, "scope")] * 2
    assert "S: 334 eyJzdGF0dXMiOiI0MDAi" in str(transcript)


def test_it_uses_xoauth2_when_oauthbearer_is_not_offered(
    smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    check = BearerCheck(identity, "gmail")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})

    session = run(_send(Endpoint.from_settings(_settings(server, _google(key)))))

    assert session.auth_mechanism == "XOAUTH2"


# -- generic --------------------------------------------------------------------------


def test_it_gets_a_token_from_any_token_endpoint(smtpd_factory: Smtpd, identity: IdentityServer) -> None:
    check = BearerCheck(identity, "generic")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("OAUTHBEARER",))
    app = identity.register_app("generic", secret="gen/secret:with&odd=chars")
    oauth2 = OAuth2Settings(
        provider=OAuth2Provider.GENERIC,
        client_id=app.client_id,
        client_secret=Secret("gen/secret:with&odd=chars"),
        token_url=f"{identity.url}/generic/token",
        scope="smtp",
    )

    run(_send(Endpoint.from_settings(_settings(server, oauth2))))

    assert check.attempts == [(MAILBOX, "ok")]


def test_it_refreshes_a_persons_token(smtpd_factory: Smtpd, identity: IdentityServer) -> None:
    check = BearerCheck(identity, "generic")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    app = identity.register_app("generic")
    refresh = identity.register_refresh_token(app.client_id, MAILBOX, "smtp")
    oauth2 = OAuth2Settings(
        provider=OAuth2Provider.GENERIC,
        client_id=app.client_id,
        refresh_token=Secret(refresh),
        token_url=f"{identity.url}/generic/token",
    )

    run(_send(Endpoint.from_settings(_settings(server, oauth2))))

    assert identity.issued == [("refresh_token", app.client_id, MAILBOX)]
    identity.grants[refresh].revoked = True
    endpoint = Endpoint.from_settings(_settings(server, oauth2))
    with pytest.raises(TokenRefused, match="invalid_grant: Token has been expired or revoked"):
        run(_send(endpoint))


@pytest.mark.parametrize("provider", ["microsoft", "generic"])
def test_it_refreshes_with_the_rotated_refresh_token(
    provider: str, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    identity.rotate_refresh_tokens = True
    identity.lifetime = 60
    tenant = TENANT if provider == "microsoft" else "generic"
    app = identity.register_app(tenant)  # a public client: a person's mailbox
    first = identity.register_refresh_token(app.client_id, MAILBOX, "SMTP.Send")
    check = BearerCheck(identity, "exchange" if provider == "microsoft" else "generic")
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    oauth2 = OAuth2Settings(
        provider=OAuth2Provider(provider),
        tenant_id=TENANT,
        client_id=app.client_id,
        refresh_token=Secret(first),
        authority=identity.url,
        token_url=f"{identity.url}/generic/token",
    )
    endpoint = Endpoint.from_settings(_settings(server, oauth2))
    assert endpoint.token is not None

    run(_send(endpoint))
    endpoint.token.forget()  # as when the access token runs out
    run(_send(endpoint))

    assert identity.grants[first].revoked
    assert [kind for kind, _, _ in identity.issued] == ["refresh_token", "refresh_token"]
    assert check.attempts == [(MAILBOX, "ok")] * 2
