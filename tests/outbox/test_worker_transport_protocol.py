"""The worker knows a transport only through the ``Transport`` protocol (transports/base.py):
what it claims for it (structured parts, per-recipient return paths), how many senders it runs
and whether several deliveries go in one call are the transport's own declarations, never
decided by its name. A transport under a name the worker has never heard of, declaring the
opposite of what the capture transport declares, gets what it declares."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from postwarden.core.config.model import BounceSettings, Settings
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from postwarden.transports.base import RecipientResult, Transport, TransportDelivery
from postwarden.transports.capture import CaptureTransport
from postwarden.transports.esp import EspTransport
from postwarden.transports.smtp import SmtpTransport
from tests import providers as p
from tests.factories import make_settings

pytestmark = pytest.mark.django_db(transaction=True)


class Declaring(CaptureTransport):
    """Captures, under its own name, with the declarations it is given; notes each call."""

    def __init__(self, directory: Path, *, parts: bool, return_paths: bool, batches: bool) -> None:
        super().__init__(directory)
        self.name = "declaring"
        self.needs_parts = parts
        self.takes_return_paths = return_paths
        self.batches = batches
        self.concurrency = 3
        self.calls: list[tuple[TransportDelivery, ...]] = []

    async def send_many(self, deliveries: Sequence[TransportDelivery]) -> list[Sequence[RecipientResult]]:
        self.calls.append(tuple(deliveries))
        return await super().send_many(deliveries)


def with_bounces(settings: Settings) -> Settings:
    return replace(settings, bounces=BounceSettings(domain="bounces.example.com"))


def deliver(settings: Settings, transport: Declaring, count: int) -> int:
    """Deliver ``count`` one-recipient messages in one round; the number of senders the
    worker would run for ``transport``."""
    for i in range(count):
        enqueue(Outgoing(to=[f"r{i}@example.net"], subject=f"n{i}", text="x"), settings=settings)

    async def go() -> int:
        worker = Worker(
            WorkerOptions(worker_id="w-protocol", deliveries_per_send=8),
            settings_source=lambda: settings,
            transport_factory=lambda s: transport,
        )
        await worker.deliver_step()
        worker._resize_senders()
        senders = worker._senders
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        await worker.close()
        return len(senders)

    return asyncio.run(go())


def test_it_gives_the_parts_to_a_transport_that_needs_them(tmp_path: Path) -> None:
    settings = with_bounces(make_settings(data_dir=tmp_path))
    transport = Declaring(tmp_path / "captured", parts=True, return_paths=False, batches=True)
    senders = deliver(settings, transport, 3)
    sent = [d for call in transport.calls for d in call]
    assert len(sent) == 3
    assert all(d.parts is not None and d.parts.subject.startswith("n") for d in sent)
    assert {d.envelope_from for d in sent} == {"ops@example.com"}
    assert senders == 3  # its concurrency, not the SMTP connection count (8)
    assert set(Recipient.objects.values_list("state", flat=True)) == {"sent"}


def test_it_gives_return_paths_to_a_transport_that_takes_them(tmp_path: Path) -> None:
    settings = with_bounces(make_settings(data_dir=tmp_path))
    transport = Declaring(tmp_path / "captured", parts=False, return_paths=True, batches=True)
    deliver(settings, transport, 3)
    sent = [d for call in transport.calls for d in call]
    assert len(sent) == 3
    assert all(d.parts is None for d in sent)
    assert all(d.envelope_from.endswith("@bounces.example.com") for d in sent)
    assert len({d.envelope_from for d in sent}) == 3


def test_it_batches_only_for_a_transport_that_batches(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path)
    batching = Declaring(tmp_path / "a", parts=False, return_paths=False, batches=True)
    deliver(settings, batching, 5)
    assert [len(call) for call in batching.calls] == [5]

    Recipient.objects.all().delete()
    one_by_one = Declaring(tmp_path / "b", parts=False, return_paths=False, batches=False)
    deliver(settings, one_by_one, 5)
    assert [len(call) for call in one_by_one.calls] == [1] * 5


def test_every_transport_declares_the_whole_protocol(tmp_path: Path, httpserver: HTTPServer) -> None:
    members = [*Transport.__annotations__, "send", "send_many", "close"]
    smtp = SmtpTransport(make_settings(data_dir=tmp_path, smtp_port=2525))
    capture = CaptureTransport(tmp_path)
    esp = EspTransport(p.SENDGRID.settings(httpserver))
    for transport in (smtp, capture, esp):
        assert [m for m in members if not hasattr(transport, m)] == [], transport.name
    assert (smtp.batches, smtp.needs_parts, smtp.takes_return_paths) == (True, False, True)
    assert (capture.batches, capture.needs_parts, capture.takes_return_paths) == (False, False, False)
    assert (esp.batches, esp.needs_parts, esp.takes_return_paths) == (False, True, False)
    assert (smtp.concurrency, esp.concurrency) == (8, 4)
    assert (smtp.server, capture.server, esp.server) == (("127.0.0.1", 2525), None, None)
    asyncio.run(esp.close())
