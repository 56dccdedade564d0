"""UTF-8 in a relayed message's header fields (RFC 6532) needs SMTPUTF8 on the next hop
(issue #11): the message goes with SMTPUTF8 where it is offered; where it is not, it
is not sent, and the recipient fails for good with the reason and the knowledge base's
advice on its timeline (retrying the same server cannot help)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.outbox.models import Attempt, Message
from tests.relay.helpers import RelayThread, deliver, relay_settings
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

UTF8_MAIL = (
    "From: Bäckerei <app@example.com>\r\nTo: alice@example.net\r\nSubject: Grüße aus Köln\r\n"
    "Message-ID: <utf8@app.example.com>\r\n\r\nHallo.\r\n"
).encode()
ASCII_MAIL = (
    b"From: App <app@example.com>\r\nTo: alice@example.net\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    b"Message-ID: <ascii@app.example.com>\r\n\r\nHallo.\r\n"
)


def relay_to(
    relay_factory: Callable[..., RelayThread], server: SmtpServer, tmp_path: Path, *mails: bytes
) -> RelayThread:
    relay = relay_factory(relay_settings(tmp_path, smtp_port=server.port))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        for mail in mails:  # no SMTPUTF8 asked by the app: only its headers carry UTF-8
            assert client.sendmail("app@example.com", ["alice@example.net"], mail) == {}
    deliver(relay.settings)
    return relay


def test_utf8_header_text_goes_with_smtputf8_where_offered(
    relay_factory: Callable[..., RelayThread], smtpd_factory: Callable[..., SmtpServer], tmp_path: Path
) -> None:
    server = smtpd_factory(smtputf8=True)
    relay_to(relay_factory, server, tmp_path, UTF8_MAIL, ASCII_MAIL)
    by_id = {m.message_id: m for m in server.delivered}
    assert "SMTPUTF8" in by_id["<utf8@app.example.com>"].mail_options
    assert "Subject: Grüße aus Köln\r\n".encode() in by_id["<utf8@app.example.com>"].data
    assert "SMTPUTF8" not in by_id["<ascii@app.example.com>"].mail_options  # encoded-words are ASCII
    assert Message.objects.get(message_id="<utf8@app.example.com>").needs_smtputf8
    assert not Message.objects.get(message_id="<ascii@app.example.com>").needs_smtputf8


def test_without_smtputf8_the_message_fails_for_good_and_says_why(
    relay_factory: Callable[..., RelayThread], smtpd: SmtpServer, tmp_path: Path
) -> None:
    relay_to(relay_factory, smtpd, tmp_path, UTF8_MAIL, ASCII_MAIL)
    assert [m.message_id for m in smtpd.delivered] == ["<ascii@app.example.com>"]
    recipient = Message.objects.get(message_id="<utf8@app.example.com>").recipients.get()
    assert recipient.state == "failed"
    assert recipient.next_attempt_at is None
    assert recipient.reason.startswith(
        "failed at mail: the message's header fields carry UTF-8 text (RFC 6532) and the server's EHLO does "
        "not list SMTPUTF8"
    )
    attempt = Attempt.objects.get(recipient=recipient)
    assert (attempt.outcome, attempt.stage, attempt.finding) == (
        "failed",
        "mail",
        "envelope.content_rejected",
    )
