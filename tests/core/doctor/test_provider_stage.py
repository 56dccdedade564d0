"""Provider probes against local HTTP servers answering as each provider's documented
API does (pytest-httpserver), through ``<PROVIDER>_API_URL``. SES: tests/core/doctor/
test_provider_ses.py (moto's server)."""

from __future__ import annotations

import base64
import json
import socket

import pytest
from pytest_httpserver import HTTPServer

from postwarden.core import i18n
from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import check, codes, doctor, finding, settings
from tests.dnsd import DnsTestServer

ONLY = frozenset({"provider"})
FROM = {"MAIL_FROM": "ops@example.com", "TEST_EMAIL": "dest@example.org"}
SG_KEY = "SG.sEcReT-sendgrid-KEY-9f8e7d"
MG_KEY = "key-mAiLgUn-SeCrEt-4c3b2a"
PM_TOKEN = "pm-SeCrEt-token-0a1b2c3d"
RS_KEY = "re_SeCrEt_resend_5e6f7a8b"
MD_KEY = "md-SeCrEt-mandrill-1a2b3c"


def run(server: HTTPServer, provider: str, **env: str):  # type: ignore[no-untyped-def]
    report = doctor(settings(EMAIL_PROVIDER=provider, **FROM, **env), only=ONLY)
    text = json.dumps(report.to_json())
    for secret in (SG_KEY, MG_KEY, PM_TOKEN, RS_KEY, MD_KEY):
        assert secret not in text
    return report


# -- SendGrid ------------------------------------------------------------------------


def sendgrid(
    server: HTTPServer,
    *,
    scopes: tuple[str, ...] = ("mail.send", "whitelabel.read"),
    domains: list[dict[str, object]] | None = None,
    senders: list[dict[str, object]] | None = None,
    status: int = 200,
    body: object = None,
) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {SG_KEY}"}
    server.expect_request("/v3/scopes", method="GET", headers=auth).respond_with_json(
        body if body is not None else {"scopes": list(scopes)}, status=status
    )
    server.expect_request("/v3/whitelabel/domains", headers=auth).respond_with_json(
        domains if domains is not None else [{"id": 1, "domain": "example.com", "valid": True}]
    )
    server.expect_request("/v3/verified_senders", headers=auth).respond_with_json({"results": senders or []})
    return {"SENDGRID_API_KEY": SG_KEY, "SENDGRID_API_URL": server.url_for("/v3/")}


def test_it_passes_a_healthy_sendgrid_account(httpserver: HTTPServer) -> None:
    report = run(httpserver, "sendgrid", **sendgrid(httpserver))
    assert codes(report) == []
    assert check(report, "provider.api").detail == "the API key is accepted and may send (2 permissions)"
    assert check(report, "provider.sender").detail == "example.com is an authenticated domain"


def test_it_reports_a_rejected_sendgrid_key(httpserver: HTTPServer) -> None:
    env = sendgrid(
        httpserver, status=401, body={"errors": [{"field": None, "message": "authorization required"}]}
    )
    found = finding(run(httpserver, "sendgrid", **env), "provider.invalid_credentials")
    assert found.evidence == (
        'GET /v3/scopes: HTTP 401: {"errors": [{"field": null, "message": "authorization required"}]}'
    )


def test_it_reports_a_sendgrid_key_that_may_not_send(httpserver: HTTPServer) -> None:
    found = finding(
        run(httpserver, "sendgrid", **sendgrid(httpserver, scopes=("stats.read",))),
        "provider.invalid_credentials",
    )
    assert found.evidence.endswith("(the key has no mail.send permission)")


def test_it_reports_an_unauthenticated_sendgrid_sender(httpserver: HTTPServer) -> None:
    env = sendgrid(
        httpserver,
        domains=[{"domain": "other.com", "valid": True}, {"domain": "example.com", "valid": False}],
        senders=[{"from_email": "ops@example.com", "verified": False}],
    )
    found = finding(run(httpserver, "sendgrid", **env), "provider.sender_unverified")
    assert found.evidence.startswith(
        "MAIL_FROM ops@example.com: not a verified sender, and example.com is not an "
        "authenticated domain (GET /v3/whitelabel/domains: HTTP 200:"
    )


