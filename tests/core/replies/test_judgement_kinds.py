"""The kinds of wrong answer the held-out faults of issue #11 found, each in the words of
several real servers: a temporary refusal before the envelope that blocks every message,
throttling at any stage, a refusal whose named address says which side of the envelope
it is about, and a SIZE refusal at MAIL FROM.

Replies are as the servers send them, at the session stage where they arrive.
"""

from __future__ import annotations

import pytest

from postwarden.core.codes import Severity
from postwarden.core.replies.classify import classify
from postwarden.core.replies.explain import explain_text
from postwarden.core.replies.identity import AddressRole
from postwarden.core.replies.parse import parse_reply

SENDER = "ops@example.com"
RECIPIENT = "dest@example.org"

#: (server, reply, stage, code): temporary, and no message passes it until it is fixed
BLOCKING: list[tuple[str, str, str, str]] = [
    ("Postfix", "421 4.3.2 System not accepting network messages", "greeting", "network.service_refused"),
    (
        "Exchange",
        "421 4.3.2 Service not available, closing transmission channel",
        "greeting",
        "network.service_refused",
    ),
    ("Exim", "451 Temporary local problem - please try later", "ehlo", "network.service_refused"),
    ("Postfix", "454 4.7.0 TLS not available due to local problem", "starttls", "tls.starttls_unavailable"),
    ("Sendmail", "454 4.3.3 TLS not available after start", "starttls", "tls.starttls_unavailable"),
    ("Exchange", "454 4.7.0 Temporary authentication failure", "auth", "auth.failed"),
    (
        "Postfix with Dovecot SASL",
        "454 4.7.0 Temporary authentication failure: Connection lost to authentication server",
        "auth",
        "auth.failed",
    ),
    ("Exim", "435 Unable to authenticate at present", "auth", "auth.failed"),
]


@pytest.mark.parametrize(
    ("server", "reply", "stage", "code"), BLOCKING, ids=[f"{b[0]}:{b[1][:30]}" for b in BLOCKING]
)
def test_a_temporary_refusal_before_the_envelope_is_an_error(
    server: str, reply: str, stage: str, code: str
) -> None:
    got = explain_text(reply, stage=stage)
    assert (got.code, got.severity, got.permanent) == (code, Severity.ERROR, False), (
        f"{server}: {got.rule_id}"
    )


#: (server, reply, stage): the server limits how fast it takes mail; nothing is wrong with the recipient
THROTTLING: list[tuple[str, str, str]] = [
    ("Postfix", "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.7", "greeting"),
    ("Postfix", "452 4.5.3 Error: too many recipients", "rcpt"),
    ("Postfix", "450 4.7.1 <dest@example.org>: Recipient address rejected: rate limited", "rcpt"),
    ("Exim", "421 Too many concurrent SMTP connections; please try again later.", "greeting"),
    ("Exim", "451 Sender rate overlimit - 48.0 / 1h / max 40", "rcpt"),
    (
        "Exchange",
        "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, "
        "closing transmission channel",
        "greeting",
    ),
    ("Exchange", "452 4.3.1 Insufficient system resources", "mail"),
    ("Exchange Online", "451 4.7.500 Server busy. Please try again later from [192.0.2.7]. (S77714)", "rcpt"),
    ("Gmail", "421-4.7.0 Try again later, closing connection. (EHLO)\n421 4.7.0  a1si2 - gsmtp", "ehlo"),
    ("Gmail", "421 4.7.0 Try again later, closing connection.", "rcpt"),
    (
        "Gmail",
        "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n"
        "450 4.2.1 prevents additional messages from being delivered. - gsmtp",
        "rcpt",
    ),
    ("Sendmail", "421 4.3.2 Connection rate limit exceeded.", "greeting"),
    ("Sendmail", "451 4.3.2 Server busy, try again later", "rcpt"),
    ("qmail", "451 server busy, try again later (#4.3.0)", "rcpt"),
    ("Haraka", "450 4.7.0 rate limit exceeded", "rcpt"),
    ("Haraka", "421 4.7.0 Too many concurrent connections", "greeting"),
    ("Zimbra", "450 4.7.1 Server busy, try again later", "rcpt"),
    (
        "Yahoo",
        "421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume",
        "rcpt",
    ),
    ("Amazon SES", "454 Throttling failure: Maximum sending rate exceeded.", "data"),
    ("Mimecast", "451 Too many connections from your IP address, try again later", "rcpt"),
    ("Proofpoint", "452 4.3.2 Too many concurrent connections from this IP", "rcpt"),
    ("IIS SMTP", "421 4.3.2 Service too busy", "rcpt"),
    (
        "Outlook.com",
        "421 RP-001 (BAY004-MC1F41) Unfortunately, some messages from 192.0.2.7 weren't sent. Please try "
        "again. We have limits for how many messages can be sent per hour and per day.",
        "greeting",
    ),
    (
        "Exchange Online",
        "451 4.7.650 The mail server [192.0.2.7] has been temporarily rate limited due to IP reputation.",
        "rcpt",
    ),
    (
        "Gmail",
        "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your\n"
        "450 4.2.1 message at a later time. - gsmtp",
        "rcpt",
    ),
]


