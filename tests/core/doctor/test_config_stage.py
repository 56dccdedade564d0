"""The config stage: every config.* code the settings alone can produce, exactly worded."""

from __future__ import annotations

import pytest

from postwarden.core.doctor.checks.config import config_findings
from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import check, codes, doctor, finding, settings

ONLY = frozenset({"config"})
GOOD = {"SMTP_HOST": "smtp.example.com", "MAIL_FROM": "ops@example.com"}


def config_codes(**env: str) -> list[str]:
    return [f.code.value for f in config_findings(settings(**env))]


def test_it_finds_nothing_wrong_with_good_settings() -> None:
    report = doctor(settings(**GOOD), only=ONLY)
    assert codes(report) == []
    assert (
        check(report, "config.required").detail
        == "smtp via smtp.example.com:587 (starttls), From ops@example.com"
    )


def test_it_says_that_capture_sends_nothing() -> None:
    report = doctor(settings(MAIL_FROM="ops@example.com"), only=ONLY)
    found = finding(report, "config.missing")
    assert (found.severity, found.title) == (Severity.ERROR, "No mail is sent: Postwarden only captures it")
    assert found.evidence == "EMAIL_PROVIDER=capture (the default): mail is only captured, nothing is sent"
    assert report.exit_status == 1


def test_it_lists_every_missing_setting_in_one_finding() -> None:
    found = finding(doctor(settings(EMAIL_PROVIDER="mailgun"), only=ONLY), "config.missing")
    assert found.evidence == "MAILGUN_API_KEY is not set; MAILGUN_DOMAIN is not set; MAIL_FROM is not set"


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"EMAIL_PROVIDER": "smtp", "MAIL_FROM": "ops@example.com"}, "SMTP_HOST is not set"),
        (
            {"EMAIL_PROVIDER": "ses", "MAIL_FROM": "ops@example.com", "AWS_REGION": "eu-west-1"},
            "AWS_ACCESS_KEY_ID is not set; AWS_SECRET_ACCESS_KEY is not set",
        ),
        ({"EMAIL_PROVIDER": "sendgrid", "MAIL_FROM": "ops@example.com"}, "SENDGRID_API_KEY is not set"),
        ({"EMAIL_PROVIDER": "postmark", "MAIL_FROM": "ops@example.com"}, "POSTMARK_SERVER_TOKEN is not set"),
        ({"EMAIL_PROVIDER": "resend", "MAIL_FROM": "ops@example.com"}, "RESEND_API_KEY is not set"),
        ({"EMAIL_PROVIDER": "mandrill", "MAIL_FROM": "ops@example.com"}, "MANDRILL_API_KEY is not set"),
        ({"SMTP_HOST": "smtp.example.com"}, "MAIL_FROM is not set"),
    ],
)
def test_it_names_the_missing_setting(env: dict[str, str], missing: str) -> None:
    assert finding(doctor(settings(**env), only=ONLY), "config.missing").evidence == missing


@pytest.mark.parametrize(
    ("env", "evidence"),
    [
        ({"MAIL_FROM": "ops@"}, "MAIL_FROM: 'ops@' is not a valid email address"),
        (
            {"MAIL_REPLY_TO": "reply at example.com"},
            "MAIL_REPLY_TO: 'reply at example.com' is not a valid email",
        ),
        (
            {"TEST_EMAIL": "someone@host.invalid"},
            "the test recipient (--to or TEST_EMAIL): 'someone@host.invalid' is not",
        ),
    ],
)
def test_it_reports_invalid_addresses(env: dict[str, str], evidence: str) -> None:
    found = finding(doctor(settings(**{**GOOD, **env}), only=ONLY), "config.invalid_address")
    assert found.evidence.startswith(evidence)


def test_it_reports_an_invalid_to_address() -> None:
    found = finding(doctor(settings(**GOOD), only=ONLY, to="not-an-address"), "config.invalid_address")
    assert found.evidence.startswith("the test recipient (--to or TEST_EMAIL): 'not-an-address' is not")


def test_it_accepts_a_display_name_in_the_from_address() -> None:
    # Metabase users put "Name <address>" into the address field (mission-anchors E7)
    assert config_codes(**{**GOOD, "MAIL_FROM": "Metabase <bi@example.com>"}) == []


