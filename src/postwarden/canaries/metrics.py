"""The canaries on /metrics (outbox/metrics_healthz.py serves them; apps.py registers this).

Read from the runs at scrape time, as the outbox's families are, so every web process on
every machine says the same. The ``canary`` label is the canary's name, never its
address. Each run counts once, as the deadline left it: a late arrival is recorded on the
run but changes no counter; a duplicate delivery is one placement.

* ``postwarden_canary_last_success_timestamp_seconds{canary}``: the newest arrival in the inbox
  that passed the receiver's SPF, DKIM and DMARC (what the doctor calls all well)
* ``postwarden_canary_arrival_seconds{canary}``: queued → found, on this host's clock (histogram)
* ``postwarden_canary_placement_total{canary,folder}``: inbox, junk, other, missing
* ``postwarden_canary_auth_total{canary,method,result}``: the receiving side's SPF/DKIM/DMARC
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from django.db.models import Count, Max, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from postwarden.canaries.models import Canary, CanaryRun, RunState
from postwarden.core.doctor.checks.canary import FAILING

#: seconds; a canary normally arrives in seconds, a slow one in minutes, the deadline is 10
BUCKETS: Final = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
FOLDERS: Final = ("inbox", "junk", "other", "missing")


class CanaryCollector:
    def collect(self) -> Iterator[Any]:
        names = dict(Canary.objects.values_list("pk", "name"))
        runs = CanaryRun.objects.filter(canary_id__in=names)
        yield _last_success(names, runs)
        yield _arrival(names, runs)
        yield _placement(names, runs)
        yield _auth(names, runs)

    def describe(self) -> list[Any]:
        return []  # collected at scrape time only


def _last_success(names: dict[int, str], runs: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "postwarden_canary_last_success_timestamp_seconds",
        "When a canary was last found in the inbox, authenticated (Unix time)",
        labels=["canary"],
    )
    passed = runs.filter(state=RunState.ARRIVED).exclude(
        Q(spf__in=FAILING) | Q(dkim__in=FAILING) | Q(dmarc__in=FAILING)
    )
    newest = passed.values("canary_id").annotate(at=Max("arrived_at"))
    for row in newest.order_by():
        family.add_metric([names[row["canary_id"]]], row["at"].timestamp())
    return family


def _arrival(names: dict[int, str], runs: Any) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "postwarden_canary_arrival_seconds",
        "Seconds from queueing a canary to finding it in the mailbox (this host's clock)",
        labels=["canary"],
    )
    found: dict[int, list[float]] = {pk: [] for pk in names}
    for canary_id, started, arrived in runs.filter(arrived_at__isnull=False).values_list(
        "canary_id", "started_at", "arrived_at"
    ):
        found[canary_id].append(max(0.0, (arrived - started).total_seconds()))
    for pk, seconds in found.items():
        buckets = [(str(bound), float(sum(1 for s in seconds if s <= bound))) for bound in BUCKETS]
        buckets.append(("+Inf", float(len(seconds))))
        family.add_metric([names[pk]], buckets, sum(seconds))
    return family


def _placement(names: dict[int, str], runs: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(
        "postwarden_canary_placement",
        "Canary runs by where the mail was found (missing: not by the deadline)",
        labels=["canary", "folder"],
    )
    counts = {(pk, folder): 0 for pk in names for folder in FOLDERS}
    for row in runs.exclude(placement="").values("canary_id", "placement").annotate(n=Count("id")).order_by():
        counts[(row["canary_id"], row["placement"])] = row["n"]
    for row in runs.filter(state=RunState.MISSING).values("canary_id").annotate(n=Count("id")).order_by():
        counts[(row["canary_id"], "missing")] = row["n"]
    for (pk, folder), n in counts.items():
        family.add_metric([names[pk], folder], n)
    return family


def _auth(names: dict[int, str], runs: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(
        "postwarden_canary_auth",
        "The receiving side's verdicts on canaries (Authentication-Results)",
        labels=["canary", "method", "result"],
    )
    for method in ("spf", "dkim", "dmarc"):
        rows = runs.exclude(**{method: ""}).values("canary_id", method).annotate(n=Count("id")).order_by()
        for row in rows:
            family.add_metric([names[row["canary_id"]], method, row[method]], row["n"])
    return family
