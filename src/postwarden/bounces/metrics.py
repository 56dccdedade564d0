"""The bounce intake on /metrics (outbox/metrics_healthz.py serves it; apps.py registers this), read
from the database at scrape time like the outbox's families. The recipients' states
(``postwarden_recipients{state="bounced"|"complained"}``) are the outbox's, as for provider
events; these say what came back and what was done with it.

* ``postwarden_bounces_total{source,outcome,kind}``: mail read by the intake
* ``postwarden_bounces_dropped_total{reason}``: refused before anything was stored:
  ``forged`` (a return path whose token does not verify), ``duplicate`` (the same mail
  again), ``excess`` (over the per-recipient bound), ``busy`` (the listener's queue was full:
  told 451, the sender retries)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from django.db.models import Count
from prometheus_client.core import CounterMetricFamily

from postwarden.bounces.models import Bounce, Tally

DROPPED: Final = ("forged", "duplicate", "excess", "busy")


class BounceCollector:
    def collect(self) -> Iterator[Any]:
        total = CounterMetricFamily(
            "postwarden_bounces",
            "Mail that came back to the return paths, by how it came, what was done and what it was",
            labels=["source", "outcome", "kind"],
        )
        rows = Bounce.objects.values_list("source", "outcome", "kind").annotate(n=Count("id")).order_by()
        for source, outcome, kind, n in rows:
            total.add_metric([source, outcome, kind], n)
        yield total
        dropped = CounterMetricFamily(
            "postwarden_bounces_dropped",
            "Mail to the return paths refused or not stored (forged token, duplicate, over the bound, busy)",
            labels=["reason"],
        )
        counts = dict(Tally.objects.values_list("key", "count"))
        for reason in DROPPED:
            dropped.add_metric([reason], counts.get(reason, 0))
        yield dropped

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only
