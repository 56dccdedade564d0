"""classify(): severity, permanence, the overlaps of spec/doctor.md, ports, hosts, evidence."""

from __future__ import annotations

import pytest

from postwarden.core.codes import Code, Severity
from postwarden.core.replies.classify import as_stage, classify
from postwarden.core.replies.parse import parse_reply
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage


def at(stage: SmtpStage | str | None, text: str, **kw: object):  # type: ignore[no-untyped-def]
    return classify(stage=stage, reply=parse_reply(text), detail=text, **kw)  # type: ignore[arg-type]


def test_it_tells_greylisting_from_a_postfix_rate_limit_by_the_words() -> None:
    grey = at(SmtpStage.RCPT, "450 4.7.1 <bob@example.org>: Recipient address rejected: Greylisted")
    limit = at(SmtpStage.RCPT, "450 4.7.1 Error: too much mail from 1.2.3.4")
    assert (grey.code, grey.severity, grey.permanent) == (Code.ENVELOPE_GREYLISTED, Severity.WARNING, False)
    assert (limit.code, limit.severity, limit.permanent) == (
        Code.ENVELOPE_RATE_LIMITED,
        Severity.WARNING,
        False,
    )


def test_it_makes_a_permanent_quota_refusal_an_error() -> None:
    got = at(SmtpStage.MAIL, "550 5.4.5 Daily user sending limit exceeded")
    assert (got.code, got.severity, got.permanent) == (Code.ENVELOPE_RATE_LIMITED, Severity.ERROR, True)


@pytest.mark.parametrize(
    "text",
    ["530 5.7.0 Authentication required", "550 Unauthenticated senders not allowed", "530 Access denied"],
)
def test_it_calls_530_and_any_5xx_asking_for_authentication_auth_required(text: str) -> None:
    assert at(SmtpStage.MAIL, text).code == Code.AUTH_REQUIRED


def test_it_calls_a_refusing_greeting_service_refused_unless_it_names_rate_limiting() -> None:
    refused = at(SmtpStage.GREETING, "421 4.3.2 Service not available")
    limited = at(SmtpStage.GREETING, "421 4.7.0 Too many concurrent SMTP connections; please try again later")
    assert (refused.code, refused.severity) == (Code.NETWORK_SERVICE_REFUSED, Severity.ERROR)
    # throttling the whole session stops every message while it lasts: an error there
    assert (limited.code, limited.severity) == (Code.ENVELOPE_RATE_LIMITED, Severity.ERROR)
    assert at(SmtpStage.GREETING, "554 mx.example.org ESMTP not accepting messages").code == (
        Code.NETWORK_SERVICE_REFUSED
    )


def test_it_decides_mailbox_full_transient_or_permanent_by_the_code() -> None:
    full_now = at(SmtpStage.RCPT, "452 4.2.2 Mailbox full")
    full_for_good = at(SmtpStage.RCPT, "552 5.2.2 Mailbox full")
    assert (full_now.code, full_now.permanent, full_now.severity) == (
        Code.ENVELOPE_RECIPIENT_REJECTED,
        False,
        Severity.WARNING,
    )
    assert (full_for_good.code, full_for_good.permanent, full_for_good.severity) == (
        Code.ENVELOPE_RECIPIENT_REJECTED,
        True,
        Severity.ERROR,
    )
    assert full_now.title == "The recipient's mailbox is full"


def test_it_reads_5_7_1_by_the_stage_it_came_at() -> None:
    assert at(SmtpStage.RCPT, "550 5.7.1 Delivery not authorized").code == Code.ENVELOPE_RELAY_DENIED
    assert at(SmtpStage.DATA, "550 5.7.1 Delivery not authorized").code == Code.ENVELOPE_CONTENT_REJECTED
    assert at(SmtpStage.MAIL, "550 5.7.1 Delivery not authorized").code == Code.ENVELOPE_SENDER_REJECTED


