"""What a dead or silent worker held comes back (issue #11, crash recovery), and what a live
worker holds never does.

* A worker on the same machine whose process is gone (a real process, killed): what it
  held is taken back when the next worker starts, lease or not; a pid that now runs
  another process (pid reuse: another start time) counts as gone.
* A worker on another machine: its claims come back once their lease
  (POSTWARDEN_WORKER_TIMEOUT) has run out since its last renewal, not before.
* A worker that was silent longer than its lease (a stalled loop) sends none of what was
  taken back from it, and records nothing over the new holder's attempt.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from postwarden.core.config.model import DeliverySettings, Settings
from postwarden.core.config.resolve import ConfigError, resolve_environment
from postwarden.core.doctor.redact import Redactor
from postwarden.outbox.models import Attempt, Recipient, WorkerHeartbeat
from postwarden.outbox.submission import Outgoing, enqueue_many
from postwarden.outbox.worker import claim, leases
from postwarden.outbox.worker.liveness import ProcessId, gone, identify, this_process
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 20.0


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real process that stands in for a worker."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


# -- the process identity ---------------------------------------------------------------------


def test_a_process_is_gone_once_killed_or_a_zombie_and_only_in_its_own_space(
    child: subprocess.Popen[bytes],
) -> None:
    here = this_process()
    assert here.space  # Linux: /proc answers
    assert here.start
    other = identify(child.pid)
    assert (other.space, other.pid) == (here.space, child.pid)
    assert not gone(here, other)
    os.kill(child.pid, signal.SIGKILL)
    deadline = time.monotonic() + LIMIT
    while not gone(here, other):  # until the kernel has made it a zombie
        assert time.monotonic() < deadline, "the killed process never ended"
        time.sleep(0.01)
    assert gone(here, other)  # a zombie (not reaped yet) never sends again
    child.wait()
    assert gone(here, other)  # and a free pid
    # the same free pid seen from another machine (or container) proves nothing there
    assert not gone(here, ProcessId("another-boot/pid:[1]", child.pid, other.start))


def test_a_reused_pid_is_another_process() -> None:
    here = this_process()
    assert not gone(here, here)
    assert gone(here, ProcessId(here.space, here.pid, str(int(here.start) - 1)))


# -- the database -------------------------------------------------------------------------------


def enqueue(count: int, settings: Settings) -> None:
    enqueue_many([Outgoing(to=[f"user{i}@example.com"], text="x") for i in range(count)], settings=settings)


def claim_as(worker_id: str, lease: float, limit: int = 100) -> list[claim.Job]:
    return claim.claim(
        worker_id,
        "smtp",
        limit=limit,
        lease=timedelta(seconds=lease),
        cap=1,
        with_parts=False,
        now=timezone.now(),
        redact=Redactor(()).text,
    )


def heartbeat_of(worker_id: str, process: ProcessId) -> None:
    WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        host="somewhere",
        pid=process.pid,
        space=process.space,
        pid_start=process.start,
        version="0",
        status="running",
    )


def worker(settings: Settings, **options: object) -> Worker:
    return Worker(
        WorkerOptions(worker_id="w-new", retry_base=60, **options), settings_source=lambda: settings
    )  # type: ignore[arg-type]


def run_until_sent(
    settings: Settings, count: int, then: Callable[[], object] = lambda: None, **options: object
) -> Worker:
    """A worker's own run (start, recovery, heartbeat, claims) until ``count`` are sent;
    ``then`` is called once it has started."""

    async def scenario() -> Worker:
        w = worker(settings, heartbeat_interval=0.2, idle_sleep=0.05, **options)
        running = asyncio.create_task(w.run())
        while not await w.db(lambda: WorkerHeartbeat.objects.filter(worker_id="w-new").exists()):
            await asyncio.sleep(0.01)
        then()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIMIT
        while await w.db(lambda: Recipient.objects.filter(state="sent").count()) < count:
            if loop.time() > deadline or running.done():
                raise AssertionError("not everything was sent")
            await asyncio.sleep(0.02)
        w.stop()
        assert await asyncio.wait_for(running, LIMIT) == 0
        return w

    return asyncio.run(scenario())


def test_a_restarted_worker_takes_back_at_once_what_a_dead_worker_here_held(
    smtp_server: Server, child: subprocess.Popen[bytes]
) -> None:
    settings = make_settings(smtp_port=smtp_server.port)
    enqueue(5, settings)
    heartbeat_of("w-dead", identify(child.pid))
    assert len(claim_as("w-dead", lease=3600)) == 5  # a lease that would hold them for an hour
    child.kill()
    child.wait()

    run_until_sent(settings, 5)

    assert len(smtp_server.handler.received) == 5
    assert WorkerHeartbeat.objects.get(worker_id="w-dead").status == "dead"
    attempts = Attempt.objects.order_by("recipient", "number").values_list(
        "number", "outcome", "worker", "reply"
    )
    assert [a[:3] for a in attempts] == [(1, "lost", "w-dead"), (2, "sent", "w-new")] * 5
    assert {a[3] for a in attempts if a[1] == "lost"} == {leases.DIED}


def test_a_running_worker_takes_back_what_a_worker_here_held_when_it_dies(
    smtp_server: Server, child: subprocess.Popen[bytes]
) -> None:
    settings = make_settings(smtp_port=smtp_server.port)
    enqueue(3, settings)
    heartbeat_of("w-dying", identify(child.pid))
    assert len(claim_as("w-dying", lease=3600)) == 3

    def die() -> None:
        child.kill()
        child.wait()

    # its own lease of 1.5 s: it looks for dead workers every half second
    run_until_sent(settings, 3, then=die, lease=1.5)
    assert WorkerHeartbeat.objects.get(worker_id="w-dying").status == "dead"
    assert list(Attempt.objects.filter(outcome="lost").values_list("reply", flat=True)) == [leases.DIED] * 3


def test_what_a_live_worker_here_holds_is_never_taken_and_a_reused_pid_is_no_alibi(
    smtp_server: Server, child: subprocess.Popen[bytes]
) -> None:
    settings = make_settings(smtp_port=smtp_server.port)
    enqueue(4, settings)
    alive = identify(child.pid)
    heartbeat_of("w-alive", alive)
    heartbeat_of("w-reused", ProcessId(alive.space, alive.pid, str(int(alive.start) + 1)))
    assert len(claim_as("w-alive", lease=3600, limit=2)) == 2
    assert len(claim_as("w-reused", lease=3600, limit=2)) == 2

    async def recover() -> int:
        return await worker(settings).recover_step()

    assert asyncio.run(recover()) == 2
    assert dict(WorkerHeartbeat.objects.values_list("worker_id", "status")) == {
        "w-alive": "running",
        "w-reused": "dead",
    }
    assert Recipient.objects.filter(state="sending", claimed_by="w-alive").count() == 2
    assert Recipient.objects.filter(state="queued", claimed_by="").count() == 2


def test_another_machines_claims_come_back_when_their_lease_runs_out_not_before(smtp_server: Server) -> None:
    settings = make_settings(smtp_port=smtp_server.port, delivery=DeliverySettings(worker_timeout=30))
    enqueue(3, settings)
    heartbeat_of("w-far", ProcessId("another-boot/pid:[4026531836]", 1, "100"))
    start = timezone.now()

    async def far_claims() -> bool:  # the far worker's claim lasts its POSTWARDEN_WORKER_TIMEOUT
        return await Worker(WorkerOptions(worker_id="w-far"), settings_source=lambda: settings).claim_step()

    with time_machine.travel(start, tick=False):
        assert asyncio.run(far_claims())
    assert Recipient.objects.filter(state="sending", claimed_by="w-far").count() == 3

    async def one_round(at: timedelta) -> bool:
        with time_machine.travel(start + at, tick=False):
            w = worker(settings)
            await w.recover_step()  # another machine's pid says nothing here
            found = await w.deliver_step()
            await w.close()
            return found

    assert asyncio.run(one_round(timedelta(seconds=29))) is False
    assert Recipient.objects.filter(state="sending", claimed_by="w-far").count() == 3
    assert asyncio.run(one_round(timedelta(seconds=31))) is True
    assert Recipient.objects.filter(state="sent").count() == 3
    assert list(Attempt.objects.filter(outcome="lost").values_list("reply", flat=True)) == [leases.LOST] * 3
    assert len(smtp_server.handler.received) == 3


def test_a_worker_silent_past_its_lease_sends_none_of_what_was_taken_back(smtp_server: Server) -> None:
    settings = make_settings(smtp_port=smtp_server.port)
    enqueue(6, settings)

    async def scenario() -> tuple[Worker, Worker]:
        stalled = Worker(WorkerOptions(worker_id="w-stalled", lease=0.5), settings_source=lambda: settings)
        assert await stalled.claim_step(limit=6)
        # its loop stalls (no renewal) until another worker has taken its claims back
        # (a short lease of its own: it looks for expired ones every third of it)
        other = Worker(WorkerOptions(worker_id="w-other", lease=1.5), settings_source=lambda: settings)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIMIT
        while not await other.deliver_step():
            assert loop.time() < deadline, "the lease never ran out"
            await asyncio.sleep(0.05)
        # the stalled worker wakes up with six deliveries in its queue
        jobs = [stalled.jobs.get_nowait() for _ in range(stalled.jobs.qsize())]
        assert len(jobs) == 6
        await stalled.send_jobs([job for job in jobs if job is not None])
        await stalled.flush_step()
        await stalled.close()
        await other.close()
        return stalled, other

    stalled, _ = asyncio.run(scenario())
    assert len(smtp_server.handler.received) == 6  # each once: the other worker's sends
    assert stalled.stats.lost == 6
    assert set(Attempt.objects.filter(outcome="sent").values_list("worker", flat=True)) == {"w-other"}
    assert list(Attempt.objects.filter(worker="w-stalled").values_list("outcome", flat=True)) == ["lost"] * 6
    assert Recipient.objects.filter(state="sent").count() == 6


def test_the_timeout_is_a_setting_with_a_default_and_bounds() -> None:
    assert resolve_environment(environ={}, dotenv=None).delivery.worker_timeout == 30.0
    assert (
        resolve_environment(environ={"POSTWARDEN_WORKER_TIMEOUT": "12"}, dotenv=None).delivery.worker_timeout
        == 12.0
    )
    with pytest.raises(ConfigError, match="POSTWARDEN_WORKER_TIMEOUT='1' must be from 3 to 3600"):
        resolve_environment(environ={"POSTWARDEN_WORKER_TIMEOUT": "1"}, dotenv=None)
