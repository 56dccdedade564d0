"""The SMTP walk: network, TLS, auth and envelope stages in one session.

resolve (through the doctor's resolver) → connect → TLS → greeting → EHLO → STARTTLS →
AUTH → MAIL FROM → RCPT TO → RSET (no mail) or DATA (``--send``) → QUIT, with the same
:class:`~postwarden.core.smtp.session.SmtpSession` the worker sends with. Each step is a
check line; the step that fails becomes the finding, classified by the reply knowledge
base (:func:`postwarden.core.replies.classify.classify`) - the words the worker stores
on an attempt and ``postwarden explain`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.core.config.model import Provider, Security
from postwarden.core.doctor import fallback
from postwarden.core.doctor.model import Code, Finding, ReportedLine, Severity, Status
from postwarden.core.i18n import Number, Text, join
from postwarden.core.replies.classify import classify
from postwarden.core.smtp.errors import SmtpError, TokenRejected, failure_text
from postwarden.core.smtp.model import Endpoint
from postwarden.core.smtp.session import SmtpSession
from postwarden.core.smtp.stages import DOCTOR_STAGE, SmtpStage
from postwarden.core.smtp.transcript import Transcript

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

S = SmtpStage
#: the size of a typical HTML notification with a logo, for servers whose limit cannot
#: be compared with real messages (no database, or nothing sent yet)
TYPICAL_MESSAGE_BYTES: Final = 100_000
#: session stage -> check id
CHECK_IDS: Final[dict[SmtpStage, str]] = {
    S.RESOLVE: "network.resolve",
    S.CONNECT: "network.connect",
    S.TLS: "tls.handshake",
    S.GREETING: "network.greeting",
    S.EHLO: "network.ehlo",
    S.STARTTLS: "tls.starttls",
    S.TOKEN: "auth.token",
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
    """Raises ValueError when the settings cannot make one (the config stage names why)."""
    return Endpoint.from_settings(ctx.settings.smtp, timeout=ctx.timeout)


def expected_stages(endpoint: Endpoint, send: bool) -> list[SmtpStage]:
    stages = [S.RESOLVE, S.CONNECT]
    stages += [S.TLS] if endpoint.security is Security.SSL else []
    stages += [S.GREETING, S.EHLO]
    stages += [S.STARTTLS] if endpoint.security in (Security.STARTTLS, Security.OPPORTUNISTIC) else []
    stages += [S.TOKEN] if endpoint.token is not None else []
    stages += [S.AUTH] if endpoint.wants_auth else []
    return [*stages, S.MAIL, S.RCPT, S.DATA if send else S.RSET]


async def run_smtp(ctx: Context, rec: Recorder) -> None:
    if ctx.settings.sending.provider is not Provider.SMTP:
        return  # a provider's API host is checked by the provider stage
    if not ctx.settings.smtp.host:
        rec.check("network.connect", Status.SKIP, Text("SMTP_HOST is not set (config.missing)"))
        rec.blocking.add(Code.CONFIG_MISSING)
        return
    try:
        endpoint = endpoint_of(ctx)
    except ValueError as exc:
        rec.check("network.connect", Status.SKIP, Text("{error} (config.missing)", error=str(exc)))
        rec.blocking.add(Code.CONFIG_MISSING)
        return
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
    if session.extensions:  # the EHLO was answered: its SIZE can be judged
        _judge_size(ctx, rec, session)
    rec.transcript.extend(ReportedLine(line.dir, line.line) for line in transcript.lines)
    if failure is not None:
        await _report_failure(ctx, rec, endpoint, failure)


async def _envelope(ctx: Context, session: SmtpSession) -> str:
    """MAIL+RCPT+RSET (or a real send with ``--send``); a note for the DATA check.
    Addresses the composer would refuse are config.invalid_address: not probed."""
    sender, recipient = _addr_spec(ctx.settings.sending.from_address), _addr_spec(ctx.recipient)
    if sender is None or recipient is None:
        return ""
    if not ctx.options.send:
        size = expected_size(ctx).bytes
        limit = advertised_limit(session)
        # over an advertised limit the probe would stop before sending (already a
        # finding): then it checks the sender and the recipient without declaring
        await session.probe(sender, [recipient], size=size if limit is None or size <= limit else None)
        return ""
    raw, envelope_from, utf8 = _test_mail(ctx, recipient)
    result = await session.send(envelope_from, [recipient], raw, smtputf8=utf8)
    if result.queue_id:
        return Text("queued as {queue_id}", queue_id=result.queue_id)
    return Text("accepted: {reply}", reply=str(result.data_reply))


def _addr_spec(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return parse_address(address).addr_spec
    except InvalidAddress:
        return None


def _test_mail(ctx: Context, recipient: str) -> tuple[bytes, str, bool]:
    """The test mail, composed and (when signing is on) DKIM-signed as the worker does.
    Invalid addresses are config.invalid_address, already reported."""
    # only with --send: the composer and dkimpy are not worth loading for a probe
    from postwarden.core.dkim import DkimKeyError, Signer
    from postwarden.core.doctor.testmail import compose_test_mail

    try:
        composed = compose_test_mail(ctx.settings, recipient)
    except ValueError as exc:
        raise SmtpError(
            S.DATA, detail=Text("the test message cannot be composed: {error}", error=str(exc))
        ) from None
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
        subject = cert.subject or Text("certificate")
        if cert.not_after:
            said = Text(
                "{subject} issued by {issuer}, valid until {date}",
                subject=subject,
                issuer=cert.issuer,
                date=cert.not_after.strftime("%Y-%m-%d"),
            )
        else:
            said = Text("{subject} issued by {issuer}", subject=subject, issuer=cert.issuer)
        rec.check("tls.certificate", Status.PASS, said)


@dataclass(frozen=True, slots=True)
class ExpectedSize:
    """The size of message the server must take, and where that figure comes from."""

    bytes: int
    #: "the largest of the last 50 messages (msg_…)" or "a typical HTML notification"
    source: Text
    #: from real messages in the database (not an estimate)
    real: bool
    #: how many of the recent messages exceed a limit is asked per limit
    sizes: tuple[tuple[str, int], ...] = ()

    def over(self, limit: int) -> list[tuple[str, int]]:
        return [(pid, n) for pid, n in self.sizes if n > limit]


def expected_size(ctx: Context) -> ExpectedSize:
    """The largest recent real message, else a typical notification's size."""
    sizes = ctx.service.recent_sizes if ctx.service is not None else ()
    if sizes:
        pid, largest = max(sizes, key=lambda item: item[1])
        source = Text(
            "the largest of the last {count} messages ({message})", count=Number(len(sizes)), message=pid
        )
        return ExpectedSize(largest, source, True, sizes)
    return ExpectedSize(TYPICAL_MESSAGE_BYTES, Text("a typical HTML notification"), False)


