"""A worker's counters, written into its heartbeat row every few seconds; ``/metrics``
reads them from there, so figures from workers on any machine reach Prometheus without a
push gateway or shared files."""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any, Final

#: attempt latency buckets in seconds (Prometheus ``le`` bounds; +Inf is implied)
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Stats:
    """Counters since the worker started. Mutated only on the event loop."""

    def __init__(self) -> None:
        #: transport -> outcome (sent, deferred, failed, dead, error) -> attempts
        self.attempts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        #: transport -> [count per bucket..., +Inf], sum of seconds
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = defaultdict(float)
        self.claimed = 0
        self.released = 0
        self.lost = 0
        self.errors = 0

    def attempt(self, transport: str, outcome: str, seconds: float) -> None:
        self.attempts[transport][outcome] += 1
        counts = self.latency.get(transport)
        if counts is None:
            counts = self.latency[transport] = [0] * (len(BUCKETS) + 1)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[transport] += seconds

    @property
    def retries(self) -> int:
        """Attempts that ended in a deferral (each one means another try)."""
        return sum(outcomes.get("deferred", 0) for outcomes in self.attempts.values())

    def snapshot(self) -> dict[str, Any]:
        """The JSON stored in ``WorkerHeartbeat.counters``."""
        return {
            "attempts": {t: dict(o) for t, o in self.attempts.items()},
            "latency": {
                t: {"buckets": list(BUCKETS), "counts": list(c), "sum": round(self.latency_sum[t], 6)}
                for t, c in self.latency.items()
            },
            "retries": self.retries,
            "claimed": self.claimed,
            "released": self.released,
            "lost": self.lost,
            "errors": self.errors,
        }
