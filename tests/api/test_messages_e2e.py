"""The whole path as an application sees it: POST /api/v1/messages, a running worker,
a real SMTP server, then GET /api/v1/messages/{id} with the attempts in the timeline."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey
from postwarden.configstore import runtime
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
#: a bound on the worker's run, in seconds
LIMIT = 20.0


@pytest.fixture(autouse=True)
def _api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.api.urls"


def deliver_until(condition: Callable[[], bool]) -> None:
    """Run a real worker (its loops, its settings from the console) until ``condition``."""

    async def scenario() -> None:
        worker = Worker(WorkerOptions(worker_id="e2e", retry_base=0.01, idle_sleep=0.02))
        running = asyncio.create_task(worker.run())
        deadline = time.monotonic() + LIMIT
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # stopping finishes what is in flight and writes every result before run() returns
        worker.stop()
        await asyncio.wait_for(running, LIMIT)

    asyncio.run(scenario())


def test_it_goes_from_the_api_to_the_server_and_back_into_the_timeline(
    smtpd_factory: Callable[..., SmtpServer], client: Client
) -> None:
    server = smtpd_factory(data_reply="250 2.0.0 Ok: queued as {queue_id}")
    server.inject("DATA", "451 4.7.1 Greylisted, please try again later", times=2)
    runtime.save(
        {
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(server.port),
            "SMTP_SECURITY": "none",
            "MAIL_FROM": "ops@example.com",
        }
    )
    _, plain = ApiKey.issue("shop", ["send", "read"])
    headers = {"Authorization": f"Bearer {plain}"}
    created = client.post(
        "/api/v1/messages",
        json.dumps({"to": ["alice@example.com"], "subject": "Your order", "text": "Thanks"}),
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 202
    deliver_until(lambda: len(server.delivered) == 1)
    [delivered] = server.delivered
    body = client.get(f"/api/v1/messages/{created.json()['id']}", headers=headers).json()
    assert delivered.message_id == body["message_id"]
    assert [r["state"] for r in body["recipients"]] == ["sent"]
    attempts = [e["data"] for e in body["timeline"] if e["kind"] == "attempt"]
    assert [(a["number"], a["outcome"], a["reply"]) for a in attempts] == [
        (1, "deferred", "451 4.7.1 Greylisted, please try again later"),
        (2, "deferred", "451 4.7.1 Greylisted, please try again later"),
        (3, "sent", f"250 2.0.0 Ok: queued as {delivered.queue_id}"),
    ]
    assert attempts[0]["finding"] == "envelope.greylisted"
    assert attempts[0]["explanation"]
    assert all(a["retry_at"] is not None for a in attempts[:2])
    assert attempts[2]["queue_id"] == delivered.queue_id
    assert [m.message_id for m in server.messages] == [body["message_id"]] * 3  # one Message-ID throughout
