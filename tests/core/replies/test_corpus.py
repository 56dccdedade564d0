"""One test per real reply or error string in the failure corpus
(/work/shared/reference/mission-anchors.md §8, and the strings Metabase's humanizer
matches in §1.5). Each row cites its corpus id. Network and TLS strings carry the
stage (and port) they come from; replies are explained as pasted, the stage being
guessed from the words around them, as ``postwarden explain`` does.

Entries without a failure text are not here: C6 (a bad setting value), C8 (a library
change), N3 (a hang), N5 (no message), T4 (an empty log line), A2 (a browser prompt),
E9–E11 and P3 (behaviour, not replies), P5 (advice), D1–D3 and D5 (DNS advice).
"""

from __future__ import annotations

import pytest

from postwarden.core.replies.explain import explain_text

#: (corpus id, pasted text, stage or None to guess, port or None, expected code, expected rule id)
CORPUS: list[tuple[str, str, str | None, int | None, str, str]] = [
    (
        "C1",
        "No matching clause: 530 5.7.0 Must issue a STARTTLS command first.",
        None,
        587,
        "auth.encryption_required",
        "encryption.required",
    ),
    (
        "C2-465",
        "Connection unsuccessful: SendMail: Failed to open TLS connection, EOF",
        "tls",
        465,
        "tls.handshake_failed",
        "closed.tls",
    ),
    (
        "C2-25",
        "Failed to authenticate on SMTP server, unencrypted connection",
        None,
        25,
        "config.auth_without_tls",
        "client.unencrypted",
    ),
    (
        "C3",
        "SendMail: Failed to open connection, dial tcp [::1]:10025: connect: connection refused",
        None,
        None,
        "network.connection_refused",
        "socket.refused",
    ),
    (
        "C4",
        "Connection unsuccessful: SendMail: Failed to open connection, dial tcp: lookup smtp.google.com on "
        "127.0.0.11:53: no such host",
        None,
        None,
        "network.dns_unresolvable",
        "dns.unresolvable",
    ),
    (
        "C5",
        "Failed to open a connection to SMTP server … short response: * OK [CAPABILITY IMAP4rev1 SASL-IR "
        "LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.",
        "greeting",
        143,
        "network.no_greeting",
        "banner.imap",
    ),
    (
        "C7",
        "javax.mail.MessagingException: Exception reading response;\n  nested exception is:\n\t"
        "java.net.SocketTimeoutException: Read timed out",
        None,
        587,
        "network.timeout",
        "timeout.read",
    ),
    (
        "§1.5 Mandrill",
        "435 4.7.8 Error: authentication failed:",
        None,
        None,
        "auth.failed",
        "auth.failed_words",
    ),
    (
        "§1.5 JavaMail",
        "failed to connect, no password specified?",
        None,
        None,
        "config.missing",
        "client.no_password",
    ),
    (
        "§1.5 JavaMail host",
        "Unknown SMTP host: smtp.example.cmo",
        None,
        None,
        "network.dns_unresolvable",
        "dns.unresolvable",
    ),
    (
        "N1",
        "Connection unsuccessful: unable to connect to the SMTP server: dial tcp 162.55.254.207:587: "
        "i/o timeout",
        None,
        None,
        "network.timeout",
        "timeout.connect",
    ),
    ("N2", "execution expired", "connect", 25, "network.timeout", "timeout.connect.25"),
    (
        "N4",
        "Connection unsuccessful: Failed to add to email address - 554 5.7.1 <unknown[IP-ADDRESS]>: "
        "Client host rejected: Access denied",
        None,
        None,
        "envelope.relay_denied",
        "client_host.rejected",
    ),
    (
        "N6",
        "javax.mail.MessagingException: Exception reading response; nested exception is: "
        "java.net.SocketTimeoutException: Read timed out",
        "ehlo",
        587,
        "network.timeout",
        "timeout.read",
    ),
    ("N7", "Net::ReadTimeout", None, None, "network.timeout", "timeout.read"),
    (
        "N8",
        "Helo command rejected: need fully-qualified hostname",
        None,
        None,
        "envelope.relay_denied",
        "helo.rejected",
    ),
    (
        "T1",
        "first record does not look like a TLS handshake",
        "tls",
        587,
        "tls.handshake_failed",
        "tls.mode_mismatch.plain_port",
    ),
    (
        "T2",
        "Connection unsuccessful: SendMail: Failed to open TLS connection., tls: first record does not look "
        "like a TLS handshake",
        None,
        None,
        "tls.handshake_failed",
        "tls.mode_mismatch",
    ),
    (
        "T3",
        "javax.mail.MessagingException: Could not connect to SMTP host: smtp.office365.com, port: 587;\n  "
        "nested exception is:\n\tjavax.net.ssl.SSLException: Unsupported or unrecognized SSL message",
        None,
        None,
        "tls.handshake_failed",
        "tls.mode_mismatch.plain_port",
    ),
    (
        "T5",
        "javax.mail.MessagingException: Could not connect to SMTP host: smtp.gmail.com, port: 465;\n  nested "
        "exception is:\n\tjavax.net.ssl.SSLException: java.lang.RuntimeException: Unexpected error: "
        "java.security.InvalidAlgorithmParameterException: the trustAnchors parameter must be non-empty",
        None,
        None,
        "tls.certificate_untrusted",
        "tls.empty_trust_store",
    ),
    (
        "T6",
        "javax.net.ssl.SSLProtocolException: The certificate chain length (11) exceeds the maximum allowed "
        "length (10)",
        None,
        None,
        "tls.handshake_failed",
        "tls.chain_too_long",
    ),
    (
        "T7",
        "Connection unsuccessful: Connection unsuccessful: authentication failed: x509: certificate signed "
        "by "
        "unknown authority",
        None,
        None,
        "tls.certificate_untrusted",
        "tls.untrusted",
    ),
    (
        "T8",
        "javax.mail.MessagingException: Could not convert socket to TLS;\n  nested exception is:\n\t"
        "javax.net.ssl.SSLHandshakeException: No appropriate protocol (protocol is disabled or cipher suites "
        "are "
        "inappropriate)",
        None,
        None,
        "tls.handshake_failed",
        "tls.no_common_protocol",
    ),
    (
        "T9",
        "[SSL: WRONG_VERSION_NUMBER] wrong version number",
        "tls",
        587,
        "tls.handshake_failed",
        "tls.mode_mismatch.plain_port",
    ),
    (
        "T9 Ruby",
        "SSL_connect returned=1 errno=0 peeraddr=203.0.113.5:587 state=error: wrong version number",
        None,
        None,
        "tls.handshake_failed",
        "tls.mode_mismatch.plain_port",
    ),
    (
        "A1",
        "No matching clause: 535-5.7.8 Username and Password not accepted.",
        None,
        None,
        "auth.failed",
        "gmail.bad_credentials",
    ),
    (
        "A3",
        "5.7.9 Application-specific password required. Learn more at 5.7.9 "
        "https://support.google.com/mail/?p=InvalidSecondFactor",
        None,
        None,
        "auth.failed",
        "gmail.app_password_required",
    ),
    (
        "A4",
        "No matching clause: 535 Authentication Credentials Invalid",
        None,
        None,
        "auth.failed",
        "ses.bad_smtp_credentials",
    ),
    (
        "A5",
        "Failed to authenticate on SMTP server [details: 504 5.7.4 Unrecognized authentication type]",
        None,
        None,
        "auth.unavailable",
        "microsoft.unrecognized_auth_type",
    ),
    (
        "A6",
        "504 5.7.4 Unrecognized authentication type",
        "auth",
        None,
        "auth.unavailable",
        "microsoft.unrecognized_auth_type",
    ),
    (
        "A7",
        "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults "
        "policy. Contact your administrator.",
        None,
        None,
        "auth.failed",
        "microsoft.security_defaults",
    ),
    (
        "A8",
        "5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 Authentication unsuccessful, "
        "SmtpClientAuthentication is disabled for the Tenant.",
        None,
        None,
        "auth.failed",
        "microsoft.smtp_auth_disabled",
    ),
    (
        "A9",
        "Failed to authenticate on SMTP server [details: unencrypted connection]",
        None,
        None,
        "config.auth_without_tls",
        "client.unencrypted",
    ),
    (
        "A10",
        "530 5.7.57 Client not authenticated to send mail. [DM6PR04CA0001.namprd04.prod.outlook.com]",
        "data",
        None,
        "auth.required",
        "microsoft.client_not_authenticated",
    ),
    (
        "E1 Yahoo",
        "Connection unsuccessful: … SendMail: … 550 Request failed; Mailbox unavailable",
        None,
        None,
        "envelope.sender_rejected",
        "yahoo.from_mismatch",
    ),
    (
        "E1 spam",
        "Connection unsuccessful: … Failed to close connection to SMTP server., 550 5.2.0 Spam message "
        "rejected",
        None,
        None,
        "envelope.content_rejected",
        "content.words",
    ),
    (
        "E2",
        "SendMail: Failed to close connection to SMTP server, 553 Relaying disallowed as @",
        None,
        None,
        "envelope.sender_rejected",
        "zoho.relaying_disallowed_as",
    ),
    (
        "E3",
        "Connection unsuccessful: Failed to set the to address: 550 5.7.27 <test@example.com>",
        None,
        None,
        "envelope.sender_rejected",
        "enhanced.sender_null_mx",
    ),
    (
        "E4",
        "Failed to close connection to SMTP server [details: 554 5.2.0 STOREDRV.Submission.Exception:"
        "SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent "
        "exception "
        "with message Cannot submit message.]",
        None,
        None,
        "envelope.sender_rejected",
        "microsoft.send_as_denied",
    ),
    (
        "E5",
        "Connection unsuccessful: SendMail: Can't close a connection to SMTP, 550 Incorrect sender header "
        "(Check your FROM) #1",
        None,
        None,
        "envelope.sender_rejected",
        "sender.words",
    ),
    (
        "E6",
        "failed to set the to address: 550 Sender verify failed",
        None,
        None,
        "envelope.sender_rejected",
        "exim.sender_verify",
    ),
    (
        "E7",
        "554 Message rejected: Email address is not verified. The following identities failed the check in "
        "region EU-CENTRAL-1: metabase@ip-[ip-value].[aws-region].compute.internal",
        None,
        None,
        "provider.sender_unverified",
        "ses.identity_machine_made",
    ),
    (
        "E8",
        "554 Access denied: User 'arn:aws:iam::123456789012:user/ses-smtp-user' is not authorized to perform "
        "'ses:SendRawEmail' on resource 'arn:aws:ses:eu-west-1:123456789012:identity/metabase@example.com'",
        None,
        None,
        "envelope.sender_rejected",
        "ses.iam_not_authorized",
    ),
    (
        "P1",
        "Connection unsuccessful: Failed to close connection to SMTP server - 554 Access denied: User "
        "'arn:aws:iam::521493210219:user/ses-smtp-user.ci-servers' is not authorized to perform "
        "'ses:SendRawEmail' "
        "on resource 'arn:aws:ses:us-east-1:521493210219:identity/mattermost.com'",
        None,
        None,
        "envelope.sender_rejected",
        "ses.iam_not_authorized",
    ),
    (
        "P2",
        "MessageRejected: Email address is not verified. The following identities failed the check in region "
        "US-WEST-2: alice@example.org",
        None,
        None,
        "provider.sandbox",
        "ses.not_verified",
    ),
    (
        "D4 policy",
        "550 5.7.1 Email rejected per DMARC policy for yourdomain.com",
        None,
        None,
        "dns.dmarc_misaligned",
        "dmarc.words",
    ),
    (
        "D4 unauthenticated",
        "550 5.7.1 Unauthenticated email from yourdomain.com is not accepted",
        None,
        None,
        "dns.dmarc_misaligned",
        "dmarc.words",
    ),
]


