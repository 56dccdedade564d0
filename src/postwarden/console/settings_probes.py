""" "Test connection" and "Send test email" for the Email settings page.

Both take a resolved :class:`Settings` (the form's values layered over the stored ones)
and go through the code real mail uses: the core SMTP session for the connection test
(``open()`` — connect, TLS, greeting, EHLO, STARTTLS, AUTH — then QUIT, no mail), and
the pipeline's send-test path for the test email. A failure is explained by the one
reply knowledge base (core.replies), with the server's words verbatim.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from postwarden.console.words import word
from postwarden.core.config.model import Provider, Security, Settings, SmtpAuth
from postwarden.core.doctor.redact import Redactor
from postwarden.core.doctor.testmail import send_test_text
from postwarden.core.i18n import localize, said
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.smtp.errors import SmtpError, failure_text
from postwarden.core.smtp.model import Step
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript

if TYPE_CHECKING:  # needs Django set up; imported where used
    from postwarden.outbox.testmail import TestMailResult

#: the whole test is bounded whatever SMTP_TIMEOUT says, so a page never hangs a worker
#: thread of the web server for minutes (each step still has SMTP_TIMEOUT)
OVERALL_LIMIT: Final = 45.0
#: what the page calls each stage of opening a session (the doctor's words)
STAGE_LABELS: Final[dict[str, Promise]] = {
    SmtpStage.RESOLVE: gettext_lazy("DNS"),
    SmtpStage.CONNECT: gettext_lazy("Connect"),
    SmtpStage.TLS: gettext_lazy("TLS"),
    SmtpStage.GREETING: gettext_lazy("Greeting"),
    SmtpStage.EHLO: gettext_lazy("EHLO"),
    SmtpStage.STARTTLS: gettext_lazy("STARTTLS"),
    SmtpStage.TOKEN: gettext_lazy("OAuth2 token"),
    SmtpStage.AUTH: gettext_lazy("Sign in"),
    SmtpStage.QUIT: gettext_lazy("QUIT"),
}
#: finding codes about the server's certificate: the page names "Verify certificate"
CERTIFICATE_CODES: Final = frozenset({"tls.certificate_untrusted", "tls.hostname_mismatch"})
_TLS_STAGES: Final = frozenset({SmtpStage.TLS.value, SmtpStage.STARTTLS.value})


@dataclass(frozen=True, slots=True)
class Line:
    dir: str
    line: str


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
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
    #: whose words ``reply`` are: "server" (its reply), "tls" (this machine's TLS library,
    #: OpenSSL) or "system" (the operating system: a refused or timed-out connection)
    said_by: str = "server"
    #: the failure is about the server's certificate while "Verify certificate" is on
    certificate: bool = False

    @property
    def summary(self) -> str:
        """One line in the page's language (a flash): the title, the stage, and what the
        server said as it said it."""
        text = localize(self.title)
        if self.stage:
            text = _("%(title)s at %(stage)s") % {"title": text, "stage": self.stage}
        if self.reply:
            text = _("%(summary)s: %(reply)s") % {"summary": text, "reply": self.reply}
        return text


def lines_of(transcript: Transcript) -> tuple[Line, ...]:
    return tuple(Line(line.dir, line.line) for line in transcript.lines)


def from_error(
    exc: SmtpError, settings: Settings, transcript: Transcript, *, title: str = ""
) -> ProbeOutcome:
    """An SMTP failure as the page shows it, explained by the knowledge base."""
    expl: Explanation = classify(
        stage=exc.stage,
        reply=exc.reply,
        detail=failure_text(exc),
        port=settings.smtp.port,
        host=settings.smtp.host,
    )
    steps = expl.steps + ((expl.advice,) if expl.advice else ())
    code = expl.code.value if expl.code is not None else ""
    return ProbeOutcome(
        ok=False,
        title=title or expl.title,
        stage=exc.stage.value,
        reply=str(exc.reply) if exc.reply is not None else exc.detail,
        code=code,
        explanation=expl.explanation,
        steps=steps,
        transcript=lines_of(transcript),
        said_by=said_by(exc.stage.value, has_reply=exc.reply is not None),
        certificate=about_certificate(code, exc.detail, settings),
    )


def said_by(stage: str, *, has_reply: bool) -> str:
    """Whose words a failure's text is: a reply is the server's; without one, a TLS
    stage's text is OpenSSL's, any other the operating system's."""
    if has_reply:
        return "server"
    return "tls" if stage in _TLS_STAGES else "system"


