"""A test mail, sent now, the way real mail goes: the one path behind ``postwarden
send-test`` and the console's "Send test email".

The message is stored in the outbox and claimed for this caller in ONE transaction, so a
running worker can never take it (a worker claims only committed rows, and on PostgreSQL
``SKIP LOCKED`` skips ours). It is then sent with the transport the given settings build
(the caller's transcript records the SMTP conversation), and the attempt is judged and
written by the worker's own helpers (``worker.attempts.conclude``, ``worker.record.record``),
so the message's timeline reads exactly as if the worker had sent it. A test mail that
failed is cancelled rather than retried: the point was to see what happens now.

Database work runs outside the event loop (Django's ORM refuses to run inside one); only
building the transport, the send and closing the transport run on it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from postwarden.core.config.model import Settings
from postwarden.core.doctor.redact import Redactor
from postwarden.core.doctor.testmail import SEND_TEST_SUBJECT, in_instance_language
from postwarden.core.smtp.reply import Reply
from postwarden.outbox.actions import cancel
from postwarden.outbox.errors import Refused
from postwarden.outbox.retry import RetryPolicy
from postwarden.outbox.submission import Enqueued, Outgoing, enqueue
from postwarden.outbox.worker import attempts, claim, record
from postwarden.transports.base import Outcome, RecipientResult, Transport
from postwarden.transports.registry import build_transport

#: the claim's lease: longer than any bounded test send, short enough that a crashed
#: test's row goes back to the queue soon (the reaper's LOST entry then says so)
LEASE: Final = timedelta(minutes=5)

TransportFactory = Callable[[Settings], Transport]


@dataclass(frozen=True, slots=True)
class TestMailResult:
    """What became of a test mail.

    ``state``: ``sent``; ``failed`` (tried and not accepted; cancelled); ``not_queued``
    (policy kept it out at enqueue: suppressed, held, domain not approved — see ``reason``);
    ``refused`` (the mail itself was refused: ``field`` and ``reason``); ``unusable`` (the
    settings build no transport, or sending is switched off: ``reason``). ``said`` is the
    server's reply verbatim or the failure text, as the message's timeline stores it."""

    state: str
    to: str
    transport: str = ""
    message_pk: int | None = None
    public_id: str = ""
    message_id: str = ""
    stage: str = ""
    reply: Reply | None = None
    said: str = ""
    finding: str = ""
    explanation: str = ""
    queue_id: str = ""
    provider_message_id: str = ""
    reason: str = ""
    field: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "sent"


def send_test_mail(
    settings: Settings,
    to: str,
    *,
    text: str,
    source: str,
    cancelled_by: str,
    transport_factory: TransportFactory = build_transport,
    on_queued: Callable[[Enqueued, str], None] | None = None,
    timeout: float | None = None,
) -> TestMailResult:
    """Store, claim, send and record one test mail to ``to`` with ``settings``.

    ``transport_factory`` builds the transport (give one with a transcript to see the SMTP
    conversation); ``on_queued(queued, transport_name)`` is called once the mail is stored
    and claimed, before it is sent; ``timeout`` bounds the send (seconds; a send cut short
    is recorded as a failure). Must be called outside a running event loop. Raises only
    for database errors and programming errors; everything the server says is in the
    result."""
    if not settings.sending.enabled:
        return TestMailResult("unusable", to, reason="sending is switched off (EMAIL_ENABLED=false)")
    with asyncio.Runner() as runner:
        try:
            transport = runner.run(_build(transport_factory, settings))
        except Exception as exc:  # SMTP_HOST unset, an unusable DKIM key, a missing extra …
            return TestMailResult("unusable", to, reason=f"{type(exc).__name__}: {exc}")
        try:
            return _claim_and_send(
                runner, transport, settings, to, text, source, cancelled_by, on_queued, timeout
            )
        finally:
            runner.run(transport.close())


async def _build(factory: TransportFactory, settings: Settings) -> Transport:
    # built on the loop that will use it: a transport may hold loop-bound locks
    return factory(settings)


def _claim_and_send(
    runner: asyncio.Runner,
    transport: Transport,
    settings: Settings,
    to: str,
    text: str,
    source: str,
    cancelled_by: str,
    on_queued: Callable[[Enqueued, str], None] | None,
    timeout: float | None,
) -> TestMailResult:
    worker_id = f"send-test:{source}:{os.getpid()}"
    subject = in_instance_language(settings, SEND_TEST_SUBJECT)
    outgoing = Outgoing(to=[to], subject=subject, text=text, tags=["send-test"])
    try:
        with transaction.atomic():
            queued = enqueue(outgoing, settings=settings, source=source)
            jobs = _claim(queued, transport, settings, worker_id)
    except Refused as refused:
        return TestMailResult("refused", to, transport.name, reason=refused.message, field=refused.field)
    base = TestMailResult("not_queued", to, transport.name, queued.pk, queued.public_id, queued.message_id)
    if not jobs:
        first = queued.recipients[0]
        return replace(base, state="not_queued", reason=f"{first.state}: {first.reason}")
    if on_queued is not None:
        on_queued(queued, transport.name)
    [job] = jobs  # one recipient: one delivery
    started = time.perf_counter()
    result = runner.run(_send(transport, job, timeout))
    done = attempts.conclude(
        job.recipients[0],
        result,
        server=transport.server,
        policy=RetryPolicy.from_settings(settings.delivery),
        now=timezone.now(),
        seconds=time.perf_counter() - started,
    )
    attempts.log_attempt(done, job.delivery, transport.name)
    redactor = Redactor.for_settings(settings)
    with transaction.atomic():
        record.record([done], worker_id, redact=redactor.text)
        if result.outcome is not Outcome.SENT:
            cancel([done.claimed.pk], by=cancelled_by)
    return _finished(base, done, redactor)


def _claim(queued: Enqueued, transport: Transport, settings: Settings, worker_id: str) -> list[claim.Job]:
    """Claim the just-stored message for this caller, inside the enqueue's transaction."""
    if queued.recipients[0].state != "queued":
        return []
    cap = transport.max_recipients
    if settings.delivery.max_recipients_per_message:
        cap = min(cap, settings.delivery.max_recipients_per_message)
    return claim.claim(
        worker_id,
        transport.name,
        limit=10,
        lease=LEASE,
        cap=cap,
        redact=Redactor.for_settings(settings).text,
        # the structured parts too, whatever the transport: provider APIs need them, the
        # raw transports ignore them, and it keeps this module off the worker loop's internals
        with_parts=True,
        now=timezone.now(),
        message_pk=queued.pk,
        reap=False,
    )


