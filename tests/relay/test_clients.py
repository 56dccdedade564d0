"""Real SMTP clients through the relay in every security mode, with and without AUTH,
then a real worker delivers through the outbox to a local server (issue #6 "Tests"):
Python's smtplib, Django's SMTP EmailBackend and swaks."""

from __future__ import annotations

import re
import smtplib
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from django.core.mail import EmailMessage, get_connection

from postwarden.accounts.models import ApiKey
from postwarden.outbox.models import Message
from tests.relay.helpers import LOOPBACK_V4, RelayThread, deliver, relay_settings
from tests.smtpd import SmtpServer
from tests.system import command, missing

pytestmark = pytest.mark.django_db(transaction=True)

MODES = ["plain", "starttls", "implicit"]


def start(
    relay_factory: Callable[..., RelayThread], smtpd: SmtpServer, tmp_path: Path, with_auth: bool
) -> RelayThread:
    """A relay delivering to ``smtpd``; with AUTH nobody is trusted, without it loopback is."""
    settings = relay_settings(tmp_path, smtp_port=smtpd.port)
    return relay_factory(settings, trusted=() if with_auth else LOOPBACK_V4)


def delivered_through(smtpd: SmtpServer, relay: RelayThread, message_id: str) -> bytes:
    """Run the worker; returns the bytes the server received for ``message_id``."""
    deliver(relay.settings)
    found = [m for m in smtpd.delivered if m.message_id == message_id]
    assert len(found) == 1, [m.message_id for m in smtpd.delivered]
    stored = Message.objects.get(message_id=message_id)
    assert list(stored.recipients.values_list("state", flat=True)) == ["sent"]
    return found[0].data


def mail(subject: str, message_id: str) -> bytes:
    return (
        f"From: App <app@example.com>\r\nReply-To: help@example.com\r\nTo: alice@example.net\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\nX-App-Event: test\r\n\r\nHello from the app.\r\n"
    ).encode()


@pytest.mark.parametrize("with_auth", [False, True], ids=["trusted", "auth"])
@pytest.mark.parametrize("mode", MODES)
def test_it_relays_smtplib_mail_to_the_server_in_every_mode(
    relay_factory: Callable[..., RelayThread],
    smtpd: SmtpServer,
    tmp_path: Path,
    ca: trustme.CA,
    key: tuple[ApiKey, str],
    mode: str,
    with_auth: bool,
) -> None:
    relay = start(relay_factory, smtpd, tmp_path, with_auth)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    message_id = f"<smtplib-{mode}-{with_auth}@app.example.com>"
    client: smtplib.SMTP
    if mode == "implicit":
        client = smtplib.SMTP_SSL("127.0.0.1", relay.smtps_port, context=context, timeout=10)
    else:
        client = smtplib.SMTP("127.0.0.1", relay.port, timeout=10)
        if mode == "starttls":
            client.starttls(context=context)
    with client:
        if with_auth:
            client.login("app", key[1])
        refused = client.sendmail(
            "app@example.com", ["alice@example.net"], mail(f"smtplib {mode}", message_id)
        )
    assert refused == {}
    received = delivered_through(smtpd, relay, message_id)
    assert received.endswith(mail(f"smtplib {mode}", message_id))  # the app's headers, as sent
    assert smtpd.delivered[0].mail_from == "app@example.com"
    assert smtpd.delivered[0].rcpt_tos == ["alice@example.net"]
    assert Message.objects.get().api_key_id == (key[0].pk if with_auth else None)


@pytest.mark.parametrize("with_auth", [False, True], ids=["trusted", "auth"])
@pytest.mark.parametrize("mode", MODES)
def test_it_relays_django_email_backend_mail(
    relay_factory: Callable[..., RelayThread],
    smtpd: SmtpServer,
    tmp_path: Path,
    ssl_cert_file: Path,
    key: tuple[ApiKey, str],
    mode: str,
    with_auth: bool,
) -> None:
    relay = start(relay_factory, smtpd, tmp_path, with_auth)
    connection = get_connection(
        backend="django.core.mail.backends.smtp.EmailBackend",
        host="localhost",
        port=relay.smtps_port if mode == "implicit" else relay.port,
        use_tls=mode == "starttls",
        use_ssl=mode == "implicit",
        username="django" if with_auth else None,
        password=key[1] if with_auth else None,
        timeout=10,
        fail_silently=False,
    )
    message_id = f"<django-{mode}-{with_auth}@app.example.com>"
    email = EmailMessage(
        subject=f"Django {mode}",
        body="Hello from Django.",
        from_email="App <app@example.com>",
        to=["alice@example.net"],
        reply_to=["help@example.com"],
        headers={"Message-ID": message_id, "X-App-Event": "test"},
        connection=connection,
    )
    assert email.send() == 1
    received = delivered_through(smtpd, relay, message_id)
    for header in (
        b"From: App <app@example.com>",
        b"Reply-To: help@example.com",
        b"Message-ID: " + message_id.encode(),
        b"X-App-Event: test",
        b"Subject: Django " + mode.encode(),
    ):
        assert header + b"\r\n" in received


@pytest.mark.parametrize("with_auth", [False, True], ids=["trusted", "auth"])
@pytest.mark.parametrize("mode", MODES)
def test_it_relays_swaks_mail(
    relay_factory: Callable[..., RelayThread],
    smtpd: SmtpServer,
    tmp_path: Path,
    ca_file: Path,
    key: tuple[ApiKey, str],
    mode: str,
    with_auth: bool,
) -> None:
    swaks = command("swaks")
    if mode != "plain" and subprocess.run(["perl", "-MNet::SSLeay", "-e1"], check=False).returncode:
        missing("swaks' TLS support (Perl Net::SSLeay)", "apt-get install libnet-ssleay-perl")
    relay = start(relay_factory, smtpd, tmp_path, with_auth)
    message_id = f"<swaks-{mode}-{with_auth}@app.example.com>"
    argv = [
        swaks,
        "--server", "127.0.0.1",
        "--port", str(relay.smtps_port if mode == "implicit" else relay.port),
        "--from", "app@example.com",
        "--to", "alice@example.net",
        "--header", f"Message-Id: {message_id}",  # swaks replaces its own header by this name
        "--header", f"Subject: swaks {mode}",
        "--body", "Hello from swaks.",
        "--timeout", "10",
    ]  # fmt: skip
    if mode == "starttls":
        argv += ["--tls", "--tls-verify", "--tls-ca-path", str(ca_file)]
    elif mode == "implicit":
        argv += ["--tls-on-connect", "--tls-verify", "--tls-ca-path", str(ca_file)]
    if with_auth:
        argv += ["--auth", "PLAIN", "--auth-user", "swaks", "--auth-password", key[1]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # swaks marks replies read over TLS with "<~" instead of "<-"
    assert re.search(r"^<[-~]  250 2\.0\.0 Ok: queued as m_[0-9a-f]+$", done.stdout, re.MULTILINE), (
        done.stdout
    )
    received = delivered_through(smtpd, relay, message_id)
    assert b"Subject: swaks " + mode.encode() + b"\r\n" in received
