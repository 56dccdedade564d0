"""``postwarden send-test`` against real servers: the transcript as it happens, the
server's acceptance or its words and what they mean, never the password."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.cli import send_test
from postwarden.configstore import runtime
from postwarden.outbox.models import Message, Recipient
from tests.factories import save_smtp
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Pw-send-test-9Qx!distinct"
LOGIN = {"SMTP_USER": "ops", "SMTP_PASSWORD": PASSWORD}


def run(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    return send_test.run(list(argv), out=lines.append), lines


def test_it_prints_the_conversation_and_the_servers_acceptance(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtpd_factory(
        tls="starttls", users={"ops": PASSWORD}, data_reply="250 2.0.0 Ok: queued as {queue_id}"
    )
    save_smtp(server, **LOGIN)
    with caplog.at_level(logging.DEBUG):
        status, lines = run("--to", "alice@example.com")
    assert status == 0, lines
    [delivered] = server.delivered
    assert delivered.rcpt_tos == ["alice@example.com"]
    assert delivered.tls
    assert delivered.login == "ops"
    assert lines[0].startswith("queued m_")
    assert "C: STARTTLS" in lines
    assert any(line.startswith("C: AUTH PLAIN ••••") for line in lines)
    assert any(line.startswith("C: [") and "bytes of message content" in line for line in lines)
    assert (
        lines[-1] == f"accepted by the server (queue id {delivered.queue_id}): 250 2.0.0 Ok: queued as "
        f"{delivered.queue_id}"
    )
    assert Message.objects.get().source == "cli"
    everything = "\n".join(lines) + caplog.text
    assert PASSWORD not in everything


def test_it_names_the_stage_the_servers_words_and_what_they_mean(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: Path
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": PASSWORD})
    server.inject(
        "RCPT",
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        match="nobody@",
    )
    save_smtp(server, **LOGIN)
    status, lines = run("--to", "nobody@example.com")
    assert status == 1
    assert (
        "FAILED at rcpt: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in "
        "virtual mailbox table"
    ) in lines
    assert any(line.startswith("what it means: ") for line in lines)
    assert "finding: envelope.recipient_rejected (run `postwarden doctor` for the steps that fix it)" in lines
    assert Recipient.objects.get().state == "failed"


def test_it_cancels_a_test_mail_that_would_only_be_retried(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: Path
) -> None:
    server = smtpd_factory(tls="starttls", users={"ops": "another password"})
    save_smtp(server, **LOGIN)
    status, lines = run("--to", "alice@example.com")
    assert status == 1
    assert any(line.startswith("FAILED at auth: 535") for line in lines), lines
    row = Recipient.objects.get()
    assert row.state == "cancelled"
    assert row.reason == "cancelled by send-test (a test mail is not retried)"
    assert PASSWORD not in "\n".join(lines)


def test_it_works_with_the_capture_transport(tmp_path: Path, settings: object) -> None:
    runtime.save({"MAIL_FROM": "ops@example.com", "TEST_EMAIL": "me@example.com"})
    status, lines = run()
    assert status == 0
    assert lines[-1].startswith("captured as ")
    assert lines[-1].endswith(": see Captured mail in the console")
    assert Recipient.objects.get().address == "me@example.com"


def test_it_says_when_there_is_nobody_to_send_to() -> None:
    runtime.save({"SMTP_HOST": "mail.example.com"})  # captured mail has a placeholder sender
    assert run() == (2, ["postwarden send-test: no recipient: give --to, or set TEST_EMAIL or MAIL_FROM"])


def test_the_test_mail_subject_is_in_the_instance_language(
    smtpd: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTWARDEN_LANGUAGE", "fa")
    save_smtp(smtpd)
    status, lines = run("--to", "alice@example.com")
    assert status == 0, lines
    [delivered] = smtpd.delivered
    parsed = email.message_from_bytes(delivered.data, policy=email.policy.default)
    assert parsed["Subject"] == "ایمیل آزمایشی Postwarden"
    assert b"Subject: =?utf-8?" in delivered.data
