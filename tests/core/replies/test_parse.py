"""parse_reply finds the server's reply in the text people paste."""

from __future__ import annotations

import pytest

from postwarden.core.replies.parse import find_enhanced, parse_reply, redact, retry_after_hint
from postwarden.core.smtp.reply import Reply


def reply_of(text: str) -> tuple[int, str | None, str]:
    found = parse_reply(text)
    assert found is not None, text
    return found.code, found.enhanced, found.text


def test_it_reads_a_plain_reply() -> None:
    assert reply_of("550 5.1.1 <bob@example.org>: User unknown") == (
        550,
        "5.1.1",
        "<bob@example.org>: User unknown",
    )


def test_it_reads_a_reply_without_enhanced_code() -> None:
    assert reply_of("553 Relaying disallowed as @") == (553, None, "Relaying disallowed as @")


def test_it_joins_a_multi_line_reply() -> None:
    found = parse_reply(
        "535-5.7.8 Username and Password not accepted. Learn more at\n"
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1sm - gsmtp"
    )
    assert found == Reply(
        code=535,
        enhanced="5.7.8",
        text="Username and Password not accepted. Learn more at "
        "https://support.google.com/mail/?p=BadCredentials x1sm - gsmtp",
        lines=(
            "535-5.7.8 Username and Password not accepted. Learn more at",
            "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1sm - gsmtp",
        ),
    )


def test_it_joins_a_multi_line_reply_a_logger_flattened() -> None:
    assert reply_of(
        "Net::SMTPAuthenticationError: 535-5.7.8 Username and Password not accepted. Learn more at "
        "535 5.7.8 https://support.google.com/mail/?p=BadCredentials"
    ) == (
        535,
        "5.7.8",
        "Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "javax.mail.AuthenticationFailedException: 535-5.7.8 Username and Password not accepted.",
            (535, "5.7.8", "Username and Password not accepted."),
        ),
        (
            "Connection unsuccessful: Failed to add to email address - 554 5.7.1 <unknown[1.2.3.4]>: "
            "Client host rejected: Access denied",
            (554, "5.7.1", "<unknown[1.2.3.4]>: Client host rejected: Access denied"),
        ),
        (
            "No matching clause: 530 5.7.0 Must issue a STARTTLS command first.",
            (530, "5.7.0", "Must issue a STARTTLS command first."),
        ),
        (
            "SendMail: Failed to close connection to SMTP server, 553 Relaying disallowed as @",
            (553, None, "Relaying disallowed as @"),
        ),
        (
            "Failed to authenticate on SMTP server [details: 504 5.7.4 Unrecognized authentication type]",
            (504, "5.7.4", "Unrecognized authentication type"),
        ),
        (
            "javax.mail.MessagingException: 550 5.7.1 Relaying denied;\n  nested exception is:\n\t"
            "com.sun.mail.smtp.SMTPAddressFailedException: 550 5.7.1 Relaying denied",
            (550, "5.7.1", "Relaying denied"),
        ),
        (
            "smtplib.SMTPRecipientsRefused: {'bob@example.org': (550, b'5.1.1 <bob@example.org>: "
            "Recipient address rejected: User unknown in virtual mailbox table')}",
            (
                550,
                "5.1.1",
                "<bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
            ),
        ),
        (
            "smtplib.SMTPAuthenticationError: (535, b'5.7.8 Username and Password not accepted. "
            "Learn more at\\n5.7.8  https://support.google.com/mail/?p=BadCredentials')",
            (
                535,
                "5.7.8",
                "Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials",
            ),
        ),
        ("Server replied 550 mailbox unavailable", (550, None, "mailbox unavailable")),
    ],
)
def test_it_finds_the_reply_in_an_error_chain(text: str, expected: tuple[int, str | None, str]) -> None:
    assert reply_of(text) == expected


def test_it_prefers_the_reply_over_an_enhanced_code_that_comes_first() -> None:
    text = (
        "5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, "
        "SmtpClientAuthentication is disabled for the Tenant."
    )
    assert reply_of(text) == (
        535,
        "5.7.139",
        "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.",
    )


def test_it_takes_the_last_failure_of_a_transcript() -> None:
    transcript = (
        "220 mx.example.org ESMTP\n250-mx.example.org\n250 AUTH PLAIN LOGIN\n"
        "535 5.7.8 Bad credentials\n221 Bye"
    )
    assert reply_of(transcript) == (535, "5.7.8", "Bad credentials")


@pytest.mark.parametrize(
    "text",
    [
        "Could not connect to SMTP host: smtp.office365.com, port: 587",
        "dial tcp 162.55.254.207:587: i/o timeout",
        "dial tcp [::1]:10025: connect: connection refused",
        "The certificate chain length (11) exceeds the maximum allowed length (10)",
        "try again in 450 seconds",
        "HTTP/1.1 400 Bad Request",
        "5.7.9 Application-specific password required.",
        "",
        "   ",
    ],
)
def test_it_finds_no_reply_where_there_is_none(text: str) -> None:
    assert parse_reply(text) is None


def test_it_does_not_mistake_a_wait_for_a_reply() -> None:
    assert reply_of("421 4.7.0 Try again in 450 seconds") == (421, "4.7.0", "Try again in 450 seconds")


def test_it_finds_an_enhanced_code_without_a_reply() -> None:
    assert (
        find_enhanced("5.7.9 Application-specific password required. Learn more at 5.7.9 https://x")
        == "5.7.9"
    )
    assert find_enhanced("from 10.5.7.1 at port 587") is None
    assert find_enhanced("Postfix 2.11.3 says hello") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("451 4.7.1 Greylisted, please try again in 5 minutes", 300.0),
        ("450 4.2.0 retry after 30 seconds", 30.0),
        ("451 Greylisted for 300 seconds", 300.0),
        ("421 4.7.0 Try again in 1 hour", 3600.0),
        ("452 please retry in 90s", 90.0),
        ("451 4.7.1 Please try again later", None),
        ("421 4.7.28 rate limited", None),
    ],
)
def test_it_reads_the_wait_the_server_asks_for(text: str, seconds: float | None) -> None:
    assert retry_after_hint(text) == seconds


def test_it_masks_credentials_in_pasted_text() -> None:
    text = (
        "C: AUTH PLAIN AHVzZXIAaHVudGVyMi1zM2NyM3Q=\nsmtp://ops:hunter2-s3cr3t@mail.example.org:587\n"
        "password=hunter2-s3cr3t api_key: SG.k3y-v4lue"
    )
    masked = redact(text)
    assert "AHVzZXIAaHVudGVyMi1zM2NyM3Q=" not in masked
    assert "hunter2-s3cr3t" not in masked
    assert "SG.k3y-v4lue" not in masked
    assert masked == "C: AUTH PLAIN ••••\nsmtp://ops:••••@mail.example.org:587\npassword=•••• api_key: ••••"
