""" "Test connection" and "Send test email" for the Email settings page.

Both take a resolved :class:`Settings` (the form's values layered over the stored ones)
and go through the code real mail uses: the core SMTP session for the connection test
(``open()`` — connect, TLS, greeting, EHLO, STARTTLS, AUTH — then QUIT, no mail), and
the pipeline's send-test path for the test email. A failure is explained by the one
reply knowledge base (core.replies), with the server's words verbatim.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from postwarden.core.config.model import Provider, Settings
from postwarden.core.doctor.redact import Redactor
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.smtp.errors import SmtpError, failure_text
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript

if TYPE_CHECKING:  # needs Django set up; imported where used
    from postwarden.outbox.testsend import TestSend

#: the whole test is bounded whatever SMTP_TIMEOUT says, so a page never hangs a worker
#: thread of the web server for minutes (each step still has SMTP_TIMEOUT)
OVERALL_LIMIT: Final = 45.0


@dataclass(frozen=True, slots=True)
class Line:
    dir: str
    line: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the page shows. ``reply`` is the server's reply verbatim (or the socket/TLS
    error text when there was no reply); never a secret (the transcript is redacted by
    the session, the evidence by the knowledge base)."""

    ok: bool
    title: str
    stage: str = ""
    reply: str = ""
    code: str = ""
    explanation: str = ""
    steps: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    transcript: tuple[Line, ...] = ()
    message_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        where = f" at {self.stage}" if self.stage else ""
        said = f": {self.reply}" if self.reply else ""
        return f"{self.title}{where}{said}"


def lines_of(transcript: Transcript) -> tuple[Line, ...]:
    return tuple(Line(line.dir, line.line) for line in transcript.lines)


def from_error(exc: SmtpError, settings: Settings, transcript: Transcript, *, title: str = "") -> Outcome:
    """An SMTP failure as the page shows it, explained by the knowledge base."""
    expl: Explanation = classify(
        stage=exc.stage,
        reply=exc.reply,
        detail=failure_text(exc),
        port=settings.smtp.port,
        host=settings.smtp.host,
    )
    steps = expl.steps + ((expl.advice,) if expl.advice else ())
    return Outcome(
        ok=False,
        title=title or expl.title,
        stage=exc.stage.value,
        reply=str(exc.reply) if exc.reply is not None else exc.detail,
        code=expl.code.value if expl.code is not None else "",
        explanation=expl.explanation,
        steps=steps,
        transcript=lines_of(transcript),
    )


def test_connection(settings: Settings) -> Outcome:
    """Connect, TLS, greeting, EHLO, STARTTLS, AUTH as configured, then QUIT; no mail.
    Redacted as the doctor's report is: a server may echo the AUTH line in its refusal."""
    return Redactor.for_settings(settings).report(_test_connection(settings))


def _test_connection(settings: Settings) -> Outcome:
    if settings.sending.provider is Provider.CAPTURE:
        return Outcome(
            ok=True,
            title="Nothing to connect to: mail is captured",
            facts=(
                "EMAIL_PROVIDER is capture: mail is kept in the console's Captured inbox.",
                "Choose SMTP (or a provider) and fill in its settings to send for real.",
            ),
        )
    if settings.sending.provider is not Provider.SMTP:
        return _provider_probe(settings)
    if not settings.smtp.host:
        return Outcome(
            ok=False,
            title="SMTP_HOST is not set",
            stage="config",
            code="config.missing",
            steps=("Fill in the SMTP host (or pick a preset).",),
        )
    return asyncio.run(_bounded(_open_and_quit(settings)))


async def _bounded(coro: object) -> Outcome:
    try:
        return await asyncio.wait_for(coro, OVERALL_LIMIT)  # type: ignore[arg-type]
    except TimeoutError:
        return Outcome(
            ok=False,
            title=f"The test took longer than {OVERALL_LIMIT:.0f} seconds and was stopped",
            steps=("Lower SMTP_TIMEOUT or run the doctor, which probes every stage concurrently.",),
        )


async def _open_and_quit(settings: Settings) -> Outcome:
    transcript = Transcript()
    try:
        endpoint = Endpoint.from_settings(settings.smtp)
    except ValueError as exc:  # incomplete OAuth2 settings
        return Outcome(ok=False, title=str(exc), stage="config", code="config.missing")
    session = SmtpSession(endpoint, transcript=transcript)
    try:
        await session.open()
    except SmtpError as exc:
        return from_error(exc, settings, transcript)
    facts = _facts(session)
    await session.quit()
    return Outcome(
        ok=True,
        title="Connected: the server accepted the connection"
        + (", TLS" if session.tls else "")
        + (" and the credentials" if session.auth_mechanism else ""),
        facts=facts,
        transcript=lines_of(transcript),
    )