def about_certificate(code: str, detail: str, settings: Settings) -> bool:
    """A certificate failure while the certificate is verified (what the option decides)."""
    if not settings.smtp.verify_certificate:
        return False
    return code in CERTIFICATE_CODES or (code.startswith("tls.") and "certificate" in detail.lower())


def test_connection(settings: Settings) -> ProbeOutcome:
    """Connect, TLS, greeting, EHLO, STARTTLS, AUTH as configured, then QUIT; no mail.
    Redacted as the doctor's report is: a server may echo the AUTH line in its refusal."""
    return Redactor.for_settings(settings).report(_test_connection(settings))


def _connected(*, tls: bool, auth: bool) -> str:
    if tls and auth:
        return _("Connected: the server accepted the connection, TLS and the credentials")
    if tls:
        return _("Connected: the server accepted the connection, TLS")
    if auth:
        return _("Connected: the server accepted the connection and the credentials")
    return _("Connected: the server accepted the connection")


def _test_connection(settings: Settings) -> ProbeOutcome:
    if settings.sending.provider is Provider.CAPTURE:
        return ProbeOutcome(
            ok=True,
            title=_("Nothing to connect to: mail is captured"),
            facts=(
                _("EMAIL_PROVIDER is capture: mail is kept in the console's Captured inbox."),
                _("Choose SMTP (or a provider) and fill in its settings to send for real."),
            ),
        )
    if settings.sending.provider is not Provider.SMTP:
        return _provider_probe(settings)
    if not settings.smtp.host:
        return ProbeOutcome(
            ok=False,
            title=_("SMTP_HOST is not set"),
            stage="config",
            code="config.missing",
            steps=(_("Fill in the SMTP host (or pick a preset)."),),
        )
    return asyncio.run(_bounded(_open_and_quit(settings)))


async def _bounded(coro: object) -> ProbeOutcome:
    try:
        return await asyncio.wait_for(coro, OVERALL_LIMIT)  # type: ignore[arg-type]
    except TimeoutError:
        return ProbeOutcome(
            ok=False,
            title=_("The test took longer than %(seconds).0f seconds and was stopped")
            % {"seconds": OVERALL_LIMIT},
            steps=(_("Lower SMTP_TIMEOUT or run the doctor, which probes every stage concurrently."),),
        )


async def _open_and_quit(settings: Settings, on_step: StepObserver | None = None) -> ProbeOutcome:
    transcript = Transcript()
    try:
        endpoint = Endpoint.from_settings(settings.smtp)
    except ValueError as exc:  # incomplete OAuth2 settings
        return ProbeOutcome(ok=False, title=said(exc), stage="config", code="config.missing")
    session = SmtpSession(endpoint, transcript=transcript, on_step=on_step)
    try:
        await session.open()
    except SmtpError as exc:
        return from_error(exc, settings, transcript)
    facts = _facts(session)
    await session.quit()
    return ProbeOutcome(
        ok=True,
        title=_connected(tls=bool(session.tls), auth=bool(session.auth_mechanism)),
        facts=facts,
        transcript=lines_of(transcript),
    )


StepObserver = Callable[[SmtpStage, Step | None], None]