def advertised_limit(session: SmtpSession) -> int | None:
    """The EHLO's SIZE limit in bytes (RFC 1870), None when absent or 0 (no fixed limit)."""
    size = session.extensions.get("SIZE", "")
    return int(size) if size.isdigit() and int(size) > 0 else None


def _judge_size(ctx: Context, rec: Recorder, session: SmtpSession) -> None:
    limit = advertised_limit(session)
    if limit is None:
        rec.check("envelope.size", Status.PASS, Text("the server advertises no fixed size limit (EHLO SIZE)"))
        return
    expected = expected_size(ctx)
    ceiling = ctx.settings.delivery.max_message_bytes
    if expected.bytes <= limit:
        takes = {"limit": limit, "source": expected.source, "size": expected.bytes}
        said = (
            Text(
                "the server takes up to {limit} bytes; {source} is {size}; POSTWARDEN_MAX_MESSAGE_BYTES "
                "allows {ceiling}, larger ones will be refused",
                ceiling=ceiling,
                **takes,
            )
            if limit < ceiling
            else Text("the server takes up to {limit} bytes; {source} is {size}", **takes)
        )
        rec.check("envelope.size", Status.WARN if limit < ceiling else Status.PASS, said)
        return
    over = expected.over(limit)
    says = {"size_said": session.extensions["SIZE"], "limit": limit, "source": expected.source}
    evidence = (
        Text(
            "the server's EHLO says SIZE {size_said} (at most {limit} bytes); {source} is {size} bytes; "
            "{over} of the last {count} messages are larger",
            size=expected.bytes,
            over=Number(len(over)),
            count=Number(len(expected.sizes)),
            **says,
        )
        if expected.real
        else Text(
            "the server's EHLO says SIZE {size_said} (at most {limit} bytes); {source} is {size} bytes",
            size=expected.bytes,
            **says,
        )
    )
    rec.finding(
        Finding.of(
            Code.ENVELOPE_MESSAGE_TOO_LARGE,
            evidence,
            (
                Text(
                    "Ask the server's administrator to raise its message size limit (Postfix "
                    "message_size_limit, Exim message_size_limit, Exchange MaxSendSize/MaxReceiveSize), "
                    "or send through a server or provider that takes larger mail."
                ),
                Text(
                    "Set POSTWARDEN_MAX_MESSAGE_BYTES={limit}, so that mail this server cannot take is "
                    "refused when it is submitted, with a clear error, instead of failing at delivery.",
                    limit=limit,
                ),
                Text("Send large files as links rather than attachments."),
            ),
            severity=Severity.ERROR if expected.real else Severity.WARNING,
            explanation=(
                Text(
                    "The server announces the largest message it accepts (RFC 1870 SIZE) and refuses larger "
                    "ones at MAIL FROM or after DATA. Messages this service really sent recently are larger "
                    "than that."
                )
                if expected.real
                else Text(
                    "The server announces the largest message it accepts (RFC 1870 SIZE) and refuses larger "
                    "ones at MAIL FROM or after DATA. A typical notification with HTML and images is larger "
                    "than that."
                )
            ),
        )
    )
    rec.check("envelope.size", Status.FAIL if expected.real else Status.WARN, evidence)


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
        rec.check("tls.handshake", Status.SKIP, Text("SMTP_SECURITY=none: the connection is not encrypted"))
    if not endpoint.wants_auth:
        rec.check("auth.login", Status.SKIP, Text("no credentials set (SMTP_USER, SMTP_PASSWORD): no AUTH"))
    not_reached = (
        Text("not reached (stopped at {stage})", stage=failure.stage.value)
        if failure is not None
        else Text("not reached")
    )
    for stage in expected_stages(endpoint, ctx.options.send):
        if CHECK_IDS[stage] not in rows:
            rec.check(CHECK_IDS[stage], Status.SKIP, not_reached)


