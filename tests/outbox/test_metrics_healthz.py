"""/metrics and /healthz, read from the database as a monitoring system sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from postwarden.outbox.models import WorkerHeartbeat
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.stats import Stats
from tests.factories import make_settings

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _outbox_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.outbox.urls"


def beat(worker_id: str, age: float, stats: Stats | None = None, status: str = "running") -> None:
    WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        host="h",
        pid=1,
        version="0",
        status=status,
        transport="smtp",
        last_seen=timezone.now() - timedelta(seconds=age),
        counters=(stats or Stats()).snapshot(),
    )


def test_it_is_unhealthy_without_a_worker_and_healthy_with_a_fresh_heartbeat(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "ok": False,
        "database": "ok",
        "worker": None,
        "problem": "no worker has written a heartbeat",
    }
    beat("old", age=120)
    stale = client.get("/healthz").json()
    assert stale["problem"] == "the newest worker heartbeat is 120 s old: is `postwarden worker` running?"
    beat("w1", age=2)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["worker"]["id"] == "w1"
    assert response.json()["ok"] is True


def test_it_exports_queue_gauges_and_the_workers_counters(client: Client) -> None:
    enqueue(Outgoing(to=["a@example.com", "b@example.com"], text="x"), settings=make_settings())
    stats = Stats()
    for seconds in (0.004, 0.02, 0.02, 3.0):
        stats.attempt("smtp", "sent", seconds)
    stats.attempt("smtp", "deferred", 0.5)
    beat("w1", age=1, stats=stats)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    lines = set(text.splitlines())
    assert 'postwarden_recipients{state="queued"} 2.0' in lines
    assert 'postwarden_recipients{state="dead"} 0.0' in lines
    assert 'postwarden_attempts_total{outcome="sent",transport="smtp",worker="w1"} 4.0' in lines
    assert 'postwarden_retries_total{worker="w1"} 1.0' in lines
    assert 'postwarden_attempt_duration_seconds_bucket{le="0.005",transport="smtp",worker="w1"} 1.0' in lines
    assert 'postwarden_attempt_duration_seconds_bucket{le="0.025",transport="smtp",worker="w1"} 3.0' in lines
    assert 'postwarden_attempt_duration_seconds_bucket{le="+Inf",transport="smtp",worker="w1"} 5.0' in lines
    assert 'postwarden_attempt_duration_seconds_count{transport="smtp",worker="w1"} 5.0' in lines
    assert any(line.startswith("postwarden_oldest_waiting_seconds ") for line in lines)
    assert "a@example.com" not in text


def test_they_need_no_login(client: Client, settings: Any) -> None:
    settings.ROOT_URLCONF = "postwarden.urls"
    assert client.get("/metrics").status_code == 200
    assert client.get("/healthz").status_code == 503