def test_it_ranks_text_enhanced_and_code_above_a_code_class() -> None:
    got = at(SmtpStage.RCPT, "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown")
    assert (got.code, got.rule_id) == (Code.ENVELOPE_RECIPIENT_REJECTED, "recipient.words")
    bare = at(SmtpStage.RCPT, "550 Requested action not taken")
    assert (bare.code, bare.rule_id) == (Code.ENVELOPE_RECIPIENT_REJECTED, "fallback.rcpt")


def test_it_warns_harder_about_a_connect_timeout_on_port_25() -> None:
    on_25 = classify(stage=SmtpStage.CONNECT, reply=None, detail="timed out", port=25)
    on_587 = classify(stage=SmtpStage.CONNECT, reply=None, detail="timed out", port=587)
    assert on_25.code == on_587.code == Code.NETWORK_TIMEOUT
    assert on_25.title == "Outbound port 25 looks blocked"
    assert "block outbound port 25" in on_25.steps[0]
    assert on_587.title == "The connection to the server timed out"
    assert "2525" in on_587.steps[0]


def test_it_reads_a_missing_greeting_on_465_as_implicit_tls_without_ssl() -> None:
    got = classify(stage=SmtpStage.GREETING, reply=None, detail="TimeoutError: timed out", port=465)
    assert got.code == Code.NETWORK_NO_GREETING
    assert got.steps == ("Set SMTP_SECURITY=ssl for port 465 (or use port 587 with starttls).",)


def test_it_says_an_imap_banner_is_not_smtp() -> None:
    got = classify(stage=SmtpStage.GREETING, reply=None, detail="* OK [CAPABILITY IMAP4rev1] Dovecot ready.")
    assert (got.code, got.title) == (Code.NETWORK_NO_GREETING, "This port speaks IMAP, not SMTP")


@pytest.mark.parametrize(
    ("detail", "code"),
    [
        ("[Errno -2] Name or service not known", Code.NETWORK_DNS_UNRESOLVABLE),
        ("[Errno 8] nodename nor servname provided, or not known", Code.NETWORK_DNS_UNRESOLVABLE),
        (
            "The DNS query name does not exist: smtp.example.invalid. (NXDOMAIN)",
            Code.NETWORK_DNS_UNRESOLVABLE,
        ),
        ("[Errno 111] Connection refused", Code.NETWORK_CONNECTION_REFUSED),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate",
            (Code.TLS_CERTIFICATE_UNTRUSTED),
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired",
            (Code.TLS_CERTIFICATE_UNTRUSTED),
        ),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
            "certificate is not valid for 'smtp.example.org'. (_ssl.c:1006)",
            Code.TLS_HOSTNAME_MISMATCH,
        ),
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", Code.TLS_HANDSHAKE_FAILED),
        (
            "x509: certificate is not valid for any names, but wanted to match smtp.example.org",
            (Code.TLS_HOSTNAME_MISMATCH),
        ),
        (
            "ssl.CertificateError: hostname 'smtp.example.org' doesn't match 'mail.example.net'",
            (Code.TLS_HOSTNAME_MISMATCH),
        ),
        ("STARTTLS extension not supported by server.", Code.TLS_STARTTLS_UNAVAILABLE),
        ("SMTP AUTH extension not supported by server.", Code.AUTH_UNAVAILABLE),
    ],
)
def test_it_maps_python_failures(detail: str, code: Code) -> None:
    assert classify(stage=None, reply=None, detail=detail).code == code


def test_it_keeps_failures_without_a_reply_transient() -> None:
    got = classify(stage=SmtpStage.CONNECT, reply=None, detail="[Errno 111] Connection refused")
    assert (got.permanent, got.severity) == (False, Severity.ERROR)


def test_it_quotes_the_server_verbatim_as_evidence() -> None:
    reply = Reply.from_lines(554, ["554-5.7.1 first line", "554 5.7.1 second line"])
    got = classify(stage=SmtpStage.RCPT, reply=reply)
    assert got.evidence == "554 5.7.1 first line second line"
    assert got.reply is reply


