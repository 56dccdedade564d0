"""The worker's steps, one at a time, against the capture transport (a real directory)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from postwarden.outbox.models import Attempt, Recipient, WorkerHeartbeat
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from postwarden.transports.capture import list_captured, read_captured
from tests.factories import make_settings

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_claims_sends_and_records_in_steps(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path)
    out = enqueue(
        Outgoing(to=["alice@example.com", "bob@example.com"], subject="Hello", text="Hi"), settings=settings
    )

    async def steps() -> tuple[bool, bool, bool]:
        worker = Worker(WorkerOptions(worker_id="w1"), settings_source=lambda: settings)
        claimed = await worker.claim_step()
        assert await worker.db(Attempt.objects.filter(outcome="sending").count) == 2
        assert await worker.db(lambda: set(Recipient.objects.values_list("state", flat=True))) == {"sending"}
        job = worker.jobs.get_nowait()
        assert job is not None
        await worker.send_job(job)
        flushed = await worker.flush_step()
        again = await worker.claim_step()
        await worker.heartbeat_step()
        return claimed, flushed, again

    assert asyncio.run(steps()) == (True, True, False)
    rows = list(Recipient.objects.order_by("address"))
    assert [(r.address, r.state, r.attempts, r.claimed_by) for r in rows] == [
        ("alice@example.com", "sent", 1, ""),
        ("bob@example.com", "sent", 1, ""),
    ]
    assert all(r.sent_at is not None and r.lease_until is None for r in rows)
    attempts = list(Attempt.objects.order_by("recipient__address"))
    assert [(a.outcome, a.number, a.transport, a.worker, a.stage) for a in attempts] == [
        ("sent", 1, "capture", "w1", "data"),
        ("sent", 1, "capture", "w1", "data"),
    ]
    captured = list_captured(directory=tmp_path / "captured")
    assert len(captured) == 1
    item = captured[0]
    assert (item.public_id, item.message_id, item.recipients, item.subject) == (
        out.public_id,
        out.message_id,
        ("alice@example.com", "bob@example.com"),
        "Hello",
    )
    assert attempts[0].queue_id == item.id
    found = read_captured(item.id, directory=tmp_path / "captured")
    assert found is not None
    assert f"Message-ID: {out.message_id}".encode() in found[1]
    beat = WorkerHeartbeat.objects.get(worker_id="w1")
    assert beat.transport == "capture"
    assert beat.status == "running"
    assert beat.counters["attempts"] == {"capture": {"sent": 2}}