async def _report_failure(ctx: Context, rec: Recorder, endpoint: Endpoint, failure: SmtpError) -> None:
    # Without a reply the session's words alone can be terse ("no connection within 5 s");
    # the class summary ("the connection attempt timed out") names the fault for the
    # knowledge base. The evidence stays the verbatim detail.
    detail = failure.detail if failure.reply is not None else f"{failure.summary}: {failure.detail}"
    if isinstance(failure, TokenRejected):
        detail = failure_text(failure)  # the classifier reads it as a refused token
    explanation = classify(
        stage=failure.stage,
        reply=failure.reply,
        detail=detail,
        port=endpoint.port,
        host=endpoint.host,
        sender=_addr_spec(ctx.settings.sending.from_address),
        recipients=[r for r in [_addr_spec(ctx.recipient)] if r],
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
            summary = join("; ", [a.said for a in attempts])
            works = fallback.working_step(attempts)
            rec.check("network.other_modes", Status.PASS if works else Status.FAIL, summary)
            if works:
                steps.insert(0, works)
    severity = explanation.severity if explanation.severity is not Severity.INFO else None
    evidence = (explanation.evidence if failure.reply is not None else failure.detail) or failure.said()
    if isinstance(failure, TokenRejected):
        evidence = explanation.evidence
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