def test_it_reports_sending_switched_off() -> None:
    found = finding(doctor(settings(**GOOD, EMAIL_ENABLED="false"), only=ONLY), "config.disabled")
    assert found.evidence == "EMAIL_ENABLED=false (environment)"


def test_it_refuses_a_password_over_an_unencrypted_connection() -> None:
    found = finding(
        doctor(
            settings(
                **GOOD, SMTP_SECURITY="none", SMTP_PORT="25", SMTP_USER="ops@example.com", SMTP_PASSWORD="x"
            ),
            only=ONLY,
        ),
        "config.auth_without_tls",
    )
    assert (found.severity, found.evidence) == (
        Severity.ERROR,
        "SMTP_SECURITY=none with SMTP_USER and SMTP_PASSWORD set",
    )


@pytest.mark.parametrize(
    ("port", "security"),
    [("465", "starttls"), ("465", "opportunistic"), ("465", "none"), ("587", "ssl"), ("25", "ssl")],
)
def test_it_warns_about_a_port_of_another_mode(port: str, security: str) -> None:
    report = doctor(settings(**GOOD, SMTP_PORT=port, SMTP_SECURITY=security), only=ONLY)
    found = finding(report, "config.security_port_mismatch")
    assert (found.severity, found.evidence) == (
        Severity.WARNING,
        f"SMTP_PORT={port} with SMTP_SECURITY={security}",
    )
    assert check(report, "config.security").status is Status.WARN


@pytest.mark.parametrize(
    ("port", "security"),
    [("465", "ssl"), ("587", "starttls"), ("2525", "starttls"), ("25", "none"), ("25", "opportunistic")],
)
def test_it_accepts_usual_pairs(port: str, security: str) -> None:
    assert config_codes(**GOOD, SMTP_PORT=port, SMTP_SECURITY=security) == []


def test_it_warns_about_credentials_with_opportunistic_tls() -> None:
    found = finding(
        doctor(settings(**GOOD, SMTP_SECURITY="opportunistic", SMTP_USER="ops"), only=ONLY),
        "config.opportunistic_with_auth",
    )
    assert (found.severity, found.evidence) == (
        Severity.WARNING,
        "SMTP_SECURITY=opportunistic with SMTP_USER set",
    )


@pytest.mark.parametrize(
    ("env", "evidence"),
    [
        (
            {"MAIL_FROM": "me@gmail.com"},
            "MAIL_FROM is at gmail.com, but mail is sent through SMTP server smtp.example.com",
        ),
        (
            {"MAIL_FROM": "me@outlook.com", "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "k"},
            "MAIL_FROM is at outlook.com, but mail is sent through sendgrid",
        ),
    ],
)
def test_it_warns_about_a_freemail_from_through_another_server(env: dict[str, str], evidence: str) -> None:
    found = finding(doctor(settings(**{**GOOD, **env}), only=ONLY), "config.freemail_from")
    assert (found.severity, found.evidence) == (Severity.WARNING, evidence)


def test_it_accepts_a_freemail_from_through_its_own_server() -> None:
    assert (
        config_codes(
            SMTP_HOST="smtp.gmail.com",
            MAIL_FROM="me@gmail.com",
            SMTP_USER="me@gmail.com",
            SMTP_PASSWORD="app-password",
        )
        == []
    )


def test_it_ranks_config_findings_in_table_order() -> None:
    report = doctor(
        settings(
            SMTP_HOST="smtp.example.com",
            MAIL_FROM="me@gmail.com",
            EMAIL_ENABLED="false",
            SMTP_PORT="465",
            SMTP_SECURITY="none",
            SMTP_USER="me",
        ),
        only=ONLY,
    )
    assert codes(report) == [
        "config.disabled",
        "config.auth_without_tls",
        "config.security_port_mismatch",
        "config.freemail_from",
    ]
    assert report.root_cause is not None
    assert report.root_cause.code.value == "config.disabled"


def test_it_skips_the_database_checks_without_a_database() -> None:
    report = doctor(settings(**GOOD), only=ONLY)
    drift = check(report, "config.process_drift")
    assert (drift.status, drift.detail) == (
        Status.SKIP,
        "needs the service's database (none configured or reachable)",
    )