def test_it_quotes_the_failure_as_evidence_without_credentials() -> None:
    got = classify(stage=SmtpStage.AUTH, reply=None, detail="AUTH PLAIN dXNlcgBzM2NyM3QtcDRzcw== failed")
    assert got.evidence == "AUTH PLAIN •••• failed"
    assert "dXNlcgBzM2NyM3QtcDRzcw==" not in repr(got)


def test_it_passes_the_wait_the_server_asked_for() -> None:
    assert at(SmtpStage.RCPT, "451 4.7.1 Greylisted, please retry in 5 minutes").retry_after == 300.0
    assert at(SmtpStage.RCPT, "451 4.7.1 Please try again later").retry_after is None


def test_it_explains_a_positive_reply_as_no_failure() -> None:
    got = at(SmtpStage.DATA, "250 2.0.0 Ok: queued as 4ABC1234")
    assert (got.code, got.severity, got.permanent) == (None, Severity.INFO, False)


@pytest.mark.parametrize(
    ("given", "stage"),
    [
        ("RCPT", SmtpStage.RCPT),
        ("rcpt to", SmtpStage.RCPT),
        ("MAIL FROM", SmtpStage.MAIL),
        ("mail_from", SmtpStage.MAIL),
        ("HELO", SmtpStage.EHLO),
        (SmtpStage.DATA, SmtpStage.DATA),
        ("nonsense", None),
        (None, None),
    ],
)
def test_it_reads_stage_names_and_aliases(given: SmtpStage | str | None, stage: SmtpStage | None) -> None:
    assert as_stage(given) == stage


def test_it_serialises_to_json_fields() -> None:
    got = at("rcpt", "554 5.7.1 <bob@example.org>: Relay access denied").to_dict()
    assert got == {
        "code": "envelope.relay_denied",
        "stage": "envelope",
        "severity": "error",
        "permanent": True,
        "title": "The server will not relay mail for this client",
        "explanation": got["explanation"],
        "steps": got["steps"],
        "provider": None,
        "advice": "",
        "rule_id": "relay.words",
        "retry_after": None,
        "reply": {"code": 554, "enhanced": "5.7.1", "text": "<bob@example.org>: Relay access denied"},
        "evidence": "554 5.7.1 <bob@example.org>: Relay access denied",
    }
    assert got["steps"][0].startswith("Authenticate: set SMTP_USER and SMTP_PASSWORD")


#: the words of Postwarden's own SMTP session (src/postwarden/core/smtp: auth.py, envelope.py,
#: session.py, errors.py, connection.py), which the doctor and the worker pass as ``detail``
OWN_SESSION: list[tuple[SmtpStage, str, Code]] = [
    (
        SmtpStage.AUTH,
        "the server offers AUTH only after STARTTLS, which this connection did not use",
        Code.AUTH_ENCRYPTION_REQUIRED,
    ),
    (SmtpStage.AUTH, "the server offers no AUTH", Code.AUTH_UNAVAILABLE),
    (SmtpStage.CONNECT, "no connection within 5 s", Code.NETWORK_TIMEOUT),
    (SmtpStage.GREETING, "no reply within 3 s", Code.NETWORK_NO_GREETING),
    (SmtpStage.DATA, "no progress sending within 20 s", Code.NETWORK_TIMEOUT),
    (
        SmtpStage.AUTH,
        "the connection to 192.0.2.7 is not encrypted and not loopback; use security starttls or ssl",
        Code.CONFIG_AUTH_WITHOUT_TLS,
    ),
    (
        SmtpStage.AUTH,
        "no mechanism in common: the server offers XOAUTH2, Postwarden speaks PLAIN LOGIN",
        Code.AUTH_UNAVAILABLE,
    ),
    (
        SmtpStage.MAIL,
        "the message is 3000000 bytes; the server accepts at most 1000000 (SIZE)",
        Code.ENVELOPE_MESSAGE_TOO_LARGE,
    ),
    (SmtpStage.MAIL, "the server's EHLO does not list SMTPUTF8", Code.ENVELOPE_SENDER_REJECTED),
    (SmtpStage.RESOLVE, "smtp.example.invalid has no address", Code.NETWORK_DNS_UNRESOLVABLE),
    (SmtpStage.STARTTLS, "the server's EHLO does not list STARTTLS", Code.TLS_STARTTLS_UNAVAILABLE),
    (
        SmtpStage.GREETING,
        "closed without a greeting (the server closed the connection)",
        Code.NETWORK_SERVICE_REFUSED,
    ),
    (SmtpStage.RCPT, "the session is not connected", Code.NETWORK_SERVICE_REFUSED),
    (SmtpStage.GREETING, "timed out", Code.NETWORK_NO_GREETING),
    (SmtpStage.DATA, "timed out", Code.NETWORK_TIMEOUT),
]


