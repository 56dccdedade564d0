"""Real failures from real peers on loopback, as Python's smtplib and ssl report them,
classified as the worker and ``postwarden explain`` see them.

The servers are the shared aiosmtpd and raw-socket fixtures of tests/smtpd.py, with
trustme certificates; the client is the standard library, whose messages are what users
of Django and smtplib-based apps paste. Nothing here is mocked.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from postwarden.core.codes import Code, Severity
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.replies.explain import explain_text
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage
from tests.smtpd import RawServer, SmtpServer, banner, close_at_once, silent

TIMEOUT = 5.0
MESSAGE = "From: app@example.test\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


def reply_of(code: int, message: bytes | str) -> Reply:
    text = message.decode() if isinstance(message, bytes) else message
    lines = text.splitlines() or [""]
    return Reply.from_lines(
        code, [f"{code}{'-' if i < len(lines) - 1 else ' '}{ln}" for i, ln in enumerate(lines)]
    )


def from_exception(stage: SmtpStage, exc: smtplib.SMTPResponseException, port: int) -> Explanation:
    return classify(stage=stage, reply=reply_of(exc.smtp_code, exc.smtp_error), detail=str(exc), port=port)


def test_a_wrong_password_is_auth_failed_and_never_shown(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(users={"ops": "right-pass"}, auth_require_tls=False)
    with smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client:
        client.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("ops", "Wr0ng-pa55-x7Q")
    got = from_exception(SmtpStage.AUTH, info.value, server.port)
    assert (got.code, got.severity, got.permanent) == (Code.AUTH_FAILED, Severity.ERROR, True)
    assert got.evidence == "535 5.7.8 Authentication credentials invalid"
    assert "Wr0ng-pa55-x7Q" not in repr(got)


def test_mail_without_login_is_auth_required(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(users={"ops": "pass"}, auth_required=True, auth_require_tls=False)
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(smtplib.SMTPSenderRefused) as info,
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MESSAGE)
    assert from_exception(SmtpStage.MAIL, info.value, server.port).code == Code.AUTH_REQUIRED


def test_mail_before_starttls_is_encryption_required(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(tls="starttls", require_starttls=True)
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(smtplib.SMTPResponseException) as info,
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MESSAGE)
    got = from_exception(SmtpStage.MAIL, info.value, server.port)
    assert (got.code, got.rule_id) == (Code.AUTH_ENCRYPTION_REQUIRED, "encryption.required")


def test_a_message_over_size_is_too_large(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(size_limit=200)
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(smtplib.SMTPResponseException) as info,
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MESSAGE + "x" * 1000)
    assert from_exception(SmtpStage.MAIL, info.value, server.port).code == Code.ENVELOPE_MESSAGE_TOO_LARGE


def test_an_unknown_recipient_is_recipient_rejected_also_when_pasted(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    server.inject(
        "RCPT",
        "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown in virtual mailbox table",
    )
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as info,
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MESSAGE)
    code, message = info.value.recipients["bob@example.test"]
    direct = classify(stage=SmtpStage.RCPT, reply=reply_of(code, message))
    pasted = explain_text(f"smtplib.SMTPRecipientsRefused: {info.value}")
    assert direct.code == pasted.code == Code.ENVELOPE_RECIPIENT_REJECTED
    assert pasted.evidence == direct.evidence


def test_a_multi_line_greylisting_reply_is_greylisted_with_its_wait(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    server.inject(
        "RCPT",
        [
            "450-4.7.1 <bob@example.test>: Recipient address rejected: Greylisted",
            "450 4.7.1 retry in 300 seconds",
        ],
    )
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as info,
    ):
        client.sendmail("app@example.test", ["bob@example.test"], MESSAGE)
    got = classify(stage=SmtpStage.RCPT, reply=reply_of(*info.value.recipients["bob@example.test"]))
    assert (got.code, got.severity, got.permanent, got.retry_after) == (
        Code.ENVELOPE_GREYLISTED,
        Severity.WARNING,
        False,
        300.0,
    )


def test_a_closed_port_is_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionRefusedError) as info:
        smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT)
    got = classify(stage=SmtpStage.CONNECT, reply=None, detail=str(info.value), port=port)
    assert got.code == Code.NETWORK_CONNECTION_REFUSED


def test_implicit_tls_to_a_plain_port_is_a_handshake_failure(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    with pytest.raises(ssl.SSLError) as info:
        smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT)
    got = classify(stage=SmtpStage.TLS, reply=None, detail=str(info.value), port=server.port)
    assert (got.code, got.rule_id) == (Code.TLS_HANDSHAKE_FAILED, "tls.mode_mismatch")


@pytest.mark.parametrize(
    ("cert_fixture", "code", "rule_id"),
    [
        ("untrusted_cert", Code.TLS_CERTIFICATE_UNTRUSTED, "tls.untrusted"),
        ("expired_cert", Code.TLS_CERTIFICATE_UNTRUSTED, "tls.expired"),
        ("wrong_host_cert", Code.TLS_HOSTNAME_MISMATCH, "tls.hostname"),
    ],
)
def test_certificate_faults_are_named(
    cert_fixture: str,
    code: Code,
    rule_id: str,
    smtpd_factory: Callable[..., SmtpServer],
    ca_file: Path,
    request: pytest.FixtureRequest,
) -> None:
    cert: trustme.LeafCert = request.getfixturevalue(cert_fixture)
    server = smtpd_factory(tls="starttls", cert=cert)
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT) as client,
        pytest.raises(ssl.SSLError) as info,
    ):
        client.starttls(context=context)
    got = classify(stage=SmtpStage.STARTTLS, reply=None, detail=str(info.value), port=server.port)
    assert (got.code, got.rule_id) == (code, rule_id)


def test_a_plain_client_on_an_implicit_tls_port_gets_no_greeting(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(tls="implicit")
    # smtplib says "timed out", or "Connection unexpectedly closed: timed out"
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)) as info:
        smtplib.SMTP(server.host, server.port, timeout=1.0)
    got = classify(stage=SmtpStage.GREETING, reply=None, detail=str(info.value), port=server.port)
    assert got.code == Code.NETWORK_NO_GREETING


@pytest.mark.parametrize(
    ("behaviour", "code", "rule_id"),
    [
        (
            banner("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready."),
            Code.NETWORK_NO_GREETING,
            "banner.imap",
        ),
        (close_at_once(), Code.NETWORK_SERVICE_REFUSED, "closed.greeting"),
        (silent(), Code.NETWORK_NO_GREETING, "timeout.greeting"),
    ],
)
def test_a_peer_that_does_not_greet_is_named(
    behaviour: Any, code: Code, rule_id: str, raw_smtpd_factory: Callable[..., RawServer]
) -> None:
    server = raw_smtpd_factory(behaviour)
    with pytest.raises((smtplib.SMTPException, OSError)) as info:
        smtplib.SMTP(server.host, server.port, timeout=1.0)
    detail = str(info.value)
    if isinstance(info.value, smtplib.SMTPConnectError):
        detail = info.value.smtp_error.decode()
    got = classify(stage=SmtpStage.GREETING, reply=None, detail=detail, port=server.port)
    assert (got.code, got.rule_id) == (code, rule_id)


def test_a_421_greeting_is_service_refused(raw_smtpd_factory: Callable[..., RawServer]) -> None:
    server = raw_smtpd_factory(banner("421 4.3.2 Service not available, closing transmission channel"))
    with pytest.raises(smtplib.SMTPConnectError) as info:
        smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)
    got = from_exception(SmtpStage.GREETING, info.value, server.port)
    assert (got.code, got.severity) == (Code.NETWORK_SERVICE_REFUSED, Severity.ERROR)
