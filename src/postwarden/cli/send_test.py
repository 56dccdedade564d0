"""``postwarden send-test [--to ADDRESS]``: send a test mail the way real mail goes.

The mail is queued in the outbox (source ``cli``), claimed in the same transaction (so a
running worker never takes it) and delivered by the worker's own code (transport, retry
policy, results) in this process (:mod:`postwarden.outbox.testmail`), printing the SMTP
conversation as it happens. It ends with the server's acceptance and queue id, or the
stage that failed with the server's words and what they mean. Exit 0 when the server took it, 1 when not,
2 when it could not be tried (no recipient, unusable settings). A failed test mail is
cancelled rather than retried: the point was to see what happens now.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from postwarden.cli.django_setup import setup
from postwarden.core.config.model import Settings
from postwarden.core.doctor.testmail import send_test_text
from postwarden.core.i18n import gettext, localize
from postwarden.core.smtp.transcript import Direction, Transcript

if TYPE_CHECKING:  # Django is set up inside run(); these modules need it
    from postwarden.outbox.submission import Enqueued
    from postwarden.outbox.testmail import TestMailResult
    from postwarden.transports.base import Transport


class LiveTranscript(Transcript):
    """A transcript that also prints each line as it is recorded."""

    def __init__(self, out: Callable[[str], None]) -> None:
        super().__init__()
        self._out = out

    def _add(self, direction: Direction, line: str) -> None:
        super()._add(direction, line)
        self._out(("C: " if direction == "client" else "S: ") + line)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postwarden send-test", description=gettext("Send a test mail the way real mail goes.")
    )
    parser.add_argument("--to", help=gettext("recipient (default TEST_EMAIL, else the From address)"))
    return parser


def run(argv: list[str], out: Callable[[str], None] | None = None) -> int:
    args = build_parser().parse_args(argv)
    say = out or (lambda line: print(line, flush=True))
    setup("cli")
    from postwarden.configstore.runtime import current_settings

    settings = current_settings()
    recipient = args.to or settings.sending.test_email or settings.sending.from_address
    if not recipient:
        say("postwarden send-test: " + gettext("no recipient: give --to, or set TEST_EMAIL or MAIL_FROM"))
        return 2
    return _send(settings, recipient, say)


def _send(settings: Settings, recipient: str, say: Callable[[str], None]) -> int:
    from postwarden.outbox.testmail import send_test_mail
    from postwarden.transports.registry import build_transport
    from postwarden.transports.smtp import SmtpTransport

    provider = settings.sending.provider.value
    where = (
        f"{settings.smtp.host}:{settings.smtp.port} ({settings.smtp.security.value})"
        if provider == "smtp"
        else provider
    )
    # mail Postwarden writes itself speaks the instance's language (POSTWARDEN_LANGUAGE)
    text = send_test_text(settings, recipient, where)

    def transport_for(resolved: Settings) -> Transport:
        if resolved.sending.provider.value == "smtp":
            return SmtpTransport(resolved, transcript=LiveTranscript(say))
        return build_transport(resolved)

    def queued(message: Enqueued, transport: str) -> None:
        queued = gettext("queued {id} {message_id} to {recipient}, sending through {where}")
        say(
            queued.format(
                id=message.public_id, message_id=message.message_id, recipient=recipient, where=where
            )
        )

    result = send_test_mail(
        settings,
        recipient,
        text=text,
        source="cli",
        cancelled_by="send-test (a test mail is not retried)",
        transport_factory=transport_for,
        on_queued=queued,
    )
    return _report(result, say)


def _report(result: TestMailResult, say: Callable[[str], None]) -> int:
    # the server's words (said, reason) and the transcript are quoted as they came
    if result.state == "refused":
        say(gettext("refused ({field}): {reason}").format(field=result.field, reason=localize(result.reason)))
        return 2
    if result.state == "unusable":
        say(gettext("cannot send with these settings: {reason}").format(reason=localize(result.reason)))
        return 2
    if result.state == "not_queued":
        say(gettext("not sent: {reason}").format(reason=localize(result.reason)))
        return 1
    if result.ok:
        if result.transport == "capture":
            captured = gettext("captured as {id}: see Captured mail in the console")
            say(captured.format(id=result.queue_id or "?"))
        elif result.queue_id:
            accepted = gettext("accepted by the server (queue id {queue_id}): {said}")
            say(accepted.format(queue_id=result.queue_id, said=result.said))
        else:
            say(gettext("accepted by the server: {said}").format(said=result.said))
        return 0
    failed = gettext("FAILED at {stage}: {said}")
    say(failed.format(stage=result.stage or "?", said=result.said or localize(result.reason)))
    if result.explanation:
        say(gettext("what it means: {explanation}").format(explanation=localize(result.explanation)))
    if result.finding:
        finding = gettext("finding: {code} (run `postwarden doctor` for the steps that fix it)")
        say(finding.format(code=result.finding))
    return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