def expected_stages(settings: Settings) -> list[str]:
    """The stages opening a session with these settings goes through, in order."""
    smtp = settings.smtp
    stages = [SmtpStage.RESOLVE, SmtpStage.CONNECT]
    stages += [SmtpStage.TLS] if smtp.security is Security.SSL else []
    stages += [SmtpStage.GREETING, SmtpStage.EHLO]
    stages += [SmtpStage.STARTTLS] if smtp.security in (Security.STARTTLS, Security.OPPORTUNISTIC) else []
    stages += [SmtpStage.TOKEN] if smtp.auth is SmtpAuth.OAUTH2 else []
    stages += [SmtpStage.AUTH] if smtp.auth_enabled else []
    return [s.value for s in stages]


def test_connection_live(settings: Settings) -> Iterator[dict[str, Any]]:
    """:func:`test_connection` as events, for a page that shows each stage as it
    happens: ``begin`` (the stages to expect, each step's timeout and the overall
    limit), ``start`` and ``step`` per stage, then ``outcome`` (the :class:`ProbeOutcome`).
    The test runs on its own thread; what the events carry is redacted like the result."""
    redactor = Redactor.for_settings(settings)
    direct = settings.sending.provider is not Provider.SMTP or not settings.smtp.host
    stages = [] if direct else expected_stages(settings)
    yield {
        "event": "begin",
        "stages": [{"stage": s, "label": str(STAGE_LABELS.get(s, s))} for s in stages],
        "timeout": settings.smtp.timeout,
        "limit": OVERALL_LIMIT,
    }
    if direct:
        yield {"event": "outcome", "outcome": test_connection(settings)}
        return
    events: queue.Queue[dict[str, Any]] = queue.Queue()

    def observe(stage: SmtpStage, step: Step | None) -> None:
        if step is None:
            events.put(
                {"event": "start", "stage": stage.value, "label": str(STAGE_LABELS.get(stage, stage.value))}
            )
        else:
            events.put(
                {
                    "event": "step",
                    "stage": step.stage.value,
                    "label": str(STAGE_LABELS.get(step.stage, step.stage.value)),
                    "ok": step.ok,
                    "ms": round(step.duration_ms),
                    "detail": redactor.text(step.detail),
                }
            )

    def run() -> None:
        try:
            outcome = asyncio.run(_bounded(_open_and_quit(settings, observe)))
        except Exception as exc:  # never a silent page: the result says what broke
            outcome = ProbeOutcome(
                ok=False, title=_("The test itself failed: %(error)s") % {"error": type(exc).__name__}
            )
        events.put({"event": "outcome", "outcome": redactor.report(outcome)})

    threading.Thread(target=run, name="console-test-connection", daemon=True).start()
    while True:
        event = events.get(timeout=OVERALL_LIMIT + 15)
        yield event
        if event["event"] == "outcome":
            return


def _facts(session: SmtpSession) -> tuple[str, ...]:
    facts = []
    if session.peer:
        facts.append(
            _("connected to %(host)s port %(port)s") % {"host": session.peer[0], "port": session.peer[1]}
        )
    if session.tls is not None:
        tls = session.tls
        cert = _(", certificate %(subject)s") % {"subject": tls.subject} if tls.subject else ""
        checked = "" if tls.verified else _(" (certificate NOT verified: SMTP_TLS_VERIFY=false)")
        facts.append(f"TLS ({tls.how}): {tls.version} {tls.cipher}{cert}{checked}")
    else:
        facts.append(_("no TLS: the connection is not encrypted"))
    facts += [f"OAuth2 {step.detail}" for step in session.steps if step.stage is SmtpStage.TOKEN]
    if session.auth_mechanism:
        facts.append(_("AUTH %(mechanism)s accepted") % {"mechanism": session.auth_mechanism})
    if session.extensions.get("SIZE"):
        facts.append(
            _("the server takes messages up to %(size)s bytes") % {"size": session.extensions["SIZE"]}
        )
    return tuple(facts)


