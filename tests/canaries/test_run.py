"""A canary run end to end: queued in the outbox, sent by the worker over SMTP to a
receiving server that judges it, filed into Dovecot, found over IMAP."""

from __future__ import annotations

import pytest

from postwarden.canaries.models import CanaryRun, RunState
from postwarden.outbox.models import Message, Recipient
from tests.canaries.conftest import Path

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_canary_arrives_in_the_inbox_with_the_receivers_verdicts(canary_path: Path) -> None:
    canary = canary_path.canary()
    run = canary_path.run_to_end(canary)
    assert (run.state, run.placement, run.folder) == (RunState.ARRIVED, "inbox", "INBOX")
    assert (run.spf, run.dkim, run.dmarc) == ("pass", "pass", "pass")
    [judged] = canary_path.mx.received
    assert (judged.spf, judged.dkim, judged.dmarc) == ("pass", "pass", "pass")
    assert run.auth_results == (
        "Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=example.com; "
        "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"
    )
    assert "\nReceived: from " in run.headers
    assert "\nDKIM-Signature: v=1; a=rsa-sha256;" in run.headers
    assert run.hops == 1
    assert run.accepted_at is not None
    assert run.arrived_at is not None
    assert run.started_at <= run.accepted_at <= run.arrived_at
    assert run.copies == 1
    # sent the normal way, marked as a canary
    message = Message.objects.get(pk=run.message_id)
    assert (message.source, message.tags) == ("canary", ["postwarden-canary"])
    assert Recipient.objects.get(message=message).state == "sent"
    # found, then deleted from the mailbox
    assert canary_path.mailbox.messages("INBOX") == []
    canary.refresh_from_db()
    assert canary.last_run_id == run.pk


def test_a_canary_filed_as_junk_shows_as_junk(canary_path: Path) -> None:
    canary_path.mx.rule = lambda judged: "Junk"
    run = canary_path.run_to_end(canary_path.canary())
    assert (run.state, run.placement, run.folder) == (RunState.JUNK, "junk", "Junk")


def test_a_broken_dkim_key_shows_the_receivers_dkim_fail(canary_path: Path) -> None:
    from postwarden.core.dkim import generate_key

    canary_path.publish(generate_key(2048))  # DNS now has another key than the signer's
    run = canary_path.run_to_end(canary_path.canary())
    assert run.state == RunState.ARRIVED
    assert (run.spf, run.dkim, run.dmarc) == ("pass", "fail", "pass")
    assert "; dkim=fail (" in run.auth_results
    assert canary_path.mx.received[0].dkim_detail.startswith("fail")


def test_nothing_is_sent_to_a_mailbox_that_refuses_the_login(canary_path: Path) -> None:
    canary = canary_path.canary(imap_password="Wrong-Password-7c1")
    canary_path.pass_()
    run = CanaryRun.objects.get(canary=canary)
    assert run.state == RunState.UNREACHABLE
    assert "[AUTHENTICATIONFAILED] Authentication failed." in run.detail
    assert "Wrong-Password-7c1" not in run.detail + run.imap_error
    assert run.message_id is None
    assert not Message.objects.exists()


def test_the_canary_mail_is_written_in_the_instances_language(canary_path: Path) -> None:
    from dataclasses import replace

    from postwarden.canaries.runner import BODY, SUBJECT

    settings = canary_path.settings
    canary_path.settings = replace(settings, service=replace(settings.service, language="fa"))
    canary_path.canary()
    canary_path.pass_()
    message = Message.objects.get(source="canary")
    assert message.subject.startswith("قناری Postwarden ")
    assert message.content.text == BODY.localized("fa")
    assert "Postwarden آن را از راه IMAP می‌جوید" in message.content.text
    assert SUBJECT not in message.subject
