"""The SMTP walk against real servers on loopback (tests/smtpd.py): every network, tls,
auth and envelope code, in several real servers' words, with the evidence verbatim."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable

import pytest
import trustme

from postwarden.core import i18n
from postwarden.core.config.model import Security
from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import check, codes, finding
from tests.core.doctor.smtp_helpers import PASSWORD, SMTP_STAGES, walk
from tests.dnsd import DnsTestServer
from tests.smtpd import RawServer, SmtpServer, banner, close_at_once, silent

Smtpd = Callable[..., SmtpServer]
Raw = Callable[..., RawServer]


def errors(report):  # type: ignore[no-untyped-def]
    return [f.code.value for f in report.findings if f.severity is Severity.ERROR]


# -- healthy in every security mode ----------------------------------------------------


@pytest.mark.parametrize(
    ("tls", "security", "users"),
    [
        ("none", "none", None),
        ("starttls", "starttls", {"ops": PASSWORD}),
        ("implicit", "ssl", {"ops": PASSWORD}),
        ("starttls", "opportunistic", None),
        ("none", "opportunistic", None),
    ],
)
def test_it_walks_a_healthy_server_in_each_mode(
    smtpd_factory: Smtpd, ssl_cert_file: object, tls: str, security: str, users: dict[str, str] | None
) -> None:
    # aiosmtpd knows a connection is encrypted only after its own STARTTLS, so on an
    # implicit-TLS port it would never offer AUTH while it requires TLS for it
    server = smtpd_factory(tls=tls, users=users, auth_require_tls=tls != "implicit")
    creds = {"SMTP_USER": "ops", "SMTP_PASSWORD": PASSWORD} if users else {}
    report = walk(server, security, **creds)
    assert errors(report) == []
    assert check(report, "envelope.rset").status is Status.PASS
    assert server.messages == []  # the probe sends no mail
    if users:
        assert check(report, "auth.login").detail == "authenticated with PLAIN"
    if security == "opportunistic" and tls == "none":
        assert check(report, "tls.starttls").status is Status.WARN


def test_it_lists_the_steps_as_checks_in_order(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD})
    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    assert [c.id for c in report.checks if c.stage in SMTP_STAGES and c.id not in ("envelope.size",)] == [
        "network.resolve",
        "network.connect",
        "network.greeting",
        "network.ehlo",
        "network.ehlo_after_tls",
        "tls.certificate",
        "tls.starttls",
        "auth.login",
        "envelope.mail_from",
        "envelope.rcpt_to",
        "envelope.rset",
    ]
    assert check(report, "network.connect").detail == f"connected to 127.0.0.1:{server.port}"


# -- network -------------------------------------------------------------------------


def test_it_reports_a_host_without_address_asking_the_given_resolver(
    dns_server: DnsTestServer, smtpd: SmtpServer
) -> None:
    dns_server.load("example.com. 300 IN MX 10 mx.example.com.")
    report = walk(smtpd, SMTP_HOST="smtp.example.com", options={"dns_server": dns_server.address})
    found = finding(report, "network.dns_unresolvable")
    assert found.evidence.startswith("smtp.example.com: no A or AAAA record at the DNS server at 127.0.0.1:")
    assert dns_server.asked("smtp.example.com", "A")
    assert dns_server.asked("smtp.example.com", "AAAA")
    assert "network.other_modes" not in [c.id for c in report.checks]  # no other port helps a missing host


def test_it_connects_where_the_given_resolver_says(dns_server: DnsTestServer, smtpd: SmtpServer) -> None:
    dns_server.load("smtp.example.com. 300 IN A 127.0.0.1")
    report = walk(smtpd, SMTP_HOST="smtp.example.com", options={"dns_server": dns_server.address})
    assert errors(report) == []
    assert check(report, "network.resolve").detail == f"127.0.0.1:{smtpd.port}"


def test_it_reports_a_refused_connection(closed_port: int, smtpd: SmtpServer) -> None:
    report = walk(smtpd, SMTP_PORT=str(closed_port))
    found = finding(report, "network.connection_refused")
    assert found.evidence == "Connection refused"
    assert check(report, "network.connect").status is Status.FAIL


def test_it_reports_a_connection_timeout(blackhole_port: int, smtpd: SmtpServer) -> None:
    report = walk(smtpd, SMTP_PORT=str(blackhole_port), timeout=0.5)
    found = finding(report, "network.timeout")
    assert found.evidence == "no connection within 0.5 s"


def test_it_reports_no_greeting_and_names_the_mode_that_works(
    smtpd_factory: Smtpd, ssl_cert_file: object
) -> None:
    # implicit TLS on the port, starttls configured: the server waits for a handshake
    implicit = smtpd_factory(tls="implicit")
    report = walk(
        implicit,
        "starttls",
        timeout=0.5,
        options={"usual_ports": {Security.SSL: (implicit.port,), Security.STARTTLS: (implicit.port,)}},
    )
    found = finding(report, "network.no_greeting")
    assert found.evidence == "no reply within 0.5 s"
    assert found.steps[0] == f"SMTP_SECURITY=ssl on port {implicit.port} works: set that instead."
    assert check(report, "network.other_modes").detail.startswith(f"ssl:{implicit.port} works")


def test_it_reports_a_silent_server(raw_smtpd_factory: Raw) -> None:
    report = walk(raw_smtpd_factory(silent()), timeout=0.5, options={"usual_ports": {}})
    assert codes(report) == ["network.no_greeting"]


@pytest.mark.parametrize(
    "greeting",
    [
        "421 4.7.0 mx.example.com Service not available, closing transmission channel",  # Postfix
        "554 5.7.1 mx.example.com ESMTP not accepting messages",  # Postfix smtpd_banner reject
        "554 mx.example.com ESMTP server not available",  # Exim
    ],
)
def test_it_reports_a_refused_greeting(raw_smtpd_factory: Raw, greeting: str) -> None:
    report = walk(raw_smtpd_factory(banner(greeting, then=close_at_once())), options={"usual_ports": {}})
    assert codes(report) == ["network.service_refused"]
    assert finding(report, "network.service_refused").evidence == greeting


def test_it_reports_a_server_that_hangs_up(raw_smtpd_factory: Raw) -> None:
    report = walk(raw_smtpd_factory(close_at_once()), options={"usual_ports": {}})
    assert codes(report) == ["network.service_refused"]


def test_it_reads_a_rate_limit_in_the_greeting(raw_smtpd_factory: Raw) -> None:
    greeting = "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.7"
    report = walk(raw_smtpd_factory(banner(greeting, then=close_at_once())), options={"usual_ports": {}})
    assert codes(report) == ["envelope.rate_limited"]


def test_it_recognises_an_imap_port(raw_smtpd_factory: Raw) -> None:
    imap = "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS AUTH=PLAIN] Dovecot ready."
    report = walk(raw_smtpd_factory(banner(imap)), options={"usual_ports": {}})
    found = finding(report, "network.no_greeting")
    assert (found.title, found.evidence) == ("This port speaks IMAP, not SMTP", imap)


# -- tls -----------------------------------------------------------------------------


def test_it_reports_ssl_on_a_plain_port_and_names_starttls(
    smtpd_factory: Smtpd, ssl_cert_file: object
) -> None:
    starttls = smtpd_factory(tls="starttls")
    report = walk(
        starttls,
        "ssl",
        SMTP_PORT=str(starttls.port),
        options={"usual_ports": {Security.STARTTLS: (starttls.port,)}},
    )
    found = finding(report, "tls.handshake_failed")
    assert found.evidence == "[SSL: WRONG_VERSION_NUMBER] wrong version number"
    assert found.steps[0] == f"SMTP_SECURITY=starttls on port {starttls.port} works: set that instead."


@pytest.mark.parametrize(
    ("cert_fixture", "tls", "code", "evidence"),
    [
        (
            "untrusted_cert",
            "starttls",
            "tls.certificate_untrusted",
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer "
            "certificate",
        ),
        (
            "expired_cert",
            "implicit",
            "tls.certificate_untrusted",
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
        ),
        (
            "wrong_host_cert",
            "starttls",
            "tls.hostname_mismatch",
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, "
            "certificate is not "
            "valid for '127.0.0.1'.",
        ),
    ],
)
def test_it_reports_certificate_faults(
    request: pytest.FixtureRequest,
    smtpd_factory: Smtpd,
    ssl_cert_file: object,
    cert_fixture: str,
    tls: str,
    code: str,
    evidence: str,
) -> None:
    cert: trustme.LeafCert = request.getfixturevalue(cert_fixture)
    report = walk(smtpd_factory(tls=tls, cert=cert), options={"usual_ports": {}})
    assert codes(report) == [code]
    assert finding(report, code).evidence == evidence


def test_it_accepts_an_untrusted_certificate_when_verification_is_off(
    smtpd_factory: Smtpd, untrusted_cert: trustme.LeafCert
) -> None:
    report = walk(smtpd_factory(tls="starttls", cert=untrusted_cert), SMTP_TLS_VERIFY="false")
    assert errors(report) == []
    assert check(report, "tls.starttls").detail.endswith("(certificate not verified)")


def test_it_reports_starttls_not_offered(smtpd: SmtpServer) -> None:
    report = walk(smtpd, "starttls", options={"usual_ports": {}})
    found = finding(report, "tls.starttls_unavailable")
    assert found.evidence == "the server's EHLO does not list STARTTLS"


# -- auth ----------------------------------------------------------------------------


def test_it_reports_auth_required_without_credentials(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD}, auth_required=True)
    report = walk(server)
    found = finding(report, "auth.required")
    assert found.evidence.startswith("530 5.7.0 Authentication required")
    assert check(report, "envelope.mail_from").status is Status.FAIL


def test_it_reports_sendgrids_unauthenticated_wording(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls")
    server.inject("MAIL", "550 Unauthenticated senders not allowed")
    assert codes(walk(server)) == ["auth.required"]


def test_it_reports_credentials_the_server_cannot_take(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    report = walk(smtpd_factory(tls="starttls"), SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    assert codes(report) == ["auth.unavailable"]


def test_it_reports_auth_offered_only_after_starttls(smtpd_factory: Smtpd) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD}, auth_require_tls=True)
    server.inject("EHLO", ["250-smtpd.test", "250-STARTTLS", "250 PIPELINING"])
    report = walk(server, "none", SMTP_USER="ops", SMTP_PASSWORD=PASSWORD, SMTP_PORT=str(server.port))
    assert codes(report) == ["auth.encryption_required"]


def test_it_reports_538_encryption_required(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD})
    server.inject("AUTH", "538 5.7.11 Encryption required for requested authentication mechanism")
    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    assert codes(report) == ["auth.encryption_required"]


AUTH_DIALECTS = [
    ("aiosmtpd", None, "535 5.7.8 Authentication credentials invalid"),
    (
        "Gmail",
        [
            "535-5.7.8 Username and Password not accepted. For more information, go to",
            "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a05600c000100b0040 - gsmtp",
        ],
        "535 5.7.8 Username and Password not accepted. For more information, go to "
        "https://support.google.com/mail/?p=BadCredentials a1-20020a05600c000100b0040 - gsmtp",
    ),
    (
        "Gmail 2SV",
        [
            "534-5.7.9 Application-specific password required. Learn more at",
            "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
        ],
        "534 5.7.9 Application-specific password required. Learn more at "
        "https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp",
    ),
    (
        "Exchange Online",
        "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. "
        "[AM0PR02CA0001.eurprd02.prod.outlook.com]",
        "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. "
        "[AM0PR02CA0001.eurprd02.prod.outlook.com]",
    ),
    ("Amazon SES", "535 Authentication Credentials Invalid", "535 Authentication Credentials Invalid"),
    (
        "Postfix",
        "535 5.7.8 Error: authentication failed: authentication failure",
        "535 5.7.8 Error: authentication failed: authentication failure",
    ),
    ("Exim", "535 Incorrect authentication data", "535 Incorrect authentication data"),
    ("Mailgun", "535 5.7.0 Authentication failed", "535 5.7.0 Authentication failed"),
    (
        "SendGrid",
        "535 Authentication failed: Bad username / password",
        "535 Authentication failed: Bad username / password",
    ),
]


@pytest.mark.parametrize(("dialect", "reply", "evidence"), AUTH_DIALECTS, ids=[d[0] for d in AUTH_DIALECTS])
def test_it_reports_rejected_credentials(
    smtpd_factory: Smtpd, ssl_cert_file: object, dialect: str, reply: list[str] | str | None, evidence: str
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": "the-right-one"})
    if reply is not None:
        server.inject("AUTH", reply)
    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    assert codes(report) == ["auth.failed"]
    found = finding(report, "auth.failed")
    assert (found.severity, found.evidence) == (Severity.ERROR, evidence)
    assert found.steps
    assert report.root_cause is found


# -- envelope ------------------------------------------------------------------------

ENVELOPE = [
    # (server, command, reply, code, severity)
    (
        "Postfix",
        "MAIL",
        "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user ops",
        "envelope.sender_rejected",
        Severity.ERROR,
    ),
    (
        "Exchange Online",
        "MAIL",
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
        "envelope.sender_rejected",
        Severity.ERROR,
    ),
    (
        "Zoho",
        "MAIL",
        "553 Relaying disallowed as ops@example.com",
        "envelope.sender_rejected",
        Severity.ERROR,
    ),
    ("Exim", "MAIL", "550 Sender verify failed", "envelope.sender_rejected", Severity.ERROR),
    (
        "Postfix",
        "RCPT",
        "554 5.7.1 <dest@example.org>: Relay access denied",
        "envelope.relay_denied",
        Severity.ERROR,
    ),
    (
        "Postfix (Docker NAT)",
        "RCPT",
        "554 5.7.1 <unknown[172.17.0.3]>: Client host rejected: Access denied",
        "envelope.relay_denied",
        Severity.ERROR,
    ),
    ("Exim", "RCPT", "550 relay not permitted", "envelope.relay_denied", Severity.ERROR),
    (
        "Postfix",
        "RCPT",
        "550 5.1.1 <dest@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        "envelope.recipient_rejected",
        Severity.ERROR,
    ),
    (
        "Gmail",
        "RCPT",
        [
            "550-5.1.1 The email account that you tried to reach does not exist. Please try",
            "550 5.1.1 double-checking the recipient's email address for typos - gsmtp",
        ],
        "envelope.recipient_rejected",
        Severity.ERROR,
    ),
    (
        "Exchange Online",
        "RCPT",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "envelope.recipient_rejected",
        Severity.ERROR,
    ),
    (
        "Postgrey",
        "RCPT",
        "450 4.2.0 <dest@example.org>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
        "envelope.greylisted",
        Severity.WARNING,
    ),
    (
        "Exim",
        "RCPT",
        "451 4.7.1 Greylisting in action, please come back later",
        "envelope.greylisted",
        Severity.WARNING,
    ),
    (
        "Postfix",
        "MAIL",
        "450 4.7.1 Error: too much mail from 192.0.2.7",
        "envelope.rate_limited",
        Severity.WARNING,
    ),
    (
        "Gmail",
        "RCPT",
        [
            "450-4.2.1 The user you are trying to contact is receiving mail at a rate that",
            "450 4.2.1 prevents additional messages from being delivered. - gsmtp",
        ],
        "envelope.rate_limited",
        Severity.WARNING,
    ),
    (
        "Gmail",
        "MAIL",
        [
            "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail",
            "550 5.4.5 sending limits go to https://support.google.com/a/answer/166852 - gsmtp",
        ],
        "envelope.rate_limited",
        Severity.ERROR,
    ),
    (
        "Postfix",
        "MAIL",
        "552 5.3.4 Message size exceeds fixed limit",
        "envelope.message_too_large",
        Severity.ERROR,
    ),
]


@pytest.mark.parametrize(
    ("dialect", "command", "reply", "code", "severity"), ENVELOPE, ids=[f"{e[0]}-{e[3]}" for e in ENVELOPE]
)
def test_it_reports_envelope_refusals(
    smtpd: SmtpServer, dialect: str, command: str, reply: str | list[str], code: str, severity: Severity
) -> None:
    smtpd.inject(command, reply)
    report = walk(smtpd)
    found = finding(report, code)
    assert codes(report) == [code]
    assert found.severity is severity
    first = reply[0] if isinstance(reply, list) else reply  # "550-5.1.1 …" reads as "550 5.1.1 …"
    assert found.evidence.startswith(f"{first[:3]} {first[4:].split(' ')[0]}")
    assert report.exit_status == (1 if severity is Severity.ERROR else 0)


def test_it_sends_a_real_test_mail_when_asked(smtpd_factory: Smtpd) -> None:
    server = smtpd_factory(data_reply="250 2.0.0 Ok: queued as {queue_id}")
    report = walk(server, options={"send": True}, MAIL_FROM_NAME="Ops")
    assert errors(report) == []
    [message] = server.delivered
    assert message.rcpt_tos == ["dest@example.org"]
    assert check(report, "envelope.data").detail == f"queued as {message.queue_id}"
    assert b"Subject: Postwarden doctor: test message" in message.data


def test_the_test_mail_speaks_the_instance_language(smtpd: SmtpServer) -> None:
    """POSTWARDEN_LANGUAGE=fa: a Persian subject (RFC 2047) and body (UTF-8), read back
    by Python's own mail parser; the terminal's language does not decide it."""
    with i18n.override("en"):
        walk(smtpd, options={"send": True}, POSTWARDEN_LANGUAGE="fa")
    [message] = smtpd.delivered
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert parsed["Subject"] == "Postwarden doctor: پیام آزمایشی"
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    body = parsed.get_content()
    assert body.startswith("این پیام را `postwarden doctor --send` فرستاد")
    assert b"Subject: =?utf-8?" in message.data  # encoded on the wire: the raw header is ASCII
    assert message.data.split(b"\r\n\r\n", 1)[0].isascii()


def test_it_signs_the_test_mail_as_the_worker_would(smtpd: SmtpServer) -> None:
    from tests.core.doctor.helpers import dkim_key

    walk(smtpd, options={"send": True}, DKIM_SELECTOR="pw1", DKIM_PRIVATE_KEY=dkim_key().reveal())
    [message] = smtpd.delivered
    assert message.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert b" d=example.com;" in message.data
    assert b" s=pw1;" in message.data


def test_it_reports_content_refused_at_data(smtpd: SmtpServer) -> None:
    smtpd.inject("DATA", "554 5.7.1 Message rejected as spam by Content Filtering.")
    report = walk(smtpd, options={"send": True})
    assert codes(report) == ["envelope.content_rejected"]
    assert check(report, "envelope.data").status is Status.FAIL


# -- the transcript ------------------------------------------------------------------


def test_it_keeps_the_transcript_without_the_password(smtpd_factory: Smtpd, ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD}, auth_mechanisms=("LOGIN",))
    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    lines = [(t.dir, t.line) for t in report.transcript]
    assert lines[0] == ("server", "220 smtpd.test Python SMTP 1.4.6")
    assert ("client", "EHLO client.example.com") in lines
    assert ("client", "STARTTLS") in lines
    assert ("client", "RSET") in lines
    text = repr(report.to_json())
    assert PASSWORD not in text
    import base64

    assert base64.b64encode(PASSWORD.encode()).decode() not in text


def test_it_does_not_probe_with_an_invalid_address(smtpd: SmtpServer) -> None:
    report = walk(smtpd, only=frozenset({"config", "network", "envelope"}), MAIL_FROM="ops@")
    assert codes(report) == ["config.invalid_address"]
    assert check(report, "envelope.mail_from").status is Status.SKIP
    assert smtpd.commands[-1] == "QUIT"
    assert not any(c.startswith("MAIL") for c in smtpd.commands)