def test_a_provider_finding_is_said_in_persian_with_the_apis_words_verbatim(httpserver: HTTPServer) -> None:
    env = sendgrid(
        httpserver,
        domains=[{"domain": "example.com", "valid": False}],
        senders=[{"from_email": "ops@example.com", "verified": False}],
    )
    report = run(httpserver, "sendgrid", **env)
    found = finding(report, "provider.sender_unverified")
    with i18n.override("fa"):
        said = i18n.localize(found.evidence)
        steps = [i18n.localize(step) for step in found.steps]
        detail = i18n.localize(check(report, "provider.api").detail)
    assert said.startswith(
        "MAIL_FROM ops@example.com: فرستندهٔ تأییدشده نیست و example.com دامنهٔ احرازشده نیست ("
    )
    assert "GET /v3/whitelabel/domains: HTTP 200: " in said  # the API's answer, as it came
    assert steps[0].startswith("example.com را در SendGrid احراز کنید")
    assert detail == "کلید API پذیرفته شد و اجازهٔ ارسال دارد (۲ مجوز)"


def test_it_accepts_a_verified_single_sender(httpserver: HTTPServer) -> None:
    env = sendgrid(httpserver, domains=[], senders=[{"from_email": "OPS@example.com", "verified": True}])
    assert (
        check(run(httpserver, "sendgrid", **env), "provider.sender").detail
        == "ops@example.com is a verified sender"
    )


# -- Mailgun -------------------------------------------------------------------------


def mailgun(
    server: HTTPServer, domain: dict[str, object] | None, status: int = 200, body: object = None
) -> dict[str, str]:
    token = base64.b64encode(f"api:{MG_KEY}".encode()).decode()
    answer = (
        body
        if body is not None
        else {"domain": domain, "receiving_dns_records": [], "sending_dns_records": []}
    )
    server.expect_request(
        "/v3/domains/mg.example.com", headers={"Authorization": f"Basic {token}"}
    ).respond_with_json(answer, status=status)
    return {
        "MAILGUN_API_KEY": MG_KEY,
        "MAILGUN_DOMAIN": "mg.example.com",
        "MAILGUN_API_URL": server.url_for("/v3"),
    }


ACTIVE = {"name": "mg.example.com", "state": "active", "type": "custom", "is_disabled": False}


def test_it_passes_a_healthy_mailgun_domain(httpserver: HTTPServer) -> None:
    report = run(httpserver, "mailgun", **mailgun(httpserver, ACTIVE))
    assert codes(report) == []
    assert check(report, "provider.sender").detail == "mg.example.com is verified"


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ({**ACTIVE, "type": "sandbox", "name": "sandbox123.mailgun.org"}, "provider.sandbox"),
        ({**ACTIVE, "state": "unverified"}, "provider.sender_unverified"),
        ({**ACTIVE, "state": "disabled", "is_disabled": True}, "provider.account_suspended"),
    ],
)
def test_it_reads_the_mailgun_domain_state(
    httpserver: HTTPServer, domain: dict[str, object], code: str
) -> None:
    report = run(httpserver, "mailgun", **mailgun(httpserver, domain))
    assert codes(report) == [code]
    assert finding(report, code).evidence.startswith("GET /v3/domains/mg.example.com: HTTP 200: ")


def test_it_reports_a_rejected_mailgun_key(httpserver: HTTPServer) -> None:
    found = finding(
        run(httpserver, "mailgun", **mailgun(httpserver, None, 401, "Forbidden")),
        "provider.invalid_credentials",
    )
    assert found.evidence == 'GET /v3/domains/mg.example.com: HTTP 401: "Forbidden"'


def test_it_reports_an_unknown_mailgun_domain(httpserver: HTTPServer) -> None:
    found = finding(
        run(httpserver, "mailgun", **mailgun(httpserver, None, 404, {"message": "Domain not found"})),
        "provider.sender_unverified",
    )
    assert found.evidence == 'GET /v3/domains/mg.example.com: HTTP 404: {"message": "Domain not found"}'


# -- Postmark ------------------------------------------------------------------------


