"""The bounce mailbox mode against a real IMAP server (Dovecot, tests/dovecot.py): bounces
delivered to the mailbox reach the same intake as the listener's, and what was processed is
deleted or flagged; a mailbox that cannot be read loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller

from postwarden.bounces import intake
from postwarden.bounces.mailbox import poll
from postwarden.bounces.models import Bounce
from postwarden.core.config.model import BounceSettings
from postwarden.core.secrets import Secret
from postwarden.outbox.models import Event, Recipient, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.bounces.helpers import bounce_settings, bouncing_postfix, dsn, out_of_office, verp
from tests.dovecot import DovecotServer
from tests.ports import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def mailbox_of(dovecot: DovecotServer, **changes: object) -> BounceSettings:
    base = BounceSettings(
        domain="bounces.example.com",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="none",
        imap_user=dovecot.user,
        imap_password=Secret(dovecot.password),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sent(address: str = "alice@example.net") -> Recipient:
    out = enqueue(Outgoing(to=[address], text="x"), settings=bounce_settings())
    row = Recipient.objects.get(message_id=out.pk)
    Recipient.objects.filter(pk=row.pk).update(state="sent")
    return row


def test_a_bounce_in_the_mailbox_is_applied_and_deleted(dovecot: DovecotServer) -> None:
    row = sent()
    path = verp().address(row.message_id, row.pk)
    dovecot.deliver(dsn(path, row.address))
    dovecot.deliver(out_of_office(path))
    result = poll(mailbox_of(dovecot), verp())
    assert (result.found, result.taken, result.errors) == (2, 2, [])
    row.refresh_from_db()
    assert row.state == "bounced"
    assert Suppression.objects.get().address == "alice@example.net"
    assert sorted(Bounce.objects.values_list("source", "outcome")) == [
        ("imap", "applied"),
        ("imap", "ignored"),
    ]
    assert dovecot.messages() == []


def test_in_flag_mode_processed_mail_stays_flagged_and_is_not_read_again(dovecot: DovecotServer) -> None:
    row = sent()
    path = verp().address(row.message_id, row.pk)
    dovecot.deliver(dsn(path, row.address))
    settings = mailbox_of(dovecot, imap_processed="flag")
    assert poll(settings, verp()).taken == 1
    [flags] = dovecot.flags()
    assert "\\Seen" in flags
    assert "\\Flagged" in flags
    assert poll(settings, verp()).found == 0
    assert Event.objects.filter(recipient=row).count() == 1


def test_a_forged_bounce_in_the_mailbox_changes_nothing(dovecot: DovecotServer) -> None:
    row = sent()
    good = verp().address(row.message_id, row.pk)
    local, _, domain = good.partition("@")
    forged = f"{local[:-4]}{'abcd' if not local.endswith('abcd') else 'dcba'}@{domain}"
    dovecot.deliver(dsn(forged, row.address))
    assert poll(mailbox_of(dovecot), verp()).taken == 1
    row.refresh_from_db()
    assert row.state == "sent"
    assert not Suppression.objects.exists()
    assert intake.tallies()["forged"] == 1


def test_a_mailbox_that_refuses_the_login_loses_nothing(dovecot: DovecotServer) -> None:
    row = sent()
    dovecot.deliver(dsn(verp().address(row.message_id, row.pk), row.address))
    result = poll(mailbox_of(dovecot, imap_password=Secret("wrong password")), verp())
    assert result.taken == 0
    [error] = result.errors
    assert "login" in error.lower()
    assert "wrong password" not in error
    assert len(dovecot.messages()) == 1
    assert poll(mailbox_of(dovecot), verp()).taken == 1


class _IntoMailbox:
    """An MX that files what it receives into the Dovecot mailbox, adding Delivered-To as
    a delivery agent does (the bounce domain's mailbox at a hosted provider)."""

    def __init__(self, dovecot: DovecotServer) -> None:
        self.dovecot = dovecot

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        rcpt = envelope.rcpt_tos[0]  # type: ignore[attr-defined]
        raw = f"Delivered-To: {rcpt}\r\n".encode() + envelope.content  # type: ignore[attr-defined]
        await asyncio.to_thread(self.dovecot.deliver, raw)
        return "250 2.0.0 Ok: filed"


@pytest.fixture
def mailbox_mx(dovecot: DovecotServer) -> Iterator[int]:
    port = free_port()
    controller = Controller(_IntoMailbox(dovecot), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_postfixs_bounce_through_the_mailbox_lands_on_the_timeline(
    dovecot: DovecotServer, mailbox_mx: int
) -> None:
    with bouncing_postfix("bounces.test", mailbox_mx) as postfix:
        settings = bounce_settings(smtp_port=postfix.port, domain="bounces.test")
        out = enqueue(Outgoing(to=["nobody@example.test"], subject="Hi", text="x"), settings=settings)

        async def deliver() -> None:
            worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
            await worker.deliver_step()
            await worker.close()

        asyncio.run(deliver())
        deadline = time.monotonic() + 60
        while not dovecot.messages() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dovecot.messages(), postfix.maillog.read_text()[-2000:]
    result = poll(mailbox_of(dovecot, domain="bounces.test"), verp("bounces.test"))
    assert (result.taken, result.errors) == (1, [])
    row = Recipient.objects.get(message_id=out.pk)
    assert row.state == "bounced"
    event = Event.objects.get(recipient=row)
    assert event.detail.startswith('X-Postfix; unknown user: "nobody@example.test" — ')
    assert Bounce.objects.get().source == "imap"
    again = enqueue(Outgoing(to=["nobody@example.test"], text="again"), settings=settings)
    assert again.recipients[0].state == "suppressed"