async def _send(transport: Transport, job: claim.Job, timeout: float | None) -> RecipientResult:
    """The one recipient's result; a transport that raises or overruns ``timeout`` gives a
    failure, as the worker records a poisoned delivery."""
    address = job.recipients[0].address
    try:
        results = await asyncio.wait_for(transport.send(job.delivery), timeout)
    except TimeoutError:
        detail = f"the test took longer than {timeout:g} seconds and was stopped"
        return RecipientResult(address, Outcome.FAILED, stage="internal", detail=detail)
    except Exception as exc:  # a transport bug: reported, never a traceback to the user
        return RecipientResult(
            address, Outcome.FAILED, stage="internal", detail=f"{type(exc).__name__}: {exc}"
        )
    mine = [r for r in results if r.address == address]
    return mine[0] if mine else attempts.missing(address, transport.name)


def _finished(base: TestMailResult, done: record.Done, redactor: Redactor) -> TestMailResult:
    """What the caller shows: the same redacted words the timeline stores."""
    result, verdict = done.result, done.verdict
    sent = result.outcome is Outcome.SENT
    return replace(
        base,
        state="sent" if sent else "failed",
        stage=result.stage,
        reply=result.reply,
        said=redactor.text(str(result.reply) if result.reply is not None else result.detail),
        finding=verdict.finding,
        explanation=redactor.text(done.explanation),
        queue_id=result.queue_id or "",
        provider_message_id=result.provider_message_id or "",
        reason=redactor.text(verdict.reason),
    )