@pytest.mark.parametrize(
    ("cid", "text", "stage", "port", "code", "rule_id"), CORPUS, ids=[row[0] for row in CORPUS]
)
def test_it_explains_the_corpus_entry(
    cid: str, text: str, stage: str | None, port: int | None, code: str, rule_id: str
) -> None:
    got = explain_text(text, stage=stage, port=port)
    assert (got.code, got.rule_id) == (code, rule_id), cid
    assert got.steps, cid
    assert got.title, cid
    assert "{" not in got.title + got.explanation + got.advice + "".join(got.steps), cid


def test_it_names_the_ses_region_of_the_sandbox_refusal() -> None:
    got = explain_text(CORPUS_BY_ID["P2"])
    assert got.provider == "Amazon SES"
    assert got.title == "Amazon SES refused an unverified address in region us-west-2"
    assert "us-west-2" in got.advice
    assert "alice@example.org" in got.advice


def test_it_names_the_identity_and_region_of_the_iam_refusal() -> None:
    got = explain_text(CORPUS_BY_ID["P1"])
    assert "arn:aws:ses:us-east-1:521493210219:identity/mattermost.com" in got.advice
    assert "ses:SendRawEmail" in got.advice


def test_it_tells_gmail_users_about_app_passwords() -> None:
    for cid in ("A1", "A3"):
        got = explain_text(CORPUS_BY_ID[cid])
        assert got.provider == "Gmail / Google Workspace"
        assert "App Password" in got.advice


