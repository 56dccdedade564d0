"""The whole doctor, all stages at once, against a loopback SMTP server and DNS zone: a
healthy setup in each security mode is all clear; the JSON validates against
docs/doctor.schema.json; the terminal report ends with the root cause, its evidence and
numbered steps; no secret is ever printed, whatever the servers echo."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import trustme
from pytest_httpserver import HTTPServer

from postwarden.core.codes import STAGE_ORDER, Code
from postwarden.core.doctor import render
from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import codes, dkim_key, doctor, healthy_env, healthy_zone, settings
from tests.core.doctor.smtp_helpers import PASSWORD
from tests.dnsd import DnsTestServer
from tests.smtpd import SmtpServer

SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "doctor.schema.json").read_text(encoding="utf-8"))
Smtpd = Callable[..., SmtpServer]


def validate(report_json: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(report_json)


@pytest.fixture(scope="session")
def mail_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("mail.example.com")


def full_env(dns: DnsTestServer, server: SmtpServer, security: str, **extra: str) -> dict[str, str]:
    dns.load(healthy_zone())
    return healthy_env(
        dns.address,
        SMTP_PORT=str(server.port),
        SMTP_SECURITY=security,
        SMTP_EHLO_NAME="client.example.com",
        TEST_EMAIL="dest@example.com",
        **extra,
    )


@pytest.mark.parametrize(
    ("tls", "security", "auth"),
    [
        ("none", "none", False),
        ("none", "opportunistic", False),
        ("starttls", "opportunistic", False),
        ("starttls", "starttls", True),
        ("implicit", "ssl", True),
    ],
)
def test_it_gives_a_healthy_setup_a_clean_bill_in_each_mode(
    dns_server: DnsTestServer,
    smtpd_factory: Smtpd,
    ssl_cert_file: object,
    mail_cert: trustme.LeafCert,
    tmp_path: Path,
    tls: str,
    security: str,
    auth: bool,
) -> None:
    server = smtpd_factory(
        tls=tls,
        cert=mail_cert,
        users={"ops": PASSWORD} if auth else None,
        auth_require_tls=tls == "starttls",
        size_limit=None,
    )
    creds = {"SMTP_USER": "ops", "SMTP_PASSWORD": PASSWORD} if auth else {}
    report = doctor(settings(**full_env(dns_server, server, security, **creds)), template_dirs=(tmp_path,))
    assert [f.code.value for f in report.findings if f.severity is Severity.ERROR] == []
    assert report.ok
    assert report.exit_status == 0
    data = report.to_json()
    validate(data)
    assert data["root_cause"] is None
    failed = [c.id for c in report.checks if c.status is Status.FAIL]
    assert failed == []
    assert {c.stage for c in report.checks} == set(STAGE_ORDER)


def test_it_names_the_first_error_in_stage_order_as_the_root_cause(
    dns_server: DnsTestServer, smtpd_factory: Smtpd, ssl_cert_file: object, mail_cert: trustme.LeafCert
) -> None:
    server = smtpd_factory(tls="starttls", cert=mail_cert, users={"ops": "right"})
    env = full_env(
        dns_server, server, "starttls", SMTP_USER="ops", SMTP_PASSWORD=PASSWORD, APP_URL="http://localhost"
    )
    dns_server.load(healthy_zone().replace("ip4:127.0.0.1 ip6:::1", "ip4:192.0.2.1"))
    report = doctor(settings(**env))
    assert codes(report) == [
        "auth.failed",
        "dns.spf_not_authorizing",
        "links.insecure",
        "links.host_mismatch",
    ]
    data = report.to_json()
    validate(data)
    assert (data["ok"], data["root_cause"]) == (False, "auth.failed")
    assert data["findings"][0]["evidence"] == "535 5.7.8 Authentication credentials invalid"
    assert data["settings"] == {
        **data["settings"],
        "provider": "smtp",
        "host": "mail.example.com",
        "security": "starttls",
        "user": "ops",
        "password": "set",
        "from": "ops@example.com",
    }


def test_it_renders_the_terminal_report(
    dns_server: DnsTestServer, smtpd_factory: Smtpd, ssl_cert_file: object, mail_cert: trustme.LeafCert
) -> None:
    server = smtpd_factory(tls="starttls", cert=mail_cert, users={"ops": "right"})
    out = io.StringIO()
    report = doctor(
        settings(**full_env(dns_server, server, "starttls", SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)),
        on_check=render.print_live(out, color=False),
    )
    live = out.getvalue().splitlines()
    assert len(live) == len(report.checks)
    assert any(
        line.startswith("  fail  auth.login")
        and line.endswith("535 5.7.8 Authentication credentials invalid")
        for line in live
    )
    text = render.summary(report, color=False)
    assert "Root cause: error: auth.failed - The SMTP server rejected the username or password" in text
    assert "  Evidence: 535 5.7.8 Authentication credentials invalid" in text
    assert "    1. " in text
    assert text.rstrip().endswith(f"1 error, 0 warnings ({report.duration_ms} ms).")
    assert "\033[" not in text
    assert "\033[1;31merror: auth.failed\033[0m" in render.summary(report, color=True)


def test_it_colours_only_a_terminal_without_no_color() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert render.use_color(Tty(), {}) is True
    assert render.use_color(Tty(), {"NO_COLOR": "1"}) is False
    assert render.use_color(io.StringIO(), {}) is False


def test_the_schema_knows_every_code() -> None:
    assert set(SCHEMA["$defs"]["code"]["enum"]) == {c.value for c in Code}
    assert SCHEMA["$defs"]["stage"]["enum"] == list(STAGE_ORDER)


SMTP_SECRET = "SmTp-PaSsWoRd-d1st1nct1ve-77"
API_KEY = "SG.ApI-kEy-d1st1nct1ve-88"


def test_it_never_prints_a_secret_even_when_servers_echo_it(
    dns_server: DnsTestServer, smtpd_factory: Smtpd, ssl_cert_file: object, mail_cert: trustme.LeafCert
) -> None:
    server = smtpd_factory(tls="starttls", cert=mail_cert, users={"ops": "right"})
    plain = base64.b64encode(f"\0ops\0{SMTP_SECRET}".encode()).decode()
    # a server that quotes the AUTH line back, as some do in their syntax errors
    server.inject("AUTH", f"501 5.5.2 Syntax error in AUTH PLAIN {plain} near {SMTP_SECRET}")
    key = dkim_key().reveal()
    env = full_env(
        dns_server,
        server,
        "starttls",
        SMTP_USER="ops",
        SMTP_PASSWORD=SMTP_SECRET,
        POSTWARDEN_SECRET_KEY="service-SeCrEt-key-0123456789abcdef",
    )
    out = io.StringIO()
    report = doctor(settings(**env), on_check=render.print_live(out, color=False))
    printed = out.getvalue() + render.summary(report) + render.to_json(report) + repr(report)
    for secret in (
        SMTP_SECRET,
        plain,
        base64.b64encode(SMTP_SECRET.encode()).decode(),
        "service-SeCrEt-key-0123456789abcdef",
        *[line for line in key.splitlines() if len(line) > 20],
    ):
        assert secret not in printed
    assert "501 5.5.2 Syntax error in AUTH PLAIN •••• near ••••" in printed
    validate(report.to_json())


def test_it_never_prints_a_provider_key_the_api_echoes(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v3/scopes").respond_with_json(
        {"errors": [{"message": f"The provided authorization grant {API_KEY} is invalid"}]}, status=401
    )
    env = {
        "EMAIL_PROVIDER": "sendgrid",
        "SENDGRID_API_KEY": API_KEY,
        "SENDGRID_API_URL": httpserver.url_for("/v3/"),
        "MAIL_FROM": "ops@example.com",
    }
    out = io.StringIO()
    report = doctor(
        settings(**env), on_check=render.print_live(out, color=False), only=frozenset({"provider"})
    )
    printed = out.getvalue() + render.summary(report) + render.to_json(report)
    assert codes(report) == ["provider.invalid_credentials"]
    assert API_KEY not in printed
    assert "The provided authorization grant •••• is invalid" in printed
    assert json.loads(render.to_json(report))["settings"]["SENDGRID_API_KEY"] == "set"