def postmark(server: HTTPServer, status: int = 200, body: object = None, stream: int = 200) -> dict[str, str]:
    auth = {"X-Postmark-Server-Token": PM_TOKEN}
    server.expect_request("/server", headers=auth).respond_with_json(
        body if body is not None else {"ID": 1, "Name": "Production"}, status=status
    )
    server.expect_request("/message-streams/outbound", headers=auth).respond_with_json(
        {"ID": "outbound", "MessageStreamType": "Transactional"}
        if stream == 200
        else {"ErrorCode": 1226, "Message": "The message stream for the provided 'ID' was not found."},
        status=stream,
    )
    return {"POSTMARK_SERVER_TOKEN": PM_TOKEN, "POSTMARK_API_URL": server.url_for("/")}


def test_it_passes_a_healthy_postmark_server(httpserver: HTTPServer) -> None:
    report = run(httpserver, "postmark", **postmark(httpserver))
    assert codes(report) == []
    assert check(report, "provider.api").detail == "the server token is accepted (server 'Production')"
    assert check(report, "provider.sender").status is Status.SKIP


def test_it_reports_a_rejected_postmark_token(httpserver: HTTPServer) -> None:
    body = {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."}
    found = finding(
        run(httpserver, "postmark", **postmark(httpserver, 401, body)), "provider.invalid_credentials"
    )
    assert found.evidence == (
        'GET /server: HTTP 401: {"ErrorCode": 10, "Message": "Request does not contain a '
        'valid Server token."}'
    )


def test_it_reports_a_postmark_account_pending_approval(httpserver: HTTPServer) -> None:
    body = {"ErrorCode": 412, "Message": "Your account is pending approval."}
    assert codes(run(httpserver, "postmark", **postmark(httpserver, 422, body))) == ["provider.sandbox"]


def test_it_warns_about_a_missing_postmark_stream(httpserver: HTTPServer) -> None:
    report = run(httpserver, "postmark", **postmark(httpserver, stream=422))
    assert check(report, "provider.account").status is Status.WARN


# -- Resend --------------------------------------------------------------------------


def resend(server: HTTPServer, status: int = 200, body: object = None) -> dict[str, str]:
    answer = (
        body if body is not None else {"data": [{"id": "d1", "name": "example.com", "status": "verified"}]}
    )
    server.expect_request("/domains", headers={"Authorization": f"Bearer {RS_KEY}"}).respond_with_json(
        answer, status=status
    )
    return {"RESEND_API_KEY": RS_KEY, "RESEND_API_URL": server.url_for("/")}


def test_it_passes_a_verified_resend_domain(httpserver: HTTPServer) -> None:
    assert codes(run(httpserver, "resend", **resend(httpserver))) == []


def test_it_reports_a_pending_resend_domain(httpserver: HTTPServer) -> None:
    env = resend(httpserver, body={"data": [{"id": "d1", "name": "example.com", "status": "pending"}]})
    found = finding(run(httpserver, "resend", **env), "provider.sender_unverified")
    assert found.evidence.startswith("example.com (example.com: pending); GET /domains: HTTP 200:")


def test_it_reports_resends_testing_domain(httpserver: HTTPServer) -> None:
    report = doctor(
        settings(EMAIL_PROVIDER="resend", MAIL_FROM="onboarding@resend.dev", **resend(httpserver)), only=ONLY
    )
    assert (
        finding(report, "provider.sandbox").evidence == "MAIL_FROM is at resend.dev, Resend's testing domain"
    )


def test_it_accepts_a_send_only_resend_key(httpserver: HTTPServer) -> None:
    body = {
        "statusCode": 401,
        "name": "restricted_api_key",
        "message": "This API key is restricted to only send emails",
    }
    report = run(httpserver, "resend", **resend(httpserver, 401, body))
    assert codes(report) == []
    assert check(report, "provider.sender").status is Status.SKIP


def test_it_reports_a_rejected_resend_key(httpserver: HTTPServer) -> None:
    body = {"statusCode": 400, "name": "validation_error", "message": "API key is invalid"}
    assert codes(run(httpserver, "resend", **resend(httpserver, 403, body))) == [
        "provider.invalid_credentials"
    ]


# -- Mandrill ------------------------------------------------------------------------


def mandrill(
    server: HTTPServer, ping: tuple[int, object] = (200, "PONG!"), domains: object = None
) -> dict[str, str]:
    server.expect_request("/api/1.0/users/ping2.json", method="POST", json={"key": MD_KEY}).respond_with_json(
        {"PING": ping[1]} if ping[0] == 200 else ping[1], status=ping[0]
    )
    server.expect_request(
        "/api/1.0/senders/domains.json", method="POST", json={"key": MD_KEY}
    ).respond_with_json(
        domains if domains is not None else [{"domain": "example.com", "valid_signing": True}]
    )
    return {"MANDRILL_API_KEY": MD_KEY, "MANDRILL_API_URL": server.url_for("/api/1.0")}


def test_it_passes_a_healthy_mandrill_account(httpserver: HTTPServer) -> None:
    assert codes(run(httpserver, "mandrill", **mandrill(httpserver))) == []


@pytest.mark.parametrize(
    ("name", "code"),
    [("Invalid_Key", "provider.invalid_credentials"), ("PaymentRequired", "provider.account_suspended")],
)
def test_it_reads_mandrill_errors(httpserver: HTTPServer, name: str, code: str) -> None:
    error = {"status": "error", "code": -1, "name": name, "message": "Invalid API key"}
    report = run(httpserver, "mandrill", **mandrill(httpserver, ping=(500, error)))
    assert codes(report) == [code]
    assert finding(report, code).evidence.startswith(
        f'POST /api/1.0/users/ping2.json: HTTP 500: {{"status": "error", "code": -1, "name": "{name}"'
    )


def test_it_reports_an_unverified_mandrill_domain(httpserver: HTTPServer) -> None:
    env = mandrill(httpserver, domains=[{"domain": "example.com", "valid_signing": False}])
    found = finding(run(httpserver, "mandrill", **env), "provider.sender_unverified")
    assert found.evidence == "example.com: added but not verified for signing (POST /senders/domains.json)"


# -- the network under any provider --------------------------------------------------


def test_it_reports_a_provider_api_nobody_listens_on() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    report = doctor(
        settings(
            EMAIL_PROVIDER="sendgrid",
            SENDGRID_API_KEY=SG_KEY,
            SENDGRID_API_URL=f"http://127.0.0.1:{port}/v3/",
            **FROM,
        ),
        only=ONLY,
    )
    found = finding(report, "provider.unreachable")
    assert (found.severity, found.evidence) == (
        Severity.ERROR,
        f"127.0.0.1:{port} (127.0.0.1) refused the connection",
    )


def test_it_reports_a_provider_host_without_address(dns_server: DnsTestServer) -> None:
    dns_server.load("example.com. 300 IN MX 10 mx.example.com.")
    report = doctor(
        settings(
            EMAIL_PROVIDER="postmark",
            POSTMARK_SERVER_TOKEN=PM_TOKEN,
            POSTMARK_API_URL="https://api.postmark.example.net/",
            **FROM,
        ),
        only=ONLY,
        dns_server=dns_server.address,
    )
    found = finding(report, "network.dns_unresolvable")
    assert found.evidence.startswith("api.postmark.example.net: no A or AAAA record at the DNS server at")
    assert found.title == "The Postmark API host does not resolve"
    assert dns_server.asked("api.postmark.example.net", "A")


def test_it_reports_a_provider_error_page(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/scopes").respond_with_data("<html>502 Bad Gateway</html>", status=502)
    report = run(httpserver, "sendgrid", SENDGRID_API_KEY=SG_KEY, SENDGRID_API_URL=httpserver.url_for("/v3/"))
    assert (
        finding(report, "provider.unreachable").evidence
        == "GET /v3/scopes: HTTP 502: <html>502 Bad Gateway</html>"
    )


def test_it_does_not_send_through_a_provider_without_the_service(httpserver: HTTPServer) -> None:
    report = doctor(settings(EMAIL_PROVIDER="resend", **FROM, **resend(httpserver)), only=ONLY, send=True)
    assert check(report, "provider.send").detail.startswith(
        "a resend test mail goes through the worker's transport"
    )
