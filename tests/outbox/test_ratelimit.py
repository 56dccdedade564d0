"""POSTWARDEN_SEND_RATE: slots reserved in the database, shared by every worker (several
workers at once on PostgreSQL: test_postgres.py)."""

from __future__ import annotations

import asyncio

import pytest

from postwarden.outbox.ratelimit import RateLimiter, reserve

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_hands_out_consecutive_slots() -> None:
    assert reserve("smtp", 5, 10.0, now=1000.0) == 1000.0
    assert reserve("smtp", 5, 10.0, now=1000.1) == 1000.5
    assert reserve("smtp", 1, 10.0, now=1000.2) == 1001.0
    assert reserve("ses", 1, 10.0, now=1000.2) == 1000.2  # each transport has its own pace


def test_it_starts_from_now_after_a_quiet_spell() -> None:
    assert reserve("smtp", 10, 10.0, now=1000.0) == 1000.0
    assert reserve("smtp", 1, 10.0, now=5000.0) == 5000.0


def test_it_paces_permits_from_its_reservations() -> None:
    calls: list[tuple[str, int, float]] = []

    async def reserver(key: str, count: int, rate: float) -> float:
        calls.append((key, count, rate))
        return 0.0  # a slot long past: no waiting in this test

    async def take() -> None:
        limiter = RateLimiter("smtp", 40.0, reserver)
        for _ in range(12):
            await limiter.acquire()

    asyncio.run(take())
    # 40/s: reservations of a quarter second's worth (10 permits); stale ones are dropped
    assert calls[0] == ("smtp", 10, 40.0)
    assert all(call[1] >= 1 for call in calls)
