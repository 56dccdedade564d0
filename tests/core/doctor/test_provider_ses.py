"""The Amazon SES probe: against moto's server (sandbox quota, identities), and against a
local server answering as SES v2's documented GetAccount does where moto has no answer
(production access, a paused account, a refused key)."""

from __future__ import annotations

import json

import boto3
from pytest_httpserver import HTTPServer
from werkzeug import Response

from postwarden.core.doctor.model import Status
from tests.core.doctor.helpers import check, codes, doctor, finding, settings

REGION = "eu-west-1"
SECRET = "ses-SeCrEt-access-key-7c6b5a"
ONLY = frozenset({"provider"})
IDENTITIES_XML = """<GetIdentityVerificationAttributesResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">
<GetIdentityVerificationAttributesResult><VerificationAttributes>{entries}</VerificationAttributes>
</GetIdentityVerificationAttributesResult></GetIdentityVerificationAttributesResponse>"""
ENTRY = "<entry><key>{key}</key><value><VerificationStatus>{status}</VerificationStatus></value></entry>"


def ses_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_PROVIDER": "ses",
        "AWS_ACCESS_KEY_ID": "AKIDPOSTWARDEN",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": url,
        "MAIL_FROM": "ops@example.com",
        "TEST_EMAIL": "dest@example.org",
        **extra,
    }


def verify(url: str, *, domain: str | None = None, address: str | None = None) -> None:
    client = boto3.client(
        "ses",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="AKIDPOSTWARDEN",
        aws_secret_access_key=SECRET,
    )
    if domain:
        client.verify_domain_identity(Domain=domain)
    if address:
        client.verify_email_identity(EmailAddress=address)


def run(url: str, **extra: str):  # type: ignore[no-untyped-def]
    report = doctor(settings(**ses_env(url, **extra)), only=ONLY, timeout=5)
    assert SECRET not in json.dumps(report.to_json())
    return report


def test_it_reads_the_sandbox_from_the_send_quota(moto_url: str) -> None:
    verify(moto_url, domain="example.com")
    report = run(moto_url)
    assert codes(report) == ["provider.sandbox"]
    assert finding(report, "provider.sandbox").evidence == (
        "region eu-west-1: the account is in the SES sandbox; the recipient dest@example.org is not "
        "a verified identity"
    )
    assert check(report, "provider.account").detail == "send quota 200/24 h at 1/s (the sandbox quota)"
    assert check(report, "provider.sender").detail == "example.com is verified in eu-west-1"


def test_it_reports_an_unverified_sender(moto_url: str) -> None:
    verify(moto_url, address="dest@example.org")
    report = run(moto_url)
    found = finding(report, "provider.sender_unverified")
    assert found.evidence == (
        "region eu-west-1: neither ops@example.com nor example.com is a verified identity "
        '({"dest@example.org": "Success"})'
    )
    assert (
        finding(report, "provider.sandbox").evidence == "region eu-west-1: the account is in the SES sandbox"
    )


def test_it_accepts_a_verified_address(moto_url: str) -> None:
    verify(moto_url, address="ops@example.com")
    assert check(run(moto_url), "provider.sender").detail == "ops@example.com is verified in eu-west-1"


def _ses_api(
    server: HTTPServer,
    account: dict[str, object] | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> str:
    body = (
        account
        if account is not None
        else {"message": "The security token included in the request is invalid."}
    )
    server.expect_request("/v2/email/account", method="GET").respond_with_response(
        Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")
    )
    entries = ENTRY.format(key="example.com", status="Success") + ENTRY.format(
        key="dest@example.org", status="Pending"
    )
    server.expect_request("/", method="POST").respond_with_data(
        IDENTITIES_XML.format(entries=entries), content_type="text/xml"
    )
    return server.url_for("/")


def test_it_passes_an_account_with_production_access(httpserver: HTTPServer) -> None:
    url = _ses_api(
        httpserver,
        {
            "ProductionAccessEnabled": True,
            "SendingEnabled": True,
            "EnforcementStatus": "HEALTHY",
            "SendQuota": {"Max24HourSend": 50000.0},
        },
    )
    report = run(url)
    assert codes(report) == []
    assert check(report, "provider.account").detail == "production access"
    request = httpserver.log[0][0]
    assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDPOSTWARDEN/")
    assert "/eu-west-1/ses/aws4_request" in request.headers["Authorization"]


def test_it_reports_a_paused_account(httpserver: HTTPServer) -> None:
    url = _ses_api(
        httpserver,
        {"ProductionAccessEnabled": True, "SendingEnabled": False, "EnforcementStatus": "SHUTDOWN"},
    )
    report = run(url)
    assert codes(report) == ["provider.account_suspended"]
    assert finding(report, "provider.account_suspended").evidence.endswith(
        "(SendingEnabled=False, EnforcementStatus=SHUTDOWN)"
    )


def test_it_reports_refused_keys(httpserver: HTTPServer) -> None:
    url = _ses_api(httpserver, None, 403, {"x-amzn-ErrorType": "UnrecognizedClientException:http://internal"})
    report = run(url)
    assert codes(report) == ["provider.invalid_credentials"]
    assert finding(report, "provider.invalid_credentials").evidence == (
        'GET /v2/email/account: HTTP 403: {"message": "The security token included in the request is '
        'invalid."}'
    )
    assert check(report, "provider.api").status is Status.FAIL
