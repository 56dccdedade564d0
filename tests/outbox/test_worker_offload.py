"""The worker with its SMTP sending in a child process (``postwarden worker``'s transport,
transports/offload.py): a stop gives back what the child had not started, a settings
change replaces the child, a SIGKILLed worker's child dies with it and nothing is lost."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.core.config.model import DeliverySettings, Settings
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.services import Outgoing, enqueue_many
from postwarden.outbox.worker.loop import Options, Worker, offloading
from postwarden.transports.offload import OffloadedSmtp
from tests.outbox.helpers import make_settings
from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Server

#: a bound on every wait in these tests, in seconds
LIMIT = 20.0


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def child_of(worker: Worker) -> int:
    transport = worker.transport
    assert isinstance(transport, OffloadedSmtp)
    assert transport._child is not None
    return transport._child.pid


@pytest.mark.django_db(transaction=True)
def test_it_gives_back_what_the_child_had_not_started_when_stopped(smtp_server: Server) -> None:
    smtp_server.handler.data_delay = 0.5
    settings = make_settings(smtp_port=smtp_server.port, delivery=DeliverySettings(smtp_connections=2))
    enqueue_many([Outgoing(to=[f"user{i}@example.com"], text="x") for i in range(20)], settings=settings)

    async def scenario() -> int:
        worker = Worker(
            Options(worker_id="w-hold", batch_size=20, heartbeat_interval=0.2, deliveries_per_send=1),
            settings_source=lambda: settings,
            transport_factory=offloading,
        )
        running = asyncio.create_task(worker.run())
        await wait_until(lambda: smtp_server.handler.data_started >= 2, "two messages in flight")
        # the child holds more batches than it has connections (DEPTH per connection)
        assert isinstance(worker.transport, OffloadedSmtp)
        assert worker.transport.concurrency > 2
        worker.stop()
        return await asyncio.wait_for(running, LIMIT)

    assert asyncio.run(scenario()) == 0
    assert Recipient.objects.filter(state="sent").count() == len(smtp_server.handler.received) == 2
    assert Recipient.objects.filter(state="queued", attempts=0, claimed_by="").count() == 18
    assert sorted(Attempt.objects.values_list("outcome", flat=True)) == ["sent", "sent"]


@pytest.mark.django_db(transaction=True)
def test_it_replaces_the_child_when_the_settings_change(smtp_server: Server) -> None:
    first = make_settings(smtp_port=smtp_server.port)
    current: dict[str, Settings] = {"now": first}

    async def scenario() -> tuple[int | None, int, int]:
        worker = Worker(
            Options(worker_id="w-swap", settings_interval=0.05, heartbeat_interval=0.05, idle_sleep=0.05),
            settings_source=lambda: current["now"],
            transport_factory=offloading,
        )
        running = asyncio.create_task(worker.run())
        await wait_until(lambda: _has_child(worker), "a child")
        old_transport = worker.transport
        assert isinstance(old_transport, OffloadedSmtp)
        old_child = old_transport._child
        assert old_child is not None
        current["now"] = make_settings(smtp_port=smtp_server.port, from_name="Other")
        await wait_until(lambda: worker.transport is not old_transport, "the new transport")
        await wait_until(lambda: old_child.returncode is not None, "the old child to exit")
        await worker.db(enqueue_many, [Outgoing(to=["after@example.com"], text="x")], settings=current["now"])
        await wait_until(lambda: len(smtp_server.handler.received) == 1, "a message from the new child")
        new_child = child_of(worker)
        worker.stop()
        await asyncio.wait_for(running, LIMIT)
        return old_child.returncode, old_child.pid, new_child

    code, old_pid, new_pid = asyncio.run(scenario())
    assert code == 0
    assert old_pid != new_pid
    assert Recipient.objects.get().state == "sent"


def _has_child(worker: Worker) -> bool:
    return isinstance(worker.transport, OffloadedSmtp) and worker.transport._child is not None


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet (a container's init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_it_takes_its_child_along_when_killed_and_loses_nothing(
    place_factory: Callable[..., Place], smtp_server: Server
) -> None:
    smtp_server.handler.data_delay = 0.2  # always something in flight
    place = place_factory(None, smtp_server.port, POSTWARDEN_SMTP_CONNECTIONS="2")
    message_ids = place.script("enqueue", "60")
    worker = place.worker("--batch-size", "20", "--lease", "2", "--sending-process", name="k1")
    wait_for(lambda: len(_children(worker.pid)) == 1, "the sending child")
    [child] = _children(worker.pid)
    wait_for(lambda: smtp_server.handler.data_started >= 3, "messages in flight")
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=BOUND) == -signal.SIGKILL
    wait_for(lambda: _gone(child), "the child to die with its worker")
    # what the dead worker had claimed comes back when its lease expires
    smtp_server.handler.data_delay = 0.0
    again = place.worker("--batch-size", "20", "--lease", "2", name="k2")
    wait_for(lambda: place.script("states")["states"] == {"sent": 60}, "all sent", BOUND * 2, 0.5)
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=BOUND) == 0
    assert set(smtp_server.handler.message_ids()) == set(message_ids)