@pytest.mark.parametrize(("stage", "detail", "code"), OWN_SESSION)
def test_it_understands_the_words_of_our_own_session(stage: SmtpStage, detail: str, code: Code) -> None:
    assert classify(stage=stage, reply=None, detail=detail).code == code


@pytest.mark.parametrize(
    ("stage", "text", "code"),
    [
        (SmtpStage.RCPT, "421 4.7.0 Try again later, closing connection.", Code.ENVELOPE_RATE_LIMITED),
        (SmtpStage.MAIL, "454 4.7.0 Try again later", Code.ENVELOPE_RATE_LIMITED),
        (SmtpStage.AUTH, "454 4.7.0 Temporary authentication failure", Code.AUTH_FAILED),
        (
            SmtpStage.STARTTLS,
            "454 4.7.0 TLS not available due to local problem",
            Code.TLS_STARTTLS_UNAVAILABLE,
        ),
        # Gmail's throttling of a sending IP: its words name a transient limit at any stage
        (SmtpStage.GREETING, "421 4.7.0 Try again later, closing connection.", Code.ENVELOPE_RATE_LIMITED),
        (
            SmtpStage.GREETING,
            "421 4.3.2 Service not available, closing transmission channel",
            Code.NETWORK_SERVICE_REFUSED,
        ),
        (SmtpStage.DATA, "421 4.4.2 Connection dropped", Code.NETWORK_SERVICE_REFUSED),
    ],
)
def test_it_reads_421_and_454_with_4_7_0_as_the_spec_lists_them(
    stage: SmtpStage, text: str, code: Code
) -> None:
    assert at(stage, text).code == code


@pytest.mark.parametrize(
    "text",
    [
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        "550 5.1.1 The email account that you tried to reach does not exist.",
        "550 5.2.1 The email account that you tried to reach is disabled.",
        "550 No such user here",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "554 5.1.2 <a@nowhere.invalid>: Recipient address rejected: Domain not found",
        "553 5.1.3 Invalid recipient address syntax",
    ],
)
def test_a_permanent_refusal_that_says_the_address_is_gone_is_told_apart(text: str) -> None:
    got = at(SmtpStage.RCPT, text)
    assert (got.permanent, got.address_gone) == (True, True), got.rule_id


@pytest.mark.parametrize(
    "text",
    [
        # policy, content, reputation: nothing is wrong with the address
        "550 5.7.1 <nobody@example.com>: Recipient address rejected: Access denied",
        "550 5.7.1 Message rejected due to content restrictions",
        "554 5.7.1 Service unavailable; Client host [1.2.3.4] blocked using zen.spamhaus.org",
        "550 5.7.1 Unauthenticated email from example.com is not accepted due to domain's DMARC policy",
        "550 5.7.606 Access denied, banned sending IP",
        # RFC 5321's generic words, used for policy refusals as well
        "550 Requested action not taken: mailbox unavailable",
        # a full mailbox empties again
        "552 5.2.2 Mailbox full",
        # the same words, but temporary
        "450 4.1.1 <nobody@example.com>: Recipient address rejected: User unknown in local recipient table",
        # the words say gone, the status says policy
        "550 5.7.1 User unknown",
    ],
)
def test_a_refusal_for_policy_content_or_a_passing_cause_is_not_an_address_gone(text: str) -> None:
    assert at(SmtpStage.RCPT, text).address_gone is False
