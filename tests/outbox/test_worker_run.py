"""The worker as it runs: its loops, stopping gracefully, settings that change under it."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from postwarden.core.config.model import DeliverySettings, Settings
from postwarden.outbox.models import Attempt, Recipient, WorkerHeartbeat
from postwarden.outbox.submission import Outgoing, enqueue_many
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server

pytestmark = pytest.mark.django_db(transaction=True)

#: a bound on every wait in these tests, in seconds
LIMIT = 20.0


async def wait_until(condition: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_it_finishes_what_is_in_flight_and_gives_back_the_rest_when_stopped(smtp_server: Server) -> None:
    smtp_server.handler.data_delay = 0.5
    settings = make_settings(smtp_port=smtp_server.port, delivery=DeliverySettings(smtp_connections=2))
    enqueue_many([Outgoing(to=[f"user{i}@example.com"], text="x") for i in range(20)], settings=settings)

    async def scenario() -> int:
        worker = Worker(
            WorkerOptions(worker_id="w-stop", batch_size=20, heartbeat_interval=0.2, deliveries_per_send=1),
            settings_source=lambda: settings,
        )
        running = asyncio.create_task(worker.run())
        await wait_until(lambda: smtp_server.handler.data_started >= 2, "two messages in flight")
        worker.stop()
        return await asyncio.wait_for(running, LIMIT)

    assert asyncio.run(scenario()) == 0
    sent = Recipient.objects.filter(state="sent").count()
    assert sent == len(smtp_server.handler.received) == 2
    assert Recipient.objects.filter(state="queued", attempts=0, claimed_by="").count() == 18
    assert Recipient.objects.filter(state="sending").count() == 0
    assert Attempt.objects.count() == 2
    assert list(Attempt.objects.values_list("outcome", flat=True)) == ["sent", "sent"]
    beat = WorkerHeartbeat.objects.get(worker_id="w-stop")
    assert beat.status == "stopped"
    # it claimed only what it could send soon (two shares per sender), and gave back the
    # claimed part it had not started
    assert beat.counters["claimed"] == 4
    assert beat.counters["released"] == 2


def test_it_delivers_everything_and_rebuilds_the_transport_when_the_settings_change(
    smtp_server: Server, tmp_path: object
) -> None:
    settings = {"now": make_settings(data_dir=tmp_path)}  # capture first
    enqueue_many([Outgoing(to=[f"a{i}@example.com"], text="x") for i in range(3)], settings=settings["now"])

    async def scenario() -> list[str]:
        worker = Worker(
            WorkerOptions(
                worker_id="w-live", settings_interval=0.05, heartbeat_interval=0.05, idle_sleep=0.05
            ),
            settings_source=lambda: settings["now"],
        )
        running = asyncio.create_task(worker.run())
        await wait_until(lambda: worker.stats.attempts["capture"]["sent"] == 3, "three captured")
        settings["now"] = make_settings(smtp_port=smtp_server.port)
        await wait_until(
            lambda: worker.transport is not None and worker.transport.name == "smtp", "the switch"
        )
        # through the worker's own database thread: the test database is an in-memory SQLite
        # whose shared cache refuses (instead of waiting for) a second concurrent writer
        await worker.db(
            enqueue_many,
            [Outgoing(to=[f"b{i}@example.com"], text="x") for i in range(3)],
            settings=settings["now"],
        )
        await wait_until(lambda: len(smtp_server.handler.received) == 3, "three sent over SMTP")
        worker.stop()
        await asyncio.wait_for(running, LIMIT)
        return sorted(worker.stats.attempts)

    assert asyncio.run(scenario()) == ["capture", "smtp"]
    transports = dict(Recipient.objects.values_list("address", "transport"))
    assert {a: t for a, t in transports.items() if a.startswith("a")} == {
        f"a{i}@example.com": "capture" for i in range(3)
    }
    assert {a: t for a, t in transports.items() if a.startswith("b")} == {
        f"b{i}@example.com": "smtp" for i in range(3)
    }


def test_it_waits_while_sending_is_switched_off_and_goes_when_it_is_on(smtp_server: Server) -> None:
    on = make_settings(smtp_port=smtp_server.port)
    current: dict[str, Settings] = {"now": replace(on, sending=replace(on.sending, enabled=False))}
    enqueue_many([Outgoing(to=["a@example.com"], text="x")], settings=on)

    reads = 0

    def settings_source() -> Settings:
        nonlocal reads
        reads += 1
        return current["now"]

    async def scenario() -> tuple[bool, int]:
        worker = Worker(
            WorkerOptions(
                worker_id="w-switch", settings_interval=0.05, heartbeat_interval=0.05, idle_sleep=0.05
            ),
            settings_source=settings_source,
        )
        running = asyncio.create_task(worker.run())
        # the worker has read the switched-off settings again and again, and sent nothing
        await wait_until(lambda: reads >= 5, "five reads of the settings while sending is off")
        nothing_yet = len(smtp_server.handler.received) == 0
        current["now"] = on
        await wait_until(lambda: len(smtp_server.handler.received) == 1, "the send after the switch")
        worker.stop()
        return nothing_yet, await asyncio.wait_for(running, LIMIT)

    assert asyncio.run(scenario()) == (True, 0)
    assert Recipient.objects.get().state == "sent"


def test_it_reports_settings_it_cannot_send_with_and_keeps_running() -> None:
    broken = replace(
        make_settings(smtp_port=2525), smtp=replace(make_settings(smtp_port=2525).smtp, host=None)
    )
    enqueue_many([Outgoing(to=["a@example.com"], text="x")], settings=broken)

    async def scenario() -> str | None:
        worker = Worker(WorkerOptions(worker_id="w-broken", idle_sleep=0.05), settings_source=lambda: broken)
        await worker.start()
        assert await worker.claim_step() is False
        await worker.heartbeat_step()
        await worker.close()
        return worker.problem

    assert asyncio.run(scenario()) == "ValueError: SMTP_HOST is not set"
    beat = WorkerHeartbeat.objects.get(worker_id="w-broken")
    assert beat.status == "misconfigured"
    assert beat.counters["problem"] == "ValueError: SMTP_HOST is not set"
    assert Recipient.objects.get().state == "queued"
