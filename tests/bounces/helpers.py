"""Bounce tests' pieces: settings with a bounce domain, the listener in a background loop,
and delivery status notifications written as an MTA writes them (RFC 3464, RFC 5965)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import tempfile
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings as django_settings

from postwarden.bounces.listener import BounceListener, ListenerConfig
from postwarden.core.config.model import BounceSettings, Settings
from postwarden.core.secrets import Secret
from postwarden.core.verp import Verp
from postwarden.relay import tls
from tests.factories import make_settings
from tests.ports import free_port
from tests.postfix import PostfixInstance, private_postfix
from tests.system import command, missing

T = TypeVar("T")
TIMEOUT = 10.0
BOUNCE_DOMAIN = "bounces.example.com"
#: the bounce corpus beside the clone (CI) or the checkout: read in place, never copied
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "bounce-corpus" / "samples"


def bounce_settings(smtp_port: int | None = None, domain: str = BOUNCE_DOMAIN, **sending: Any) -> Settings:
    base = make_settings(smtp_port=smtp_port, **sending)
    return replace(base, bounces=BounceSettings(domain=domain))


def verp(domain: str = BOUNCE_DOMAIN) -> Verp:
    """The return paths the worker writes (the same key: the service's secret key)."""
    return Verp(domain, Secret(django_settings.SECRET_KEY))


def dsn(
    return_path: str,
    recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    original_message_id: str = "<orig@example.com>",
    extra_recipients: int = 0,
) -> bytes:
    """A DSN laid out as Postfix writes one: a human part, the delivery-status part, the
    headers of the returned mail."""
    blocks = ["Reporting-MTA: dns; mx.remote.example\r\nArrival-Date: Sun, 6 Dec 2026 15:00:00 +0000\r\n"]
    for address in [recipient] + [f"other{i}@remote.example" for i in range(extra_recipients)]:
        blocks.append(
            f"Final-Recipient: rfc822; {address}\r\nOriginal-Recipient: rfc822;{address}\r\n"
            f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mx.remote.example\r\n"
            f"Diagnostic-Code: {diagnostic.format(rcpt=address)}\r\n"
        )
    tag = abs(hash((recipient, action, status, diagnostic, extra_recipients)))
    text = (
        "From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)\r\n"
        f"To: {return_path}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"Message-ID: <dsn.{tag}@mx.remote.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n--B1\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        + "\r\n".join(blocks)
        + "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{return_path}>\r\nFrom: Ops <ops@example.com>\r\nTo: {recipient}\r\n"
        f"Subject: Hi\r\nMessage-ID: {original_message_id}\r\n"
        "\r\n--B1--\r\n"
    )
    return text.encode()


def arf(return_path: str, recipient: str, feedback_type: str = "abuse", to: str = "") -> bytes:
    """A feedback loop's complaint report (RFC 5965) about a mail sent with ``return_path``,
    sent to ``to`` (default: the return path)."""
    text = (
        "From: Feedback Loop <fbl@isp.example>\r\n"
        f"To: {to or return_path}\r\n"
        "Subject: Complaint about message\r\n"
        f"Message-ID: <arf.{abs(hash((recipient, feedback_type)))}@isp.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F1"\r\n'
        "\r\n--F1\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n"
        "\r\n--F1\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <{return_path}>\r\nOriginal-Rcpt-To: <{recipient}>\r\n"
        "\r\n--F1\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Return-Path: <{return_path}>\r\nFrom: ops@example.com\r\nTo: {recipient}\r\n"
        "Subject: Hi\r\nMessage-ID: <orig@example.com>\r\n\r\nthe mail\r\n"
        "\r\n--F1--\r\n"
    )
    return text.encode()


def out_of_office(to: str) -> bytes:
    reply = EmailMessage()
    reply["From"] = "Alice <alice@example.net>"
    reply["To"] = to
    reply["Subject"] = "Out of office: Hi"
    reply["Auto-Submitted"] = "auto-replied"
    reply.set_content("I am away until Monday.")
    return reply.as_bytes()


class ListenerThread:
    """A started bounce listener on a free loopback port, in its own event loop."""

    def __init__(self, data_dir: Path, domain: str = BOUNCE_DOMAIN, size_limit: int = 1024 * 1024) -> None:
        cert, key = tls.self_signed_pair(data_dir, ["localhost", "127.0.0.1"])
        config = ListenerConfig(
            host="127.0.0.1", port=0, tls_context=tls.server_context(cert, key), size_limit=size_limit
        )
        self.listener = BounceListener(config, verp(domain))
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bounce-loop", daemon=True)

    def start(self) -> ListenerThread:
        self._thread.start()
        self.call(self.listener.start())
        return self

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    @property
    def port(self) -> int:
        return self.listener.address[1]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.listener.stop(grace=0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def bouncing_postfix(bounce_domain: str, listener_port: int) -> Iterator[PostfixInstance]:
    """A private Postfix that takes mail for example.test, where only known@example.test
    exists, and bounces the rest through its own bounce daemon; mail for ``bounce_domain``
    (the DSNs) goes to the bounce listener on ``listener_port``, as that domain's MX would.
    Skips where Postfix cannot run."""
    command("postfix", package="postfix")
    if os.geteuid() != 0:
        missing("root (Postfix's master starts as root)", "run make test as root")
    maps = Path(tempfile.mkdtemp(prefix="pw-bounce-maps-"))
    maps.chmod(0o755)  # Postfix's daemons (user postfix) read the tables
    (maps / "mailboxes").write_text("known@example.test known/\n")
    (maps / "known").mkdir()
    shutil.chown(maps / "known", "postfix", "postfix")
    (maps / "transport").write_text(f"{bounce_domain} smtp:[127.0.0.1]:{listener_port}\n")
    postfix_user = pwd.getpwnam("postfix")
    main = {
        # example.test is Postfix's own: its users are the mailbox table, delivered by
        # Postfix's virtual agent, which bounces the others ("unknown user")
        "virtual_mailbox_domains": "example.test",
        "virtual_mailbox_maps": f"texthash:{maps / 'mailboxes'}",
        "virtual_transport": "virtual",
        "virtual_mailbox_base": str(maps),
        "virtual_uid_maps": f"static:{postfix_user.pw_uid}",
        "virtual_gid_maps": f"static:{postfix_user.pw_gid}",
        # accept unknown users at RCPT (as a relay in front of the mail store does), so the
        # refusal comes later, as a bounce, not as a synchronous 550
        "smtpd_reject_unlisted_recipient": "no",
        # the bounce domain's "MX" is the listener; STARTTLS when it offers it
        "transport_maps": f"texthash:{maps / 'transport'}",
        "smtp_tls_security_level": "may",
        "notify_classes": "",
    }
    try:
        with private_postfix(free_port(), transport="discard:", main=main) as instance:
            yield instance
    finally:
        shutil.rmtree(maps, ignore_errors=True)
