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
from typing import Any, Final

from postwarden.core.config.model import Provider, Settings
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.replies.parse import parse_reply
from postwarden.core.replies.reply import Reply
from postwarden.core.smtp.errors import SmtpError
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.transcript import Transcript

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
        stage=exc.stage, reply=exc.reply, detail=exc.detail, port=settings.smtp.port, host=settings.smtp.host
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
    """Connect, TLS, greeting, EHLO, STARTTLS, AUTH as configured, then QUIT; no mail."""
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
    session = SmtpSession(Endpoint.from_settings(settings.smtp), transcript=transcript)
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
    """Queue a test mail to ``to`` and deliver it now through the worker's own steps
    (claim, transport, retry policy, results), as ``postwarden send-test`` does.

    The message is claimed in the transaction that stores it, so a running worker —
    which sends with the SAVED settings — never takes a test of the form's unsaved
    values. The orchestration mirrors cli/send_test.py, which the console may not
    import (the cli layer sits above it); both drive the same outbox and transport
    code. A failed test mail is cancelled, not retried: the point was to see what
    happens now.
    """
    if not to:
        return Outcome(ok=False, title="No recipient: type an address, or set TEST_EMAIL or MAIL_FROM")
    transcript = Transcript()
    try:
        return asyncio.run(asyncio.wait_for(_send_test(settings, to, user, transcript), OVERALL_LIMIT))
    except TimeoutError:
        return Outcome(
            ok=False,
            title=f"The test took longer than {OVERALL_LIMIT:.0f} seconds and was stopped",
            transcript=lines_of(transcript),
        )


def _test_text(settings: Settings, to: str, user: object) -> str:
    who = getattr(user, "email", "") or "the console"
    return (
        f"This is a test email from Postwarden, sent by {who} from the Email settings page through "
        f"{settings.sending.provider.value}.\n\nIf you can read this, mail from Postwarden reaches {to}.\n"
    )


async def _send_test(settings: Settings, to: str, user: object, transcript: Transcript) -> Outcome:
    from django.urls import reverse

    from postwarden.outbox.errors import Refused
    from postwarden.outbox.worker.loop import Options, Worker
    from postwarden.transports.base import Transport
    from postwarden.transports.registry import build_transport
    from postwarden.transports.smtp import SmtpTransport

    def transport_for(resolved: Settings) -> Transport:
        if resolved.sending.provider is Provider.SMTP:
            return SmtpTransport(resolved, transcript=transcript)
        return build_transport(resolved)

    worker = Worker(
        Options(worker_id="console-send-test"),
        settings_source=lambda: settings,
        transport_factory=transport_for,
    )
    try:
        await worker.start()
        if worker.transport is None:
            return Outcome(ok=False, title=f"Cannot send with these settings: {worker.problem}")
        try:
            queued, jobs = await worker.db(
                _enqueue_and_claim, worker, settings, to, _test_text(settings, to, user)
            )
        except Refused as refused:
            return Outcome(ok=False, title=f"Refused ({refused.field}): {refused.message}", stage="config")
        url = reverse("console:message", args=[queued.public_id])
        if not jobs:
            state = queued.recipients[0]
            return Outcome(
                ok=False, title=f"Not sent: {state.state}", explanation=state.reason, message_url=url
            )
        for job in jobs:
            await worker.send_job(job)
        await worker.flush_step()
        return await worker.db(_delivered, settings, queued.pk, transcript, url)
    finally:
        await worker.close()


def _enqueue_and_claim(worker: Any, settings: Settings, to: str, text: str) -> tuple[Any, list[Any]]:
    """Store the test mail and claim it for ``worker`` in one transaction (database thread)."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from postwarden.outbox.services import Outgoing, enqueue
    from postwarden.outbox.worker import db
    from postwarden.outbox.worker.loop import RAW_TRANSPORTS

    transport = worker.transport
    with transaction.atomic():
        queued = enqueue(
            Outgoing(to=[to], subject="Postwarden test email", text=text, tags=["send-test"]),
            settings=settings,
            source="console",
        )
        if queued.recipients[0].state != "queued":
            return queued, []
        jobs = db.claim(
            worker.worker_id,
            transport.name,
            limit=10,
            lease=timedelta(minutes=5),
            cap=transport.max_recipients,
            with_parts=transport.name not in RAW_TRANSPORTS,
            now=timezone.now(),
            message_pk=queued.pk,
        )
    return queued, jobs


def _delivered(settings: Settings, message_pk: int, transcript: Transcript, url: str) -> Outcome:
    from postwarden.outbox.actions import cancel
    from postwarden.outbox.models import Attempt, Recipient

    recipient = Recipient.objects.get(message_id=message_pk)
    attempt = Attempt.objects.filter(recipient=recipient).order_by("-number").first()
    lines = lines_of(transcript)
    if recipient.state == "sent":
        queue_id = attempt.queue_id if attempt else ""
        if recipient.transport == "capture":
            return Outcome(
                ok=True,
                title="Captured: see Captured mail",
                facts=(f"captured as {queue_id}",),
                message_url=url,
            )
        facts = (f"queue id {queue_id}",) if queue_id else ()
        return Outcome(
            ok=True,
            title=f"Accepted by the server for {recipient.address}",
            reply=_said(recipient),
            facts=facts,
            transcript=lines,
            message_url=url,
        )
    cancel([recipient.pk], by="the console's send-test (a test mail is not retried)")
    stage = attempt.stage if attempt else ""
    expl = classify(
        stage=stage,
        reply=_reply_of(recipient),
        detail=recipient.last_reply,
        port=settings.smtp.port,
        host=settings.smtp.host,
    )
    return Outcome(
        ok=False,
        title=expl.title or "Not accepted",
        stage=stage,
        reply=_said(recipient),
        code=recipient.finding or (expl.code.value if expl.code else ""),
        explanation=(attempt.explanation if attempt else "") or expl.explanation,
        steps=expl.steps + ((expl.advice,) if expl.advice else ()),
        transcript=lines,
        message_url=url,
    )


def _said(recipient: object) -> str:
    # the worker stores the reply as the server sent it ("535 5.7.8 …"), or the failure text
    return str(getattr(recipient, "last_reply", ""))


def _reply_of(recipient: object) -> Reply | None:
    return parse_reply(_said(recipient)) if getattr(recipient, "last_code", None) else None
