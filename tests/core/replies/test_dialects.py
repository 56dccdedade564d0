"""The same fault as different servers word it: Postfix, Exim, Exchange Online, Microsoft
Exchange on premises, Gmail, Amazon SES, Mailgun, SendGrid, Yahoo, Zoho, Sendmail, qmail.

Replies are written as these servers send them (multi-line ones with their ``NNN-``
continuation lines), each at the session stage where it arrives.
"""

from __future__ import annotations

import pytest

from postwarden.core.replies.explain import explain_text

#: (server, reply, stage, expected code)
DIALECTS: list[tuple[str, str, str, str]] = [
    # -- the password is wrong ------------------------------------------------------------
    ("Postfix", "535 5.7.8 Error: authentication failed: authentication failure", "auth", "auth.failed"),
    ("Exim", "535 Incorrect authentication data", "auth", "auth.failed"),
    (
        "Exchange Online",
        "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. "
        "[SN4PR0601CA0016.namprd06.prod.outlook.com]",
        "auth",
        "auth.failed",
    ),
    ("Exchange", "535 5.7.3 Authentication unsuccessful", "auth", "auth.failed"),
    (
        "Gmail",
        "535-5.7.8 Username and Password not accepted. For more information, go to\n"
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1sm1.2 - gsmtp",
        "auth",
        "auth.failed",
    ),
    ("SES", "535 Authentication Credentials Invalid", "auth", "auth.failed"),
    ("Mailgun", "535 5.7.0 Mailgun is not loving your login or password", "auth", "auth.failed"),
    ("SendGrid", "535 Authentication failed: Bad username / password", "auth", "auth.failed"),
    ("Yahoo", "535 5.7.0 (#AUTH005) Too many bad auth attempts.", "auth", "auth.failed"),
    ("Zoho", "535 Authentication Failed", "auth", "auth.failed"),
    ("Sendmail", "535 5.7.0 authentication failed", "auth", "auth.failed"),
    ("qmail", "535 authorization failed (#5.7.0)", "auth", "auth.failed"),
    # -- no login was made --------------------------------------------------------------------
    ("Postfix", "530 5.7.0 Authentication required", "mail", "auth.required"),
    ("Exim", "550 relay not permitted, authentication required", "rcpt", "auth.required"),
    (
        "Exchange Online",
        "530 5.7.57 Client not authenticated to send mail. [DM6PR04CA0001.namprd04.prod.outlook.com]",
        "mail",
        "auth.required",
    ),
    ("Exchange", "530 5.7.1 Client was not authenticated", "mail", "auth.required"),
    (
        "Gmail",
        "530-5.7.0 Authentication Required. For more information, go to\n"
        "530 5.7.0  https://support.google.com/mail/?p=WantAuthError a1sm1.2 - gsmtp",
        "mail",
        "auth.required",
    ),
    ("SendGrid", "550 Unauthenticated senders not allowed", "mail", "auth.required"),
    ("SES", "530 Authentication required", "mail", "auth.required"),
    ("Zoho", "530 5.5.1 Authentication Required.", "mail", "auth.required"),
    # -- encryption first ---------------------------------------------------------------------
    ("Postfix", "530 5.7.0 Must issue a STARTTLS command first", "mail", "auth.encryption_required"),
    ("Exchange", "451 5.7.3 STARTTLS is required to send mail", "mail", "auth.encryption_required"),
    (
        "Dovecot",
        "538 5.7.11 Encryption required for requested authentication mechanism",
        "auth",
        "auth.encryption_required",
    ),
    ("Postfix", "454 4.7.0 TLS not available due to local problem", "starttls", "tls.starttls_unavailable"),
    ("Sendmail", "454 4.3.3 TLS not available after start", "starttls", "tls.starttls_unavailable"),
    ("Exchange", "504 5.7.4 Unrecognized authentication type", "auth", "auth.unavailable"),
    ("Postfix", "503 5.5.1 Error: authentication not enabled", "auth", "auth.unavailable"),
    ("Exim", "503 AUTH command used when not advertised", "auth", "auth.unavailable"),
    # -- relaying ---------------------------------------------------------------------------------
    ("Postfix", "554 5.7.1 <bob@example.org>: Relay access denied", "rcpt", "envelope.relay_denied"),
    (
        "Postfix",
        "554 5.7.1 <unknown[1.2.3.4]>: Client host rejected: Access denied",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Postfix",
        "450 4.7.1 Client host rejected: cannot find your hostname, [1.2.3.4]",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Postfix",
        "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
        "rcpt",
        "envelope.relay_denied",
    ),
    ("Exim", "550 relay not permitted", "rcpt", "envelope.relay_denied"),
    ("Exim", "501 Syntactically invalid EHLO argument(s)", "ehlo", "envelope.relay_denied"),
    ("Sendmail", "550 5.7.1 <bob@example.org>... Relaying denied", "rcpt", "envelope.relay_denied"),
    (
        "qmail",
        "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Exchange",
        "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Exchange Online",
        "550 5.7.64 TenantAttribution; Relay Access Denied [SN1NAM02FT001.eop-nam02.prod."
        "protection.outlook.com]",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Gmail relay",
        "550-5.7.0 Mail relay denied [1.2.3.4]. Invalid credentials for relay for one of the\n"
        "550 5.7.0 domains in: example.com (as obtained from HELO and MAIL FROM).",
        "rcpt",
        "envelope.relay_denied",
    ),
    (
        "Spamhaus via Postfix",
        "554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using "
        "zen.spamhaus.org; https://www.spamhaus.org/query/ip/1.2.3.4",
        "rcpt",
        "envelope.relay_denied",
    ),
    # -- the recipient ------------------------------------------------------------------------------
    (
        "Postfix",
        "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    (
        "Postfix",
        "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    ("Exim", "550 Unrouteable address", "rcpt", "envelope.recipient_rejected"),
    ("Exim cPanel", "550 No Such User Here", "rcpt", "envelope.recipient_rejected"),
    (
        "Gmail",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "550-5.1.1 double-checking the recipient's email address for typos or\n"
        "550-5.1.1 unnecessary spaces. For more information, go to\n"
        "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si1.2 - gsmtp",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    (
        "Exchange Online",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient bob@example.org not found by SMTP "
        "address lookup",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    ("Exchange", "550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found", "rcpt", "envelope.recipient_rejected"),
    (
        "Yahoo",
        "554 delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] - "
        "mta1010.mail.ne1.yahoo.com",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    ("Sendmail", "550 5.1.1 <bob@example.org>... User unknown", "rcpt", "envelope.recipient_rejected"),
    ("qmail", "550 sorry, no mailbox here by that name. (#5.1.1)", "rcpt", "envelope.recipient_rejected"),
    ("Zoho", "550 5.1.1 User does not exist - bob@example.org", "rcpt", "envelope.recipient_rejected"),
    (
        "Gmail",
        "452-4.2.2 The recipient's inbox is out of storage space. Please direct the\n"
        "452-4.2.2 recipient to\n452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a1si1.2 - gsmtp",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    (
        "Dovecot LMTP",
        "552 5.2.2 <bob@example.org> Quota exceeded (mailbox for user is full)",
        "rcpt",
        "envelope.recipient_rejected",
    ),
    ("Exim", "452 <bob@example.org> mailbox is full", "rcpt", "envelope.recipient_rejected"),
    (
        "Postfix",
        "450 4.1.2 <bob@nosuchdomain.example>: Recipient address rejected: Domain not found",
        "rcpt",
        "dns.recipient_no_mx",
    ),
    ("RFC 7505", "556 5.1.10 Recipient address has null MX", "rcpt", "dns.recipient_no_mx"),
    # -- greylisting --------------------------------------------------------------------------------
    (
        "Postfix postgrey",
        "450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
        "rcpt",
        "envelope.greylisted",
    ),
    (
        "Sendmail milter-greylist",
        "451 4.7.1 Greylisting in action, please come back in 00:05:00",
        "rcpt",
        "envelope.greylisted",
    ),
    ("Exim greylistd", "451 Greylisted, please try again in 5 minutes", "rcpt", "envelope.greylisted"),
    ("generic", "450 4.7.1 Please try again later", "rcpt", "envelope.greylisted"),
    # -- rate limits ---------------------------------------------------------------------------------
    (
        "Postfix",
        "421 4.7.0 mx.example.org Error: too many connections from 1.2.3.4",
        "greeting",
        "envelope.rate_limited",
    ),
    ("Postfix", "450 4.7.1 Error: too much mail from 1.2.3.4", "mail", "envelope.rate_limited"),
    ("Postfix", "452 4.5.3 Error: too many recipients", "rcpt", "envelope.rate_limited"),
    (
        "Gmail",
        "421-4.7.28 [1.2.3.4] Our system has detected an unusual rate of\n"
        "421-4.7.28 unsolicited mail originating from your IP address. To protect our\n"
        "421-4.7.28 users from spam, mail sent from your IP address has been temporarily\n"
        "421 4.7.28 rate limited.",
        "data",
        "envelope.rate_limited",
    ),
    (
        "Gmail",
        "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
        "550-5.4.5 sending limits go to\n550 5.4.5  https://support.google.com/a/answer/166852",
        "mail",
        "envelope.rate_limited",
    ),
    (
        "Gmail",
        "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\n"
        "450 4.2.1 prevents additional messages from being delivered.",
        "rcpt",
        "envelope.rate_limited",
    ),
    ("SES", "454 Throttling failure: Maximum sending rate exceeded.", "data", "envelope.rate_limited"),
    ("SES", "554 Throttling failure: Daily message quota exceeded.", "data", "envelope.rate_limited"),
    (
        "Yahoo",
        "421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume or user "
        "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        "rcpt",
        "envelope.rate_limited",
    ),
    (
        "Exchange Online",
        "550 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to "
        "process message due to a permanent exception with message Cannot submit message.",
        "data",
        "envelope.rate_limited",
    ),
    (
        "Exim cPanel",
        "550 Domain example.org has exceeded the max emails per hour (100/100 (100%)) allowed.  "
        "Message discarded.",
        "mail",
        "envelope.rate_limited",
    ),
    ("Sendmail", "421 4.3.2 Connection rate limit exceeded.", "greeting", "envelope.rate_limited"),
    (
        "Gmail",
        "454-4.7.0 Too many login attempts, please try again later. For more information, go to\n"
        "454 4.7.0  https://support.google.com/mail/answer/7126229",
        "auth",
        "envelope.rate_limited",
    ),
    (
        "Outlook.com",
        "421 4.7.650 The mail server [1.2.3.4] has been temporarily rate limited due to IP reputation.",
        "rcpt",
        "envelope.rate_limited",
    ),
    # -- size -------------------------------------------------------------------------------------------
    ("Postfix", "552 5.3.4 Message size exceeds fixed limit", "data", "envelope.message_too_large"),
    ("Exim", "552 Message size exceeds maximum permitted", "data", "envelope.message_too_large"),
    (
        "Gmail",
        "552-5.2.3 Your message exceeded Google's message size limits. For more\n552-5.2.3 information, "
        "go to\n552 5.2.3  https://support.google.com/mail/?p=MaxSizeError",
        "data",
        "envelope.message_too_large",
    ),
    ("Sendmail", "552 5.2.3 Message size exceeds maximum value", "data", "envelope.message_too_large"),
    (
        "qmail",
        "552 sorry, that message size exceeds my databytes limit (#5.3.4)",
        "data",
        "envelope.message_too_large",
    ),
    (
        "Exchange",
        "552 5.3.4 Message size exceeds fixed maximum message size",
        "data",
        "envelope.message_too_large",
    ),
    # -- content -----------------------------------------------------------------------------------------
    (
        "Gmail",
        "550-5.7.1 [1.2.3.4 12] Our system has detected that this message is\n"
        "550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n"
        "550 5.7.1 this message has been blocked.",
        "data",
        "envelope.content_rejected",
    ),
    (
        "Gmail",
        "552-5.7.0 This message was blocked because its content presents a potential\n"
        "552 5.7.0 security issue.",
        "data",
        "envelope.content_rejected",
    ),
    (
        "Yahoo",
        "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
        "data",
        "envelope.content_rejected",
    ),
    ("Postfix rspamd", "554 5.7.1 Spam message rejected", "data", "envelope.content_rejected"),
    ("Postfix", "550 5.7.1 Message content rejected", "data", "envelope.content_rejected"),
    ("Exim", "550 Rejected: message looks like spam", "data", "envelope.content_rejected"),
    ("Exchange", "554 5.6.0 Corrupt message content", "data", "envelope.content_rejected"),
    # -- DMARC, SPF --------------------------------------------------------------------------------------
    (
        "Gmail",
        "550-5.7.26 Unauthenticated email from example.com is not accepted due to\n"
        "550-5.7.26 domain's DMARC policy. Please contact the administrator of\n"
        "550 5.7.26 example.com domain if this was a legitimate mail.",
        "data",
        "dns.dmarc_misaligned",
    ),
    (
        "Gmail",
        "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\n"
        "550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.\n"
        "550 5.7.26  Authentication results: DKIM = did not pass SPF [example.com] with ip: [1.2.3.4] = did "
        "not "
        "pass",
        "data",
        "dns.dmarc_misaligned",
    ),
    ("OpenDMARC", "550 5.7.1 rejected by DMARC policy for example.com", "data", "dns.dmarc_misaligned"),
    (
        "policyd-spf",
        "550 5.7.23 <bob@example.org>: Recipient address rejected: Message rejected due to: SPF "
        "fail - not authorized. Please see http://www.open-spf.org/Why;s=mfrom;id=app@example.com;ip=1.2.3.4",
        "rcpt",
        "dns.spf_not_authorizing",
    ),
    ("Exim", "550 Not authorized by SPF", "rcpt", "dns.spf_not_authorizing"),
    # -- the sender ----------------------------------------------------------------------------------------
    (
        "Postfix",
        "553 5.7.1 <app@example.com>: Sender address rejected: not owned by user ops@example.com",
        "mail",
        "envelope.sender_rejected",
    ),
    ("Exim", "550 Sender verify failed", "mail", "envelope.sender_rejected"),
    ("Zoho", "553 Relaying disallowed as app@example.com", "mail", "envelope.sender_rejected"),
    (
        "Exchange Online",
        "554 5.2.252 SendAsDenied; ops@example.com not allowed to send as app@example.com; "
        "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
        "data",
        "envelope.sender_rejected",
    ),
    (
        "Yahoo",
        "553 From address not verified - see https://help.yahoo.com/kb/SLN3544.html",
        "mail",
        "envelope.sender_rejected",
    ),
    (
        "Sendmail",
        "553 5.1.8 <app@example.invalid>... Domain of sender address app@example.invalid does not exist",
        "mail",
        "envelope.sender_rejected",
    ),
    (
        "qmail",
        "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)",
        "mail",
        "envelope.sender_rejected",
    ),
    (
        "Gmail",
        "555-5.5.2 Syntax error, cannot decode response. For more information, go to\n"
        "555 5.5.2  https://support.google.com/mail/?p=helpsyntax",
        "mail",
        "envelope.sender_rejected",
    ),
    (
        "SendGrid",
        "550 The from address does not match a verified Sender Identity. Mail cannot be sent until this "
        "error is resolved.",
        "data",
        "provider.sender_unverified",
    ),
    (
        "Postmark",
        "550 5.7.1 The 'From' address you supplied (app@example.com) is not a Sender Signature on your "
        "account.",
        "data",
        "provider.sender_unverified",
    ),
    (
        "Mailgun",
        "421 Domain sandbox123.mailgun.org is not allowed to send: Free accounts are for test purposes "
        "only. Please upgrade or add the address to authorized recipients in Account Settings.",
        "rcpt",
        "provider.sandbox",
    ),
    ("SendGrid", "451 Authentication failed: Maximum credits exceeded", "auth", "provider.account_suspended"),
    (
        "SES",
        "554 Message rejected: Sending paused for this account. For more information, please check the AWS "
        "Management Console.",
        "data",
        "provider.account_suspended",
    ),
    # -- the greeting --------------------------------------------------------------------------------------
    ("Postfix", "554 mx.example.org ESMTP not accepting messages", "greeting", "network.service_refused"),
    ("Exchange", "421 4.3.2 Service not available", "greeting", "network.service_refused"),
    ("Sendmail", "554 5.0.0 Sorry, no access from this host", "greeting", "network.service_refused"),
]


@pytest.mark.parametrize(
    ("server", "text", "stage", "code"), DIALECTS, ids=[f"{d[0]}:{d[1][:40]}" for d in DIALECTS]
)
def test_it_recognises_the_dialect(server: str, text: str, stage: str, code: str) -> None:
    got = explain_text(text, stage=stage)
    assert got.code == code, f"{server}: {got.rule_id}"


def test_it_covers_every_server_named_in_the_brief() -> None:
    servers = {d[0].split()[0] for d in DIALECTS}
    wanted = {
        "Postfix",
        "Exim",
        "Exchange",
        "Gmail",
        "SES",
        "Mailgun",
        "SendGrid",
        "Yahoo",
        "Zoho",
        "Sendmail",
        "qmail",
    }
    assert wanted <= servers


@pytest.mark.parametrize(
    ("text", "stage", "provider"),
    [
        ("535 5.7.3 Authentication unsuccessful", "auth", "Microsoft 365 / Exchange"),
        (
            "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.",
            "auth",
            "Microsoft 365 / Exchange",
        ),
        ("535-5.7.8 Username and Password not accepted.", "auth", "Gmail / Google Workspace"),
        ("535 Authentication Credentials Invalid", "auth", "Amazon SES"),
        ("535 5.7.0 Mailgun is not loving your login or password", "auth", "Mailgun"),
        ("535 Authentication failed: Bad username / password", "auth", "SendGrid"),
        ("535 5.7.0 (#AUTH005) Too many bad auth attempts.", "auth", "Yahoo Mail"),
        ("553 Relaying disallowed as app@example.com", "mail", "Zoho Mail"),
        (
            "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied",
            "data",
            "Microsoft 365 / Exchange",
        ),
    ],
)
def test_it_names_the_provider_from_its_words(text: str, stage: str, provider: str) -> None:
    assert explain_text(text, stage=stage).provider == provider


@pytest.mark.parametrize(
    ("host", "provider", "phrase"),
    [
        ("smtp.gmail.com", "Gmail / Google Workspace", "App Password"),
        ("smtp.office365.com", "Microsoft 365 / Exchange", "Set-CASMailbox"),
        ("email-smtp.us-east-1.amazonaws.com", "Amazon SES", "(us-east-1)"),
        ("smtp.sendgrid.net", "SendGrid", "`apikey`"),
        ("smtp.eu.mailgun.org", "Mailgun", "postmaster@"),
        ("smtp.postmarkapp.com", "Postmark", "Server API token"),
        ("smtp.mail.yahoo.com", "Yahoo Mail", "app password"),
        ("smtp.zoho.eu", "Zoho Mail", "application-specific password"),
    ],
)
def test_it_names_the_provider_from_the_host_when_the_words_do_not(
    host: str, provider: str, phrase: str
) -> None:
    got = explain_text("535 5.7.8 Authentication failed", stage="auth", host=host)
    assert (got.code, got.provider) == ("auth.failed", provider)
    assert phrase in got.advice
