"""The SMTP walk: network, TLS, auth and envelope stages in one session.

resolve (through the doctor's resolver) → connect → TLS → greeting → EHLO → STARTTLS →
AUTH → MAIL FROM → RCPT TO → RSET (no mail) or DATA (``--send``) → QUIT, with the same
:class:`~postwarden.core.smtp.session.SmtpSession` the worker sends with. Each step is a
check line; the step that fails becomes the finding, classified by the reply knowledge
base (:func:`postwarden.core.replies.classify.classify`) - the words the worker stores
on an attempt and ``postwarden explain`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.core.config.model import Provider, Security
from postwarden.core.doctor import fallback
from postwarden.core.doctor.model import Code, Finding, Severity, Status, TranscriptLine
from postwarden.core.replies.classify import classify
from postwarden.core.smtp.errors import SmtpError
from postwarden.core.smtp.model import Endpoint
from postwarden.core.smtp.session import SmtpSession
from postwarden.core.smtp.stages import DOCTOR_STAGE, SmtpStage
from postwarden.core.smtp.transcript import Transcript

if TYPE_CHECKING:
    from postwarden.core.doctor.runner import Context, Recorder

S = SmtpStage
#: session stage -> check id
CHECK_IDS: Final[dict[SmtpStage, str]] = {
    S.RESOLVE: "network.resolve",
    S.CONNECT: "network.connect",
    S.TLS: "tls.handshake",
    S.GREETING: "network.greeting",
    S.EHLO: "network.ehlo",
    S.STARTTLS: "tls.starttls",
    S.AUTH: "auth.login",
    S.MAIL: "envelope.mail_from",
    S.RCPT: "envelope.rcpt_to",
    S.DATA: "envelope.data",
    S.RSET: "envelope.rset",
}
#: when the knowledge base has no code for a failure, the stage's most general one
_STAGE_DEFAULT: Final[dict[SmtpStage, Code]] = {
    S.RESOLVE: Code.NETWORK_DNS_UNRESOLVABLE,
    S.CONNECT: Code.NETWORK_CONNECTION_REFUSED,
    S.GREETING: Code.NETWORK_SERVICE_REFUSED,
    S.EHLO: Code.NETWORK_SERVICE_REFUSED,
    S.TLS: Code.TLS_HANDSHAKE_FAILED,
    S.STARTTLS: Code.TLS_HANDSHAKE_FAILED,
    S.AUTH: Code.AUTH_FAILED,
    S.MAIL: Code.ENVELOPE_SENDER_REJECTED,
    S.RCPT: Code.ENVELOPE_RECIPIENT_REJECTED,
    S.DATA: Code.ENVELOPE_CONTENT_REJECTED,
    S.RSET: Code.NETWORK_SERVICE_REFUSED,
}


def endpoint_of(ctx: Context) -> Endpoint:
    smtp = ctx.settings.smtp
    return Endpoint(
        smtp.host or "",
        smtp.port,
        smtp.security,
        smtp.user,
        smtp.password,
        ctx.timeout,
        smtp.ehlo_name,
        smtp.verify_certificate,
    )


def expected_stages(endpoint: Endpoint, send: bool) -> list[SmtpStage]:
    stages = [S.RESOLVE, S.CONNECT]
    stages += [S.TLS] if endpoint.security is Security.SSL else []
    stages += [S.GREETING, S.EHLO]
    stages += [S.STARTTLS] if endpoint.security in (Security.STARTTLS, Security.OPPORTUNISTIC) else []
    stages += [S.AUTH] if endpoint.wants_auth else []
    return [*stages, S.MAIL, S.RCPT, S.DATA if send else S.RSET]


async def run_smtp(ctx: Context, rec: Recorder) -> None:
    if ctx.settings.sending.provider is not Provider.SMTP:
        return  # a provider's API host is checked by the provider stage
    if not ctx.settings.smtp.host:
        rec.check("network.connect", Status.SKIP, "SMTP_HOST is not set (config.missing)")
        rec.blocking.add(Code.CONFIG_MISSING)
        return
    endpoint = endpoint_of(ctx)
    transcript = Transcript()
    session = SmtpSession(endpoint, resolver=ctx.dns.resolve_host, transcript=transcript)
    failure: SmtpError | None = None
    queue_note = ""
    try:
        await session.open()
        _report_session(ctx, rec, session)
        queue_note = await _envelope(ctx, session)
    except SmtpError as exc:
        failure = exc
    finally:
        if session.is_connected:
            await session.quit()
        else:
            session.abort()
    _report_steps(ctx, rec, session, endpoint, failure, queue_note)
    rec.transcript.extend(TranscriptLine(line.dir, line.line) for line in transcript.lines)
    if failure is not None:
        await _report_failure(ctx, rec, endpoint, failure)


async def _envelope(ctx: Context, session: SmtpSession) -> str:
    """MAIL+RCPT+RSET (or a real send with ``--send``); a note for the DATA check.
    Addresses the composer would refuse are config.invalid_address: not probed."""
    sender, recipient = _addr_spec(ctx.settings.sending.from_address), _addr_spec(ctx.recipient)
    if sender is None or recipient is None:
        return ""
    if not ctx.options.send:
        await session.probe(sender, [recipient])
        return ""
    raw, envelope_from, utf8 = _test_message(ctx, recipient)
    result = await session.send(envelope_from, [recipient], raw, smtputf8=utf8)
    return f"queued as {result.queue_id}" if result.queue_id else f"accepted: {result.data_reply}"


def _addr_spec(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return parse_address(address).addr_spec
    except InvalidAddress:
        return None


def _test_message(ctx: Context, recipient: str) -> tuple[bytes, str, bool]:
    """The test mail, composed and (when signing is on) DKIM-signed as the worker does.
    Invalid addresses are config.invalid_address, already reported."""
    # only with --send: the composer and dkimpy are not worth loading for a probe
    from postwarden.core.dkim import DkimKeyError, Signer
    from postwarden.core.doctor.testmail import compose_test

    try:
        composed = compose_test(ctx.settings, recipient)
    except ValueError as exc:
        raise SmtpError(S.DATA, detail=f"the test message cannot be composed: {exc}") from None
    raw = composed.raw
    try:
        signer = Signer.from_settings(ctx.settings.signing, composed.envelope_from.rpartition("@")[2])
    except DkimKeyError:
        signer = None  # the DNS stage reports the unusable key
    if signer is not None:
        raw = signer.sign(raw)
    return raw, composed.envelope_from, composed.needs_smtputf8


def _report_session(ctx: Context, rec: Recorder, session: SmtpSession) -> None:
    if session.tls is not None and session.tls.verified:
        cert = session.tls
        expires = f", valid until {cert.not_after:%Y-%m-%d}" if cert.not_after else ""
        rec.check(
            "tls.certificate",
            Status.PASS,
            f"{cert.subject or 'certificate'} issued by {cert.issuer}{expires}",
        )
    size = session.extensions.get("SIZE", "")
    limit = ctx.settings.delivery.max_message_bytes
    if size.isdigit() and 0 < int(size) < limit:
        rec.check(
            "envelope.size",
            Status.WARN,
            f"the server accepts messages up to {int(size)} bytes; "
            f"POSTWARDEN_MAX_MESSAGE_BYTES allows {limit}: larger messages will be refused",
        )


def _report_steps(
    ctx: Context,
    rec: Recorder,
    session: SmtpSession,
    endpoint: Endpoint,
    failure: SmtpError | None,
    queue_note: str,
) -> None:
    rows: dict[str, tuple[Status, str, float]] = {}
    for step in session.steps:
        check_id = CHECK_IDS.get(step.stage)
        if check_id is None:
            continue
        if step.stage is S.EHLO and check_id in rows:  # EHLO again after STARTTLS (RFC 3207 §4.2)
            check_id += "_after_tls"
        status = Status.PASS if step.ok else Status.FAIL
        if step.ok and step.stage is S.STARTTLS and session.tls is None:
            status = Status.WARN  # opportunistic, and the server offers no STARTTLS
        detail = queue_note if step.ok and step.stage is S.DATA and queue_note else step.detail
        rows[check_id] = (status, detail, step.duration_ms)  # DATA: the end-of-data reply wins over 354
    for check_id, (status, detail, ms) in rows.items():
        rec.check(check_id, status, detail, duration_ms=round(ms))
    if endpoint.security is Security.NONE:
        rec.check("tls.handshake", Status.SKIP, "SMTP_SECURITY=none: the connection is not encrypted")
    if not endpoint.wants_auth:
        rec.check("auth.login", Status.SKIP, "no credentials set (SMTP_USER, SMTP_PASSWORD): no AUTH")
    cause = f" (stopped at {failure.stage.value})" if failure is not None else ""
    for stage in expected_stages(endpoint, ctx.options.send):
        if CHECK_IDS[stage] not in rows:
            rec.check(CHECK_IDS[stage], Status.SKIP, f"not reached{cause}")


async def _report_failure(ctx: Context, rec: Recorder, endpoint: Endpoint, failure: SmtpError) -> None:
    # Without a reply the session's words alone can be terse ("no connection within 5 s");
    # the class summary ("the connection attempt timed out") names the fault for the
    # knowledge base. The evidence stays the verbatim detail.
    detail = failure.detail if failure.reply is not None else f"{failure.summary}: {failure.detail}"
    explanation = classify(
        stage=failure.stage, reply=failure.reply, detail=detail, port=endpoint.port, host=endpoint.host
    )
    code = explanation.code or _STAGE_DEFAULT.get(failure.stage, Code.NETWORK_SERVICE_REFUSED)
    steps = list(explanation.steps)
    if explanation.advice:
        steps.insert(0, explanation.advice)
    stage = DOCTOR_STAGE.get(failure.stage, "network")
    if stage in ("network", "tls") and code is not Code.NETWORK_DNS_UNRESOLVABLE:
        attempts = await fallback.try_alternatives(
            endpoint, ctx.options.usual_ports, resolver=ctx.dns.resolve_host
        )
        if attempts:
            summary = "; ".join(
                f"{a.security.value}:{a.port} {'works' if a.works else 'fails: ' + a.detail}"
                for a in attempts
            )
            works = fallback.working_step(attempts)
            rec.check("network.other_modes", Status.PASS if works else Status.FAIL, summary)
            if works:
                steps.insert(0, works)
    severity = explanation.severity if explanation.severity is not Severity.INFO else None
    evidence = (explanation.evidence if failure.reply is not None else failure.detail) or str(failure)
    rec.finding(
        Finding.of(
            code,
            evidence,
            steps,
            severity=severity,
            title=explanation.title or None,
            explanation=explanation.explanation,
        ),
        blocking=True,
    )