@pytest.mark.parametrize(
    ("server", "reply", "stage"),
    [
        ("Postfix", "451 4.3.0 Error: queue file write error", "data"),
        ("Exim", "451 4.3.0 Mail server temporarily rejected message.", "rcpt"),
        ("Sendmail", "451 4.3.5 Server configuration problem", "rcpt"),
    ],
)
def test_the_servers_own_trouble_is_not_a_refusal_of_the_recipient_or_content(
    server: str, reply: str, stage: str
) -> None:
    got = explain_text(reply, stage=stage)
    assert (got.code, got.severity) == ("network.service_refused", Severity.WARNING), (
        f"{server}: {got.rule_id}"
    )


@pytest.mark.parametrize(
    ("server", "reply", "stage"), THROTTLING, ids=[f"{t[0]}:{t[1][:30]}" for t in THROTTLING]
)
def test_throttling_is_throttling_at_any_stage(server: str, reply: str, stage: str) -> None:
    got = explain_text(reply, stage=stage)
    # a transaction waits for its retry; a throttled session takes no message at all
    severity = Severity.ERROR if stage in ("greeting", "ehlo") else Severity.WARNING
    assert (got.code, got.severity) == ("envelope.rate_limited", severity), f"{server}: {got.rule_id}"


#: (server, reply, stage, whom it names, code): the named address decides the side
IDENTITIES: list[tuple[str, str, str, str]] = [
    (
        "Postfix",
        "550 5.7.1 <dest@example.org>: Recipient address rejected: Access denied",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    # Postfix checks the sender at RCPT time (smtpd_delay_reject=yes)
    (
        "Postfix",
        "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user ops",
        "rcpt",
        "envelope.sender_rejected",
    ),
    (
        "Postfix",
        "554 5.7.1 <ops@example.com>: Sender address rejected: Access denied",
        "rcpt",
        "envelope.sender_rejected",
    ),
    # a login named after the sender must not move the finding
    (
        "Zimbra",
        "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user dest@example.org",
        "rcpt",
        "envelope.sender_rejected",
    ),
    ("Sendmail", "550 5.7.1 <ops@example.com>... Access denied", "rcpt", "envelope.sender_rejected"),
    (
        "Exchange Online",
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
        "data",
        "envelope.sender_rejected",
    ),
    (
        "Exchange Online",
        "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to "
        "process message due to a permanent exception with message Cannot submit message.",
        "data",
        "envelope.sender_rejected",
    ),
    (
        "Gmail",
        "550-5.7.1 [192.0.2.7] The user or domain that you are sending to (or from) has a policy that\n"
        "550-5.7.1 prohibited the mail that you sent. Please contact your domain\n"
        "550 5.7.1 administrator for further details. a1si2 - gsmtp",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    (
        "Gmail",
        "550-5.7.1 [192.0.2.7] The user or domain that you are sending to (or from) has a policy that\n"
        "550 5.7.1 prohibited the mail that you sent. a1si2 - gsmtp",
        "mail",
        "envelope.sender_rejected",
    ),
    (
        "Amazon SES",
        "554 Message rejected: Email address is not verified. The following identities failed the check in "
        "region US-EAST-1: ops@example.com",
        "data",
        "provider.sender_unverified",
    ),
    (
        "Amazon SES",
        "554 Message rejected: Email address is not verified. The following identities failed the check in "
        "region US-EAST-1: dest@example.org",
        "data",
        "provider.sandbox",
    ),
    (
        "Yahoo",
        "553 From address not verified - see https://help.yahoo.com/kb/SLN2028.html",
        "mail",
        "envelope.sender_rejected",
    ),
    ("Mimecast", "550 Invalid Recipient - <dest@example.org>", "rcpt", "envelope.recipient_rejected"),
    # at DATA, a policy refusal known by its codes alone is about the side it names ...
    ("Sendmail", "550 5.7.1 <ops@example.com>... Access denied", "data", "envelope.sender_rejected"),
    (
        "Exchange",
        "550 5.7.1 <dest@example.org>: Delivery not authorized",
        "data",
        "envelope.recipient_rejected",
    ),
    # ... but words that name the content keep it a content refusal, whoever is named
    (
        "Proofpoint",
        "554 5.7.1 Message from ops@example.com rejected as spam by Content Filtering",
        "data",
        "envelope.content_rejected",
    ),
    (
        "Proofpoint",
        "550 5.7.1 <ops@example.com>: Sender address rejected: spoofing attempt",
        "rcpt",
        "envelope.sender_rejected",
    ),
]


@pytest.mark.parametrize(
    ("server", "reply", "stage", "code"), IDENTITIES, ids=[f"{i[0]}:{i[1][:34]}" for i in IDENTITIES]
)
def test_the_named_address_decides_the_side(server: str, reply: str, stage: str, code: str) -> None:
    got = classify(stage=stage, reply=parse_reply(reply), sender=SENDER, recipients=[RECIPIENT])
    assert got.code == code, f"{server}: {got.rule_id}"
    if got.identity is not None:
        assert got.identity in reply.lower() or stage == "mail"
        assert got.identity_role is (AddressRole.SENDER if got.identity == SENDER else AddressRole.RECIPIENT)
        assert got.identity in got.explanation


def test_a_reply_naming_both_sides_or_strangers_keeps_its_rule() -> None:
    both = (
        "554 Message rejected: Email address is not verified. The following identities failed the check in "
        "region US-EAST-1: ops@example.com, dest@example.org"
    )
    got = classify(stage="data", reply=parse_reply(both), sender=SENDER, recipients=[RECIPIENT])
    assert (got.code, got.identity_role) == ("provider.sandbox", None)
    stranger = "550 5.7.1 <someone@else.example>: Recipient address rejected: Access denied"
    got = classify(stage="rcpt", reply=parse_reply(stranger), sender=SENDER, recipients=[RECIPIENT])
    assert (got.code, got.identity_role) == ("envelope.recipient_rejected", None)


#: (server, reply): a MAIL FROM ... SIZE= refused for its size (RFC 1870)
SIZE_AT_MAIL: list[tuple[str, str]] = [
    ("Postfix", "552 5.3.4 Message size exceeds fixed limit"),
    ("aiosmtpd", "552 Error: message size exceeds fixed maximum message size"),
    ("Exim", "552 Message size exceeds maximum permitted"),
    ("Sendmail", "552 5.2.3 Message size exceeds maximum value"),
    ("qmail", "552 sorry, that message size exceeds my databytes limit (#5.3.4)"),
    ("Exchange", "552 5.3.4 Message size exceeds fixed maximum message size"),
    ("bare 552", "552 Requested action aborted"),
]


@pytest.mark.parametrize(("server", "reply"), SIZE_AT_MAIL, ids=[s[0] for s in SIZE_AT_MAIL])
def test_a_size_refusal_at_mail_from_is_message_too_large(server: str, reply: str) -> None:
    got = explain_text(reply, stage="mail")
    assert (got.code, got.severity) == ("envelope.message_too_large", Severity.ERROR), (
        f"{server}: {got.rule_id}"
    )
