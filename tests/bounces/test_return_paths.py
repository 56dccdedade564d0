"""The worker writes one return path per recipient when BOUNCE_DOMAIN is set (SMTP only),
and keeps the batched envelope when it is not."""

from __future__ import annotations

import asyncio
import email

import pytest

from postwarden.core.config.model import Settings
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.bounces.helpers import bounce_settings, verp
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(settings: Settings) -> None:
    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def test_each_recipient_gets_its_own_return_path_naming_it_and_from_is_unchanged(smtp_server: Server) -> None:
    settings = bounce_settings(smtp_port=smtp_server.port)
    to = ["alice@example.net", "bob@example.net", "carol@example.org"]
    out = enqueue(Outgoing(to=to, subject="Hi", text="x"), settings=settings)
    deliver(settings)
    received = smtp_server.handler.received
    assert sorted(r.rcpt_tos for r in received) == [(a,) for a in sorted(to)]
    rows = {r.address: r for r in Recipient.objects.filter(message_id=out.pk)}
    for mail in received:
        [address] = mail.rcpt_tos
        row = rows[address]
        assert mail.mail_from == verp().address(out.pk, row.pk)
        assert verp().check(mail.mail_from).recipient_pk == row.pk
        parsed = email.message_from_bytes(mail.data)
        assert parsed["From"] == "Ops <ops@example.com>"
        assert "bounces+" not in mail.data.decode()
    assert {r.state for r in rows.values()} == {"sent"}


def test_without_a_bounce_domain_one_transaction_carries_all_recipients(smtp_server: Server) -> None:
    settings = make_settings(smtp_port=smtp_server.port)
    enqueue(Outgoing(to=["alice@example.net", "bob@example.net"], text="x"), settings=settings)
    deliver(settings)
    [mail] = smtp_server.handler.received
    assert mail.mail_from == "ops@example.com"
    assert sorted(mail.rcpt_tos) == ["alice@example.net", "bob@example.net"]
