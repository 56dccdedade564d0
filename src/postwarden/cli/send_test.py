"""``postwarden send-test [--to ADDRESS]``: send a test mail the way real mail goes.

The mail is queued in the outbox (source ``cli``) and delivered by the worker's own code
(claim, transport, retry policy, results) in this process, printing the SMTP conversation
as it happens. It ends with the server's acceptance and queue id, or the stage that failed
with the server's words and what they mean. Exit 0 when the server took it, 1 when not,
2 when it could not be tried (no recipient, unusable settings). A failed test mail is
cancelled rather than retried: the point was to see what happens now.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from postwarden.cli.django_setup import setup
from postwarden.core.config.model import Settings
from postwarden.core.smtp.transcript import Direction, Transcript

if TYPE_CHECKING:  # Django is set up inside run(); these modules need it
    from postwarden.outbox.services import Enqueued
    from postwarden.transports.base import Transport


class LiveTranscript(Transcript):
    """A transcript that also prints each line as it is recorded."""

    def __init__(self, out: Callable[[str], None]) -> None:
        super().__init__()
        self._out = out

    def _add(self, direction: Direction, line: str) -> None:
        super()._add(direction, line)
        self._out(("C: " if direction == "client" else "S: ") + line)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postwarden send-test", description=__doc__.splitlines()[0])
    parser.add_argument("--to", help="recipient (default TEST_EMAIL, else the From address)")
    return parser


def run(argv: list[str], out: Callable[[str], None] | None = None) -> int:
    args = _parser().parse_args(argv)
    say = out or (lambda line: print(line, flush=True))
    setup("cli")
    from postwarden.configstore.runtime import current_settings

    settings = current_settings()
    recipient = args.to or settings.sending.test_email or settings.sending.from_address
    if not recipient:
        say("postwarden send-test: no recipient: give --to, or set TEST_EMAIL or MAIL_FROM")
        return 2
    return _send(settings, recipient, say)


def _send(settings: Settings, recipient: str, say: Callable[[str], None]) -> int:
    from postwarden.outbox.errors import Refused
    from postwarden.outbox.services import Outgoing, enqueue

    provider = settings.sending.provider.value
    where = (
        f"{settings.smtp.host}:{settings.smtp.port} ({settings.smtp.security.value})"
        if provider == "smtp"
        else provider
    )
    text = (
        f"This is a test email from Postwarden, sent {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC through "
        f"{where}.\n\nIf you can read this, mail from Postwarden reaches {recipient}.\n"
    )
    try:
        queued = enqueue(
            Outgoing(to=[recipient], subject="Postwarden test email", text=text, tags=["send-test"]),
            settings=settings,
            source="cli",
        )
    except Refused as refused:
        say(f"refused ({refused.field}): {refused.message}")
        return 2
    state = queued.recipients[0]
    if state.state != "queued":
        say(f"not sent: {state.state}: {state.reason}")
        return 1
    say(f"queued {queued.public_id} {queued.message_id} to {recipient}, sending through {where}")
    problem = asyncio.run(_deliver(settings, queued, say))
    return problem if problem is not None else _report(queued.pk, say)


async def _deliver(settings: Settings, queued: Enqueued, say: Callable[[str], None]) -> int | None:
    """Deliver ``queued`` as the worker does; an exit status when it could not be tried."""
    from postwarden.outbox.worker.loop import Options, Worker
    from postwarden.transports.registry import build_transport
    from postwarden.transports.smtp import SmtpTransport

    def transport_for(resolved: Settings) -> Transport:
        if resolved.sending.provider.value == "smtp":
            return SmtpTransport(resolved, transcript=LiveTranscript(say))
        return build_transport(resolved)

    worker = Worker(
        Options(worker_id=f"send-test:{os.getpid()}"),
        settings_source=lambda: settings,
        transport_factory=transport_for,
    )
    try:
        await worker.start()
        if worker.transport is None:
            say(f"cannot send with these settings: {worker.problem}")
            return 2
        if not await worker.deliver_step(message_pk=queued.pk):
            say("nothing to send: the message was taken by a running worker (see the console)")
            return 1
    finally:
        await worker.close()
    return None


def _report(message_pk: int, say: Callable[[str], None]) -> int:
    from postwarden.outbox.actions import cancel
    from postwarden.outbox.models import Attempt, Recipient

    recipient = Recipient.objects.get(message_id=message_pk)
    attempt = Attempt.objects.filter(recipient=recipient).order_by("-number").first()
    if recipient.state == "sent":
        if recipient.transport == "capture":
            say(f"captured as {attempt.queue_id if attempt else '?'}: see Captured mail in the console")
        else:
            queue_id = f" (queue id {attempt.queue_id})" if attempt and attempt.queue_id else ""
            say(f"accepted by the server{queue_id}: {recipient.last_reply}")
        return 0
    stage = attempt.stage if attempt else "?"
    say(f"FAILED at {stage}: {recipient.last_reply or recipient.reason}")
    if attempt and attempt.explanation:
        say(f"what it means: {attempt.explanation}")
    if attempt and attempt.finding:
        say(f"finding: {attempt.finding} (run `postwarden doctor` for the steps that fix it)")
    cancel([recipient.pk], by="send-test (a test mail is not retried)")
    return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
