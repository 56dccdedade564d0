"""The doctor with SMTP_AUTH=oauth2: the token step as a check and in the transcript, and
each way the identity platform or the SMTP server refuses named with its own code, the
platform's words and the steps that fix it (local identity server: tests/oauthd.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from postwarden.core import i18n
from postwarden.core.doctor.model import Report, Severity, Status
from tests.core.doctor.helpers import check, finding
from tests.core.doctor.smtp_helpers import PASSWORD, walk
from tests.oauthd import BearerCheck, IdentityServer
from tests.smtpd import SmtpServer

Smtpd = Callable[..., SmtpServer]
MAILBOX = "alerts@contoso.test"
TENANT = "contoso.onmicrosoft.test"
SECRET = "Qx8~app-secret-Vq7.Lantern-2931"


def errors(report: Report) -> list[str]:
    return [f.code.value for f in report.findings if f.severity is Severity.ERROR]


def _microsoft(identity: IdentityServer, client_id: str, **extra: str) -> dict[str, str]:
    return {
        "SMTP_AUTH": "oauth2",
        "OAUTH2_PROVIDER": "microsoft",
        "OAUTH2_TENANT_ID": TENANT,
        "OAUTH2_CLIENT_ID": client_id,
        "OAUTH2_CLIENT_SECRET": SECRET,
        "OAUTH2_AUTHORITY": identity.url,
        "SMTP_USER": MAILBOX,
        "MAIL_FROM": MAILBOX,
        **extra,
    }


@pytest.fixture
def exchange(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck, str]:
    app = identity.register_app(TENANT, secret=SECRET)
    bearer = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    return smtpd_factory(tls="starttls", bearer=bearer, auth_mechanisms=("XOAUTH2",)), bearer, app.client_id


def test_it_shows_the_token_step_and_signs_in(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange

    report = walk(server, **_microsoft(identity, client_id))

    assert errors(report) == []
    token = check(report, "auth.token")
    assert token.status is Status.PASS
    assert token.detail.startswith(
        f"token from 127.0.0.1:{identity.port} for client {client_id}, expires in 35"
    )
    assert check(report, "auth.login").detail == "authenticated with XOAUTH2"
    with i18n.override("fa"):  # the same steps for a Persian reader: the token's data as it is
        said = i18n.localize(token.detail)
        assert said.startswith(f"توکن از 127.0.0.1:{identity.port} برای کلاینت {client_id}، ۳۵")
        assert i18n.localize(check(report, "auth.login").detail) == "احراز هویت با XOAUTH2 انجام شد"
    lines = [t.line for t in report.transcript]
    assert any(
        line.startswith(f"[OAuth2 token from 127.0.0.1:{identity.port}") and line.endswith(": ••••]")
        for line in lines
    )
    assert "AUTH XOAUTH2 ••••" in lines


def test_it_reports_where_the_token_comes_from_in_the_json_contract(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    import jsonschema

    from tests.core.doctor.test_report import SCHEMA

    server, _, client_id = exchange

    report = walk(server, **_microsoft(identity, client_id))

    document = report.to_json()
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    assert document["settings"]["auth"] == "oauth2"
    assert document["settings"]["oauth2"] == {
        "provider": "microsoft",
        "tenant_id": TENANT,
        "client_id": client_id,
        "client_secret": "set",
        "client_cert": "empty",
        "service_account": "empty",
        "refresh_token": "empty",
        "authority": identity.url,
        "token_url": None,
        "scope": None,
    }
    assert SECRET not in json.dumps(document)


def test_it_names_a_wrong_secret_with_microsofts_words_and_the_fix(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, bearer, client_id = exchange

    report = walk(server, **_microsoft(identity, client_id, OAUTH2_CLIENT_SECRET="wrong-secret-value"))

    assert report.root_cause is not None
    assert report.root_cause.code.value == "auth.token_invalid_client"
    found = finding(report, "auth.token_invalid_client")
    assert "invalid_client: AADSTS7000215: Invalid client secret provided." in found.evidence
    assert found.title == "Microsoft Entra ID refused the client secret (AADSTS7000215)"
    assert any("Certificates & secrets" in step and "OAUTH2_CLIENT_SECRET" in step for step in found.steps)
    assert check(report, "auth.token").status is Status.FAIL
    assert check(report, "auth.login").status is Status.SKIP
    assert bearer.attempts == []
    assert "wrong-secret-value" not in json.dumps(report.to_json())


def test_it_names_an_app_missing_from_the_tenant(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, _ = exchange

    report = walk(server, **_microsoft(identity, "11111111-2222-3333-4444-555555555555"))

    found = finding(report, "auth.token_app_not_found")
    assert (
        "AADSTS700016: Application with identifier '11111111-2222-3333-4444-555555555555'" in found.evidence
    )
    assert any("OAUTH2_CLIENT_ID" in step for step in found.steps)


def test_it_names_an_identity_platform_that_does_not_answer(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, _, client_id = exchange
    identity.down = True

    report = walk(server, **_microsoft(identity, client_id))

    found = finding(report, "auth.token_endpoint_unreachable")
    assert found.evidence == f"token request to 127.0.0.1:{identity.port} failed: HTTP 503"
    assert report.root_cause is not None
    assert report.root_cause.code.value == "auth.token_endpoint_unreachable"


def test_it_names_exchange_refusing_an_app_without_its_service_principal(
    smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    app = identity.register_app(TENANT, secret=SECRET)
    bearer = BearerCheck(identity, "exchange", mailboxes={})
    server = smtpd_factory(tls="starttls", bearer=bearer, auth_mechanisms=("XOAUTH2",))

    report = walk(server, **_microsoft(identity, app.client_id))

    found = finding(report, "auth.token_refused")
    assert found.evidence.startswith(
        "OAuth2 token refused by the SMTP server: 535 5.7.3 Authentication unsuccessful"
    )
    assert any("New-ServicePrincipal" in step for step in found.steps)
    assert any("SMTP.SendAsApp" in step for step in found.steps)
    assert check(report, "auth.token").status is Status.PASS


def test_it_names_a_mailbox_with_smtp_auth_off(smtpd_factory: Smtpd, identity: IdentityServer) -> None:
    app = identity.register_app(TENANT, secret=SECRET)
    bearer = BearerCheck(
        identity, "exchange", mailboxes={app.client_id: {MAILBOX}}, smtp_auth_disabled={MAILBOX}
    )
    server = smtpd_factory(tls="starttls", bearer=bearer, auth_mechanisms=("XOAUTH2",))

    report = walk(server, **_microsoft(identity, app.client_id))

    found = finding(report, "auth.token_refused")
    assert found.title == "SMTP AUTH is switched off for this mailbox (the token itself is fine)"
    assert found.steps == (
        "Allow SMTP AUTH for the mailbox: `Set-CASMailbox -Identity <SMTP_USER> "
        "-SmtpClientAuthenticationDisabled $false` (and not blocked tenant-wide).",
    )


def test_it_tells_what_is_missing_before_asking_anyone(
    smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    server = smtpd_factory(tls="starttls")

    report = walk(
        server,
        only=frozenset({"config", "network", "tls", "auth", "envelope"}),
        SMTP_AUTH="oauth2",
        OAUTH2_PROVIDER="microsoft",
        OAUTH2_CLIENT_ID="abc",
        SMTP_USER=MAILBOX,
    )

    found = finding(report, "config.missing")
    assert "SMTP_AUTH=oauth2: OAUTH2_TENANT_ID and OAUTH2_CLIENT_ID must be set" in found.evidence
    assert identity.requests == []


def test_it_tells_how_to_leave_basic_auth_for_oauth2(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD})
    server.inject("AUTH", "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [BN9P]")

    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)

    found = finding(report, "auth.failed")
    switch = next(step for step in found.steps if "SMTP_AUTH=oauth2" in step)
    for setting in (
        "OAUTH2_PROVIDER=microsoft",
        "OAUTH2_TENANT_ID=",
        "OAUTH2_CLIENT_ID=",
        "OAUTH2_CLIENT_SECRET=",
        "SMTP.SendAsApp",
        "remove SMTP_PASSWORD",
    ):
        assert setting in switch


# -- Google ---------------------------------------------------------------------------


@pytest.fixture
def gmail(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck]:
    bearer = BearerCheck(identity, "gmail")
    return smtpd_factory(tls="starttls", bearer=bearer, auth_mechanisms=("XOAUTH2", "OAUTHBEARER")), bearer


def _google(key: dict[str, object], **extra: str) -> dict[str, str]:
    return {
        "SMTP_AUTH": "oauth2",
        "OAUTH2_PROVIDER": "google",
        "OAUTH2_SERVICE_ACCOUNT": json.dumps(key),
        "SMTP_USER": MAILBOX,
        "MAIL_FROM": MAILBOX,
        **extra,
    }


def test_it_names_missing_domain_wide_delegation(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, _ = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated=set())

    report = walk(server, **_google(key))

    found = finding(report, "auth.token_unauthorized_client")
    assert "unauthorized_client: Client is unauthorized to retrieve access tokens" in found.evidence
    assert any(
        "domain-wide delegation" in step and "https://mail.google.com/" in step for step in found.steps
    )


def test_it_names_a_clock_that_is_off(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, _ = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})
    identity.clock_offset = -2 * 3600.0

    report = walk(server, **_google(key))

    found = finding(report, "auth.token_invalid_grant")
    assert "Invalid JWT: Token must be a short-lived token" in found.evidence
    assert any("timedatectl" in step for step in found.steps)


def test_it_names_a_token_without_gmails_scope(
    gmail: tuple[SmtpServer, BearerCheck], identity: IdentityServer
) -> None:
    server, _ = gmail
    key = identity.register_service_account("relay@proj.iam.test", delegated={MAILBOX})

    report = walk(server, **_google(key, OAUTH2_SCOPE="https://www.googleapis.com/auth/gmail.send"))

    found = finding(report, "auth.token_refused")
    assert found.title == "Gmail refused the token: it lacks the scope https://mail.google.com/"
    assert '"status":"400"' in found.evidence


def test_it_names_a_revoked_refresh_token(smtpd_factory: Smtpd, identity: IdentityServer) -> None:
    server = smtpd_factory(
        tls="starttls", bearer=BearerCheck(identity, "generic"), auth_mechanisms=("XOAUTH2",)
    )
    app = identity.register_app("generic")
    refresh = identity.register_refresh_token(app.client_id, MAILBOX, "smtp")
    identity.grants[refresh].revoked = True

    report = walk(
        server,
        SMTP_AUTH="oauth2",
        OAUTH2_PROVIDER="generic",
        OAUTH2_TOKEN_URL=f"{identity.url}/generic/token",
        OAUTH2_CLIENT_ID=app.client_id,
        OAUTH2_REFRESH_TOKEN=refresh,
        SMTP_USER=MAILBOX,
    )

    found = finding(report, "auth.token_invalid_grant")
    assert found.evidence.endswith("failed: invalid_grant: Token has been expired or revoked.")
    assert any("Connect the account again" in step for step in found.steps)
    assert refresh not in json.dumps(report.to_json())