def _provider_probe(settings: Settings) -> ProbeOutcome:
    """An API provider has no connection to open: ask its API, read-only, with the
    doctor's own provider probes (key valid? sandbox? suspended? sender verified?)."""
    from postwarden.core.doctor.context import Options
    from postwarden.core.doctor.runner import run_sync

    report = run_sync(settings, Options(only=frozenset({"config", "provider"})))
    name = settings.sending.provider.value
    facts = tuple(f"{c.id}: {c.status.value} {c.detail}".strip() for c in report.checks)
    errors = [f for f in report.findings if f.severity.value == "error"]
    if not errors:
        return ProbeOutcome(
            ok=True, title=_("%(provider)s: the API accepted the key") % {"provider": name}, facts=facts
        )
    first = errors[0]
    return ProbeOutcome(
        ok=False,
        title=first.title,
        stage=first.stage,
        reply=first.evidence,
        code=first.code.value,
        explanation=first.explanation,
        steps=first.steps,
        facts=facts,
    )


def send_test_mail(settings: Settings, to: str, user: object) -> ProbeOutcome:
    """See :func:`_send_test_mail`; what it shows passes through the doctor's redactor."""
    return Redactor.for_settings(settings).report(_send_test_mail(settings, to, user))


def _send_test_mail(settings: Settings, to: str, user: object) -> ProbeOutcome:
    """Queue a test mail to ``to`` and deliver it now through the worker's own steps, as
    ``postwarden send-test`` does (both call :func:`postwarden.outbox.testmail.send_test_mail`).

    The message is claimed in the transaction that stores it, so a running worker —
    which sends with the SAVED settings — never takes a test of the form's unsaved
    values. A failed test mail is cancelled, not retried: the point was to see what
    happens now. The send is bounded by :data:`OVERALL_LIMIT`.
    """
    from django.urls import reverse

    from postwarden.outbox.testmail import send_test_mail as send_now
    from postwarden.transports.base import Transport
    from postwarden.transports.registry import build_transport
    from postwarden.transports.smtp import SmtpTransport

    if not to:
        return ProbeOutcome(
            ok=False, title=_("No recipient: type an address, or set TEST_EMAIL or MAIL_FROM")
        )
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
    """The body in the instance's language, as the subject (core/doctor/testmail.py)."""
    return send_test_text(settings, to, settings.sending.provider.value, by=getattr(user, "email", "") or "")


def _outcome(result: TestMailResult, settings: Settings, lines: tuple[Line, ...], url: str) -> ProbeOutcome:
    if result.state == "unusable":
        return ProbeOutcome(
            ok=False, title=_("Cannot send with these settings: %(reason)s") % {"reason": result.reason}
        )
    if result.state == "refused":
        title = _("Refused (%(field)s): %(reason)s") % {"field": result.field, "reason": result.reason}
        return ProbeOutcome(ok=False, title=title, stage="config")
    if result.state == "not_queued":
        state, _sep, why = result.reason.partition(": ")
        return ProbeOutcome(
            ok=False,
            title=_("Not sent: %(state)s") % {"state": word(state)},
            explanation=why,
            message_url=url,
        )
    if result.ok and result.transport == "capture":
        facts = (_("captured as %(id)s") % {"id": result.queue_id},)
        return ProbeOutcome(ok=True, title=_("Captured: see Captured mail"), facts=facts, message_url=url)
    if result.ok:
        return ProbeOutcome(
            ok=True,
            title=_("Accepted by the server for %(to)s") % {"to": result.to},
            reply=result.said,
            facts=(_("queue id %(id)s") % {"id": result.queue_id},) if result.queue_id else (),
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
    code = result.finding or (expl.code.value if expl.code else "")
    return ProbeOutcome(
        ok=False,
        title=expl.title or _("Not accepted"),
        stage=result.stage,
        reply=result.said,
        code=code,
        explanation=result.explanation or expl.explanation,
        steps=expl.steps + ((expl.advice,) if expl.advice else ()),
        transcript=lines,
        message_url=url,
        said_by=said_by(result.stage, has_reply=result.reply is not None),
        certificate=about_certificate(code, result.said, settings),
    )
