"""Issue #6 "Done when", as a new user would try it: Mattermost's SMTP settings
(server 127.0.0.1, the relay's port, STARTTLS, username plus an API key as the password,
the self-signed certificate not verified) send a mail that a worker delivers and that
shows up in Deliveries with its timeline."""

from __future__ import annotations

import html
import smtplib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from postwarden.accounts.bootstrap import create_admin
from postwarden.accounts.models import ApiKey, Role
from postwarden.outbox.models import Message
from postwarden.outbox.timeline import timeline
from postwarden.relay.server import config_from_settings
from tests.relay.helpers import RelayThread, deliver, message, relay_settings
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)


def mattermost_sends(email_settings: dict[str, Any], raw: bytes, sender: str, to: str) -> str:
    """Send the way Mattermost's mail code does with these EmailSettings (a Go client:
    plain connect, STARTTLS, AUTH PLAIN when EnableSMTPAuth); returns the reply to DATA."""
    assert email_settings["ConnectionSecurity"] == "STARTTLS"
    context = ssl.create_default_context()
    if email_settings["SkipServerCertificateVerification"]:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(email_settings["SMTPServer"], int(email_settings["SMTPPort"]), timeout=10) as client:
        client.starttls(context=context)
        if email_settings["EnableSMTPAuth"]:
            client.login(email_settings["SMTPUsername"], email_settings["SMTPPassword"])
        client.mail(sender)
        client.rcpt(to)
        code, text = client.data(raw)
    return f"{code} {text.decode()}"


def test_it_works_with_mattermost_style_settings_end_to_end(
    relay_factory: Callable[..., RelayThread], smtpd: SmtpServer, tmp_path: Path
) -> None:
    # the relay as `postwarden relay` configures itself: no trusted networks, a
    # self-signed certificate made in the data directory on first start
    settings = relay_settings(tmp_path, smtp_port=smtpd.port)
    config = config_from_settings(settings)
    relay = relay_factory(settings, tls_context=config.tls_context, trusted=config.trusted, smtps=None)
    _, api_key = ApiKey.issue("mattermost", ["send"])
    email_settings = {
        "SMTPServer": "127.0.0.1",
        "SMTPPort": str(relay.port),
        "ConnectionSecurity": "STARTTLS",
        "EnableSMTPAuth": True,
        "SMTPUsername": "mattermost",
        "SMTPPassword": api_key,
        "SkipServerCertificateVerification": True,
        "FeedbackEmail": "mattermost@example.com",
    }
    raw = (
        b'From: "Mattermost" <mattermost@example.com>\r\nTo: alice@example.net\r\n'
        b"Subject: [Mattermost] You were mentioned\r\nMessage-ID: <mm-1234@mattermost.example.com>\r\n"
        b"Auto-Submitted: auto-generated\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=UTF-8\r\n\r\n@alice mentioned you in ~town-square.\r\n"
    )
    reply = mattermost_sends(email_settings, raw, "mattermost@example.com", "alice@example.net")
    assert reply.startswith("250 2.0.0 Ok: queued as m_")

    deliver(settings)

    assert [m.message_id for m in smtpd.delivered] == ["<mm-1234@mattermost.example.com>"]
    assert smtpd.delivered[0].data.endswith(raw)
    stored = Message.objects.get(public_id=message(reply))
    entries = timeline(stored)
    assert [(e.kind, e.data.get("outcome")) for e in entries] == [("enqueued", None), ("attempt", "sent")]
    assert entries[0].detail == "enqueued from relay for 1 recipient"

    client = Client()
    client.force_login(create_admin("admin@example.com", "correct horse battery staple", Role.ADMIN))
    listing = client.get(reverse("console:deliveries"))
    assert listing.status_code == 200
    assert stored.public_id in listing.content.decode()
    page = client.get(reverse("console:message", args=[stored.public_id]))
    assert page.status_code == 200
    shown = page.content.decode()
    assert html.escape("[Mattermost] You were mentioned") in shown
    # the timeline as the console shows it: enqueued from the relay, then the attempt with
    # the server's own words
    assert entries[0].detail == "enqueued from relay for 1 recipient"  # the API's English
    # the source is data inside the sentence, isolated left to right
    assert 'enqueued from <bdi dir="ltr">relay</bdi> for 1 recipient' in shown
    assert "<strong>Attempt 1</strong> to <bdi>alice@example.net</bdi> via <bdi>smtp</bdi>:" in shown
    assert f'<pre class="evidence" dir="ltr">{html.escape(entries[1].data["reply"])}</pre>' in shown
    assert api_key not in shown
