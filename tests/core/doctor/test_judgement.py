"""The doctor's judgement against real servers on loopback (aiosmtpd and raw scripted
servers): the kinds of wrong answer issue #11's held-out faults found.

- a server's SIZE limit is compared with what real messages weigh, and the probe declares
  SIZE= in MAIL FROM;
- a temporary refusal before the envelope (greeting, STARTTLS, AUTH) is an error, and the
  verdict is not "All clear";
- throttling at RCPT is throttling, not a refusal of the recipient;
- a refusal naming the sender or the recipient is attributed to the one it names.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postwarden.core.doctor.model import Severity, Status
from postwarden.core.doctor.render import summary
from postwarden.core.doctor.service import ServiceFacts
from tests.core.doctor.helpers import check, codes, finding
from tests.core.doctor.smtp_helpers import PASSWORD, walk
from tests.smtpd import RawServer, SmtpServer, banner, close_at_once

Smtpd = Callable[..., SmtpServer]
Raw = Callable[..., RawServer]


def sizes(*values: int) -> ServiceFacts:
    return ServiceFacts(recent_sizes=tuple((f"msg{i}", n) for i, n in enumerate(values)))


def mail_from_lines(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.line for t in report.transcript if t.dir == "client" and t.line.startswith("MAIL FROM")]


# -- SIZE ---------------------------------------------------------------------------------


def test_real_messages_over_the_advertised_size_are_an_error(smtpd_factory: Smtpd) -> None:
    server = smtpd_factory(size_limit=20_000)
    report = walk(server, options={"service": sizes(3_000, 48_213, 25_000, 900)})
    found = finding(report, "envelope.message_too_large")
    assert found.severity is Severity.ERROR
    assert report.root_cause is found
    assert "SIZE 20000" in found.evidence
    assert "48213 bytes" in found.evidence
    assert "2 of the last 4 messages are larger" in found.evidence
    assert any("POSTWARDEN_MAX_MESSAGE_BYTES=20000" in step for step in found.steps)
    assert check(report, "envelope.size").status is Status.FAIL
    # the probe still checks the sender and the recipient, declaring no size it knows is too big
    assert check(report, "envelope.rcpt_to").status is Status.PASS
    assert mail_from_lines(report) == ["MAIL FROM:<ops@example.com>"]


def test_without_real_messages_a_typical_size_is_compared(smtpd_factory: Smtpd) -> None:
    report = walk(smtpd_factory(size_limit=20_000))
    found = finding(report, "envelope.message_too_large")
    assert found.severity is Severity.WARNING
    assert "a typical HTML notification is 100000 bytes" in found.evidence
    assert "All clear" not in summary(report)


def test_the_probe_declares_the_size_of_real_messages(smtpd: SmtpServer) -> None:
    """A server that checks the declared size against a per-user limit refuses MAIL FROM."""
    smtpd.inject("MAIL", "552 5.3.4 Message size exceeds fixed limit", match="SIZE=")
    report = walk(smtpd, options={"service": sizes(30_000, 61_440)})
    assert mail_from_lines(report) == ["MAIL FROM:<ops@example.com> SIZE=61440"]
    found = finding(report, "envelope.message_too_large")
    assert found.evidence == "552 5.3.4 Message size exceeds fixed limit"
    assert found.severity is Severity.ERROR


def test_messages_within_the_limit_pass(smtpd: SmtpServer) -> None:
    report = walk(smtpd, options={"service": sizes(30_000, 61_440)})
    assert codes(report) == []
    assert check(report, "envelope.size").detail.startswith("the server takes up to 10240000 bytes")
    assert [m.mail_options for m in smtpd.messages] == []  # a probe, nothing sent


# -- a temporary refusal before the envelope blocks every message ------------------------


@pytest.mark.parametrize(
    "greeting",
    [
        "421 4.3.2 System not accepting network messages",  # Postfix
        "451 Temporary local problem - please try later",  # Exim
        "450 4.3.0 mx.example.com Temporary failure, try again later",  # Sendmail
    ],
)
def test_a_temporary_greeting_refusal_is_an_error(raw_smtpd_factory: Raw, greeting: str) -> None:
    report = walk(raw_smtpd_factory(banner(greeting, then=close_at_once())), options={"usual_ports": {}})
    assert codes(report) == ["network.service_refused"]
    assert finding(report, "network.service_refused").severity is Severity.ERROR
    assert report.exit_status == 1
    assert "Problems found" in summary(report)


def test_a_throttled_greeting_is_throttling_and_an_error(raw_smtpd_factory: Raw) -> None:
    greeting = "421 4.7.0 Try again later, closing connection."  # Gmail
    report = walk(raw_smtpd_factory(banner(greeting, then=close_at_once())), options={"usual_ports": {}})
    found = finding(report, "envelope.rate_limited")
    assert (found.severity, found.evidence) == (Severity.ERROR, greeting)
    assert report.root_cause is found


@pytest.mark.parametrize(
    "reply",
    [
        "454 4.7.0 TLS not available due to local problem",  # Postfix
        "454 4.3.3 TLS not available after start",  # Sendmail
    ],
)
def test_a_temporary_starttls_refusal_under_required_tls_is_an_error(
    smtpd_factory: Smtpd, ssl_cert_file: object, reply: str
) -> None:
    server = smtpd_factory(tls="starttls")
    server.inject("STARTTLS", reply)
    report = walk(server, "starttls", options={"usual_ports": {}})
    found = finding(report, "tls.starttls_unavailable")
    assert (found.severity, found.evidence) == (Severity.ERROR, reply)
    assert report.ok is False
    assert "All clear" not in summary(report)


@pytest.mark.parametrize(
    "reply",
    [
        "454 4.7.0 Temporary authentication failure",  # Exchange, Postfix
        # Postfix with Dovecot SASL
        "454 4.7.0 Temporary authentication failure: Connection lost to authentication server",
        "435 Unable to authenticate at present",  # Exim
    ],
)
def test_a_temporary_auth_refusal_under_required_tls_is_an_error(
    smtpd_factory: Smtpd, ssl_cert_file: object, reply: str
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD})
    server.inject("AUTH", reply)
    report = walk(server, SMTP_USER="ops", SMTP_PASSWORD=PASSWORD)
    found = finding(report, "auth.failed")
    assert (found.severity, found.evidence) == (Severity.ERROR, reply)
    assert report.root_cause is found


def test_only_warnings_do_not_read_as_all_clear(smtpd: SmtpServer) -> None:
    smtpd.inject("RCPT", "450 4.7.1 Server busy, try again later")
    report = walk(smtpd)
    assert report.ok is True
    assert summary(report).rstrip().splitlines()[-1].startswith("Warnings: 0 errors, 1 warning")


# -- throttling at RCPT ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "451 4.3.2 Server busy, try again later",  # Sendmail
        "450 4.7.1 Server busy, try again later",  # Zimbra
        "451 4.7.500 Server busy. Please try again later from [127.0.0.1]. (S77714)",  # Exchange Online
        "451 Too many connections from your IP address, try again later",  # Mimecast
        "450 4.7.0 rate limit exceeded",  # Haraka
        "452 4.5.3 Error: too many recipients",  # Postfix
        "421 4.7.0 Try again later, closing connection.",  # Gmail
        [
            "450-4.2.1 The user you are trying to contact is receiving mail at a rate that",
            "450 4.2.1 prevents additional messages from being delivered. - gsmtp",
        ],  # Gmail
    ],
)
def test_throttling_at_rcpt_is_not_a_recipient_refusal(smtpd: SmtpServer, reply: str | list[str]) -> None:
    smtpd.inject("RCPT", reply)
    report = walk(smtpd)
    assert codes(report) == ["envelope.rate_limited"]
    assert finding(report, "envelope.rate_limited").severity is Severity.WARNING


# -- which identity the refusal names ---------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply", "code", "named"),
    [
        # Postfix checks the sender at RCPT time (smtpd_delay_reject): the words name the sender
        (
            "RCPT",
            "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user ops",
            "envelope.sender_rejected",
            "ops@example.com",
        ),
        (
            "RCPT",
            "550 5.7.1 <ops@example.com>... Access denied",
            "envelope.sender_rejected",
            "ops@example.com",
        ),
        (
            "RCPT",
            "550 5.7.1 <dest@example.org>: Recipient address rejected: Access denied",
            "envelope.recipient_rejected",
            "dest@example.org",
        ),
        (
            "MAIL",
            "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
            "envelope.sender_rejected",
            "ops@example.com",
        ),
        (
            "RCPT",
            [
                "550-5.7.1 [127.0.0.1] The user or domain that you are sending to (or from) has a policy",
                "550 5.7.1 that prohibited the mail that you sent. - gsmtp",
            ],
            "envelope.recipient_rejected",
            None,
        ),
    ],
)
def test_the_refusal_is_attributed_to_the_identity_it_names(
    smtpd: SmtpServer, command: str, reply: str | list[str], code: str, named: str | None
) -> None:
    smtpd.inject(command, reply)
    report = walk(smtpd)
    assert codes(report) == [code]
    found = finding(report, code)
    assert found.severity is Severity.ERROR
    if named is not None:
        assert named in found.explanation