def test_it_tells_ses_users_that_smtp_credentials_are_not_iam_keys() -> None:
    got = explain_text(CORPUS_BY_ID["A4"], host="email-smtp.eu-central-1.amazonaws.com")
    assert "not your AWS access keys" in got.advice
    assert "(eu-central-1)" in got.advice


def test_it_tells_microsoft_users_how_to_enable_smtp_auth() -> None:
    got = explain_text(CORPUS_BY_ID["A8"])
    assert got.reply is not None
    assert (got.reply.code, got.reply.enhanced) == (535, "5.7.139")
    assert "Set-CASMailbox" in got.advice


def test_it_blames_the_machine_made_sender_of_e7() -> None:
    got = explain_text(CORPUS_BY_ID["E7"])
    assert (
        got.title == "SES was asked to send from a machine-made address "
        "(metabase@ip-[ip-value].[aws-region].compute.internal)"
    )
    assert "eu-central-1" in got.advice


def test_it_advises_starttls_or_ssl_for_a_tls_mismatch_on_587() -> None:
    got = explain_text(CORPUS_BY_ID["T3"])
    assert got.steps[0] == (
        "Port 587 speaks plain SMTP first and upgrades with STARTTLS: set SMTP_SECURITY=starttls, not ssl."
    )


CORPUS_BY_ID = {row[0]: row[1] for row in CORPUS}