def _facts(session: SmtpSession) -> tuple[str, ...]:
    facts = []
    if session.peer:
        facts.append(f"connected to {session.peer[0]} port {session.peer[1]}")
    if session.tls is not None:
        tls = session.tls
        cert = f", certificate {tls.subject}" if tls.subject else ""
        checked = "" if tls.verified else " (certificate NOT verified: SMTP_TLS_VERIFY=false)"
        facts.append(f"TLS ({tls.how}): {tls.version} {tls.cipher}{cert}{checked}")
    else:
        facts.append("no TLS: the connection is not encrypted")
    facts += [f"OAuth2 {step.detail}" for step in session.steps if step.stage is SmtpStage.TOKEN]
    if session.auth_mechanism:
        facts.append(f"AUTH {session.auth_mechanism} accepted")
    if session.extensions.get("SIZE"):
        facts.append(f"the server takes messages up to {session.extensions['SIZE']} bytes")
    return tuple(facts)


def _provider_probe(settings: Settings) -> Outcome:
    """An API provider has no connection to open: ask its API, read-only, with the
    doctor's own provider probes (key valid? sandbox? suspended? sender verified?)."""
    from postwarden.core.doctor.runner import Options, run_sync

    report = run_sync(settings, Options(only=frozenset({"config", "provider"})))
    name = settings.sending.provider.value
    facts = tuple(f"{c.id}: {c.status.value} {c.detail}".strip() for c in report.checks)
    errors = [f for f in report.findings if f.severity.value == "error"]
    if not errors:
        return Outcome(ok=True, title=f"{name}: the API accepted the key", facts=facts)
    first = errors[0]
    return Outcome(
        ok=False,
        title=first.title,
        stage=first.stage,
        reply=first.evidence,
        code=first.code.value,
        explanation=first.explanation,
        steps=first.steps,
        facts=facts,
    )


def send_test(settings: Settings, to: str, user: object) -> Outcome:
    """See :func:`_send_test`; what it shows passes through the doctor's redactor."""
    return Redactor.for_settings(settings).report(_send_test(settings, to, user))


def _send_test(settings: Settings, to: str, user: object) -> Outcome:
    """Queue a test mail to ``to`` and deliver it now through the worker's own steps, as
    ``postwarden send-test`` does (both call :func:`postwarden.outbox.testsend.send_test`).

    The message is claimed in the transaction that stores it, so a running worker —
    which sends with the SAVED settings — never takes a test of the form's unsaved
    values. A failed test mail is cancelled, not retried: the point was to see what
    happens now. The send is bounded by :data:`OVERALL_LIMIT`.
    """
    from django.urls import reverse

    from postwarden.outbox.testsend import send_test as send_now
    from postwarden.transports.base import Transport
    from postwarden.transports.registry import build_transport
    from postwarden.transports.smtp import SmtpTransport

    if not to:
        return Outcome(ok=False, title="No recipient: type an address, or set TEST_EMAIL or MAIL_FROM")
    transcript = Transcript()

    def transport_for(resolved: Settings) -> Transport:
        if resolved.sending.provider is Provider.SMTP:
            return SmtpTransport(resolved, transcript=transcript)
        return build_transport(resolved)

    result = send_now(
        settings,
        to,
        text=_test_text(settings, to, user),
        source="console",
        cancelled_by="the console's send-test (a test mail is not retried)",
        transport_factory=transport_for,
        timeout=OVERALL_LIMIT,
    )
    url = reverse("console:message", args=[result.public_id]) if result.public_id else ""
    return _outcome(result, settings, lines_of(transcript), url)


def _test_text(settings: Settings, to: str, user: object) -> str:
    who = getattr(user, "email", "") or "the console"
    return (
        f"This is a test email from Postwarden, sent by {who} from the Email settings page through "
        f"{settings.sending.provider.value}.\n\nIf you can read this, mail from Postwarden reaches {to}.\n"
    )


def _outcome(result: TestSend, settings: Settings, lines: tuple[Line, ...], url: str) -> Outcome:
    if result.state == "unusable":
        return Outcome(ok=False, title=f"Cannot send with these settings: {result.reason}")
    if result.state == "refused":
        return Outcome(ok=False, title=f"Refused ({result.field}): {result.reason}", stage="config")
    if result.state == "not_queued":
        state, _, why = result.reason.partition(": ")
        return Outcome(ok=False, title=f"Not sent: {state}", explanation=why, message_url=url)
    if result.ok and result.transport == "capture":
        facts = (f"captured as {result.queue_id}",)
        return Outcome(ok=True, title="Captured: see Captured mail", facts=facts, message_url=url)
    if result.ok:
        return Outcome(
            ok=True,
            title=f"Accepted by the server for {result.to}",
            reply=result.said,
            facts=(f"queue id {result.queue_id}",) if result.queue_id else (),
            transcript=lines,
            message_url=url,
        )
    expl = classify(
        stage=result.stage,
        reply=result.reply,
        detail=result.said,
        port=settings.smtp.port,
        host=settings.smtp.host,
    )
    return Outcome(
        ok=False,
        title=expl.title or "Not accepted",
        stage=result.stage,
        reply=result.said,
        code=result.finding or (expl.code.value if expl.code else ""),
        explanation=result.explanation or expl.explanation,
        steps=expl.steps + ((expl.advice,) if expl.advice else ()),
        transcript=lines,
        message_url=url,
    )
