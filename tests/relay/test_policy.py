"""What the relay accepts and how it stores it: policy refusals at RCPT with the API's
own reasons and codes the reply knowledge base reads right, the kill switch holds,
SIZE / 8BITMIME / SMTPUTF8, the app's headers kept, the envelope sender rule, a 250
only once the rows are committed, and one log line per message."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.accounts.models import Member
from postwarden.core.replies.classify import classify
from postwarden.core.replies.parse import parse_reply
from postwarden.outbox import suppressions
from postwarden.outbox.models import Content, Event, Message, Recipient
from postwarden.outbox.policy import recipient_policy
from tests.relay.helpers import RelayThread, Wire, message, relay_settings

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]


def session(relay: RelayThread, sender: str = "app@example.com") -> Wire:
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("EHLO client.test").startswith("250")
    assert wire.command(f"MAIL FROM:<{sender}>") == "250 2.1.0 Ok"
    return wire


def send(wire: Wire, recipients: list[str], raw: bytes) -> str:
    for recipient in recipients:
        assert wire.command(f"RCPT TO:<{recipient}>") == "250 2.1.5 Ok"
    assert wire.command("DATA").startswith("354")
    wire.send(raw + b".\r\n")
    return wire.reply()


def test_it_refuses_an_unapproved_domain_at_rcpt_with_the_apis_reason(
    relay_factory: Factory, tmp_path: Path
) -> None:
    settings = relay_settings(tmp_path, allowed_domains=("example.net",))
    relay = relay_factory(settings)
    wire = session(relay)
    reason = recipient_policy("bob@other.test", settings)[1]
    reply = wire.command("RCPT TO:<bob@other.test>")
    assert reply == f"550 5.7.1 <bob@other.test>: {reason}"
    assert reason.startswith(
        "refused: other.test is not an approved domain (MAIL_ALLOWED_DOMAINS=example.net)"
    )
    explanation = classify(stage="rcpt", reply=parse_reply(reply))
    assert (explanation.code, explanation.permanent) == ("policy.domain_not_approved", True)
    assert wire.command("RCPT TO:<alice@example.net>") == "250 2.1.5 Ok"


def test_it_lets_a_member_outside_the_approved_domains_through(
    relay_factory: Factory, tmp_path: Path
) -> None:
    Member.objects.create(email="bob@other.test")
    relay = relay_factory(relay_settings(tmp_path, allowed_domains=("example.net",)))
    wire = session(relay)
    assert wire.command("RCPT TO:<bob@other.test>") == "250 2.1.5 Ok"


def test_it_refuses_a_suppressed_recipient_with_550_5_1_1_and_the_reason(
    relay_factory: Factory, tmp_path: Path
) -> None:
    suppressions.add("carol@example.net", suppressions.HARD_BOUNCE, source="sendgrid")
    settings = relay_settings(tmp_path)
    relay = relay_factory(settings)
    wire = session(relay)
    reason = recipient_policy("carol@example.net", settings)[1]
    reply = wire.command("RCPT TO:<carol@example.net>")
    assert reply == f"550 5.1.1 <carol@example.net>: {reason}"
    assert reason == "suppressed: hard bounce (sendgrid)"
    explanation = classify(stage="rcpt", reply=parse_reply(reply))
    assert (explanation.code, explanation.permanent) == ("policy.suppressed", True)


def test_it_accepts_and_holds_mail_while_sending_is_switched_off(
    relay_factory: Factory, tmp_path: Path
) -> None:
    relay = relay_factory(relay_settings(tmp_path, enabled=False))
    reply = send(
        session(relay), ["alice@example.net"], b"From: app@example.com\r\nSubject: held\r\n\r\nx\r\n"
    )
    recipient = Recipient.objects.get(message__public_id=message(reply))
    assert recipient.state == "held"
    assert recipient.reason.startswith("held: sending is switched off (EMAIL_ENABLED=false)")


def test_it_advertises_what_it_supports(relay_factory: Factory, tmp_path: Path) -> None:
    relay = relay_factory(relay_settings(tmp_path, max_message_bytes=123_456))
    wire = Wire("127.0.0.1", relay.port)
    assert wire.greeting == "220 relay.test ESMTP Postwarden"
    assert wire.command("EHLO client.test").split("\r\n") == [
        "250-relay.test",
        "250-SIZE 123456",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-STARTTLS",
        "250-AUTH LOGIN PLAIN",
        "250-PIPELINING",
        "250 HELP",
    ]


def test_it_takes_smtputf8_and_eight_bit_mail(relay_factory: Factory) -> None:
    relay = relay_factory()
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    assert wire.command("MAIL FROM:<app@example.com> SMTPUTF8 BODY=8BITMIME") == "250 2.1.0 Ok"
    raw = "From: app@example.com\r\nTo: jürgen@example.net\r\nSubject: Grüße\r\n\r\nSchöne Grüße\r\n".encode()
    reply = send(wire, ["jürgen@example.net"], raw)
    stored = Message.objects.get(public_id=message(reply))
    assert stored.needs_smtputf8
    assert list(stored.recipients.values_list("address", flat=True)) == ["jürgen@example.net"]
    assert "Schöne Grüße".encode() in bytes(Content.objects.get(message=stored).raw)


def test_it_keeps_the_apps_headers_and_commits_before_the_250(relay_factory: Factory) -> None:
    relay = relay_factory()
    raw = (
        b"From: Metabase <reports@example.com>\r\nReply-To: help@example.com\r\n"
        b"To: alice@example.net\r\nBcc: boss@example.net\r\nSubject: Weekly report\r\n"
        b"Message-ID: <report-42@metabase.example.com>\r\nDate: Sun, 22 Nov 2026 04:00:00 +0000\r\n"
        b"X-Metabase-Event: subscription\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nYour report.\r\n"
    )
    reply = send(session(relay, "reports@example.com"), ["alice@example.net", "boss@example.net"], raw)
    # read right after the reply, from another connection: the rows were already committed
    stored = Message.objects.get(public_id=message(reply))
    assert reply == f"250 2.0.0 Ok: queued as {stored.public_id}"
    kept = bytes(Content.objects.get(message=stored).raw)
    trace, _, rest = kept.partition(b"\r\nFrom: ")
    # the relay's trace field on top (tests/relay/test_received.py reads it closely)
    assert trace.startswith(
        b"Received: from client.test ([127.0.0.1])\r\n\tby relay.test (Postwarden) with ESMTP "
    )
    assert b"From: " + rest == raw.replace(b"Bcc: boss@example.net\r\n", b"")  # Bcc removed, as Postfix does
    assert (stored.message_id, stored.from_address, stored.envelope_from, stored.subject) == (
        "<report-42@metabase.example.com>",
        "reports@example.com",
        "reports@example.com",
        "Weekly report",
    )
    assert sorted(stored.recipients.values_list("address", "kind")) == [
        ("alice@example.net", "to"),
        ("boss@example.net", "bcc"),
    ]
    assert not Event.objects.filter(message=stored, kind="relay").exists()


def test_it_adds_a_message_id_and_date_only_when_missing(relay_factory: Factory) -> None:
    relay = relay_factory()
    reply = send(
        session(relay), ["alice@example.net"], b"From: app@example.com\r\nSubject: bare\r\n\r\nx\r\n"
    )
    stored = Message.objects.get(public_id=message(reply))
    kept = bytes(Content.objects.get(message=stored).raw)
    assert re.match(rb"Received: [^\r]*\r\n(\t[^\r]*\r\n)+Message-ID: ", kept), kept
    assert f"\r\nMessage-ID: {stored.message_id}\r\nDate: ".encode() in kept
    assert kept.endswith(b"\r\nFrom: app@example.com\r\nSubject: bare\r\n\r\nx\r\n")


@pytest.mark.parametrize("sender", ["someone@gmail.test", ""])
def test_it_sends_as_mail_from_when_the_apps_sender_is_not_allowed_and_says_so(
    relay_factory: Factory, sender: str
) -> None:
    relay = relay_factory()
    raw = f"From: {sender or 'app@example.com'}\r\nSubject: x\r\n\r\nx\r\n".encode()
    reply = send(session(relay, sender), ["alice@example.net"], raw)
    stored = Message.objects.get(public_id=message(reply))
    assert stored.envelope_from == "ops@example.com"
    shown = f"<{sender}>" if sender else "<> (the null sender)"
    assert list(Event.objects.filter(message=stored).values_list("kind", "detail")) == [
        (
            "relay",
            f"relay: the application's envelope sender {shown} is outside example.com (MAIL_FROM), "
            "so the envelope sender is ops@example.com; the message's own headers are unchanged",
        )
    ]
    assert bytes(Content.objects.get(message=stored).raw).endswith(raw)


def test_it_allows_the_dkim_domain_as_envelope_sender(relay_factory: Factory, tmp_path: Path) -> None:
    from dataclasses import replace

    from postwarden.core.config.model import SigningSettings

    settings = replace(relay_settings(tmp_path), signing=SigningSettings(domain="mail.example.org"))
    relay = relay_factory(settings)
    reply = send(
        session(relay, "bounces@mail.example.org"),
        ["alice@example.net"],
        b"From: app@example.com\r\nSubject: x\r\n\r\nx\r\n",
    )
    assert Message.objects.get(public_id=message(reply)).envelope_from == "bounces@mail.example.org"


def test_it_logs_one_line_per_accepted_message(
    relay_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postwarden.relay")
    relay = relay_factory()
    wire = session(relay)
    first = send(
        wire, ["alice@example.net", "bob@example.net"], b"From: app@example.com\r\nSubject: 1\r\n\r\nx\r\n"
    )
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
    second = send(wire, ["carol@example.net"], b"From: app@example.com\r\nSubject: 2\r\n\r\nx\r\n")
    lines = [r for r in caplog.records if r.getMessage().startswith("relay accepted")]
    assert [
        (
            r.getMessage(),
            r.__dict__["public_id"],
            r.__dict__["recipients"],
            r.__dict__["client"],
            r.__dict__["key"],
        )
        for r in lines
    ] == [
        (
            f"relay accepted {message(first)}",
            message(first),
            ["ali***@example.net", "b***@example.net"],
            "127.0.0.1",
            None,
        ),
        (f"relay accepted {message(second)}", message(second), ["car***@example.net"], "127.0.0.1", None),
    ]
