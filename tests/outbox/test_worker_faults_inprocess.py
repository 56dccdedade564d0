"""What the worker does when something it relies on misbehaves: a transport that raises
(a poison message) must not make it crash or loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.utils import timezone

from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from postwarden.transports.base import RecipientResult, TransportDelivery
from postwarden.transports.capture import CaptureTransport
from tests.factories import make_settings

pytestmark = pytest.mark.django_db(transaction=True)


class Choking(CaptureTransport):
    """Captures like the real thing, except that one message makes it raise."""

    poison = ""

    async def send(self, delivery: TransportDelivery) -> Sequence[RecipientResult]:
        if delivery.public_id == self.poison:
            raise RuntimeError("cannot render this one")
        return await super().send(delivery)


def test_it_pushes_a_poison_message_back_and_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(data_dir=tmp_path)
    bad = enqueue(Outgoing(to=["bad@example.com"], text="x"), settings=settings)
    enqueue(Outgoing(to=["good@example.com"], text="x"), settings=settings)
    transport = Choking(tmp_path / "captured")
    transport.poison = bad.public_id

    async def steps() -> tuple[int, bool]:
        worker = Worker(
            WorkerOptions(worker_id="w-poison", retry_base=60.0),
            settings_source=lambda: settings,
            transport_factory=lambda s: transport,
        )
        await worker.deliver_step()
        again = await worker.claim_step()
        await worker.close()
        return worker.stats.errors, again

    with caplog.at_level(logging.ERROR, logger="postwarden.worker"):
        errors, claimed_again = asyncio.run(steps())
    assert (errors, claimed_again) == (1, False)
    rows = dict(Recipient.objects.values_list("address", "state"))
    assert rows == {"bad@example.com": "deferred", "good@example.com": "sent"}
    poisoned = Recipient.objects.get(address="bad@example.com")
    assert poisoned.next_attempt_at is not None
    assert poisoned.next_attempt_at > timezone.now()
    attempt = Attempt.objects.get(recipient=poisoned)
    assert (attempt.outcome, attempt.stage, attempt.reply) == (
        "deferred",
        "internal",
        "RuntimeError: cannot render this one",
    )
    errors_logged = [r.message for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors_logged == ["the transport raised; the delivery is deferred"]
