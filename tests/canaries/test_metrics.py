"""The canaries on /metrics, as Prometheus scrapes them; the canary mail kept out of the
application's figures."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from postwarden.canaries.models import CanaryRun, RunState
from postwarden.console import stats
from postwarden.outbox.submission import Outgoing, enqueue
from tests.canaries.conftest import Path
from tests.canaries.test_faults import _past_deadline, _started

pytestmark = pytest.mark.django_db(transaction=True)


def _samples(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_runs_show_as_placements_verdicts_latency_and_last_success(canary_path: Path, client: Client) -> None:
    canary = canary_path.canary(name="home")
    inbox = canary_path.run_to_end(canary)
    canary_path.publish(dmarc="p=reject")
    canary_path.mx.rule = lambda judged: "Junk"
    canary_path.mx.copies = 2  # a duplicate delivery is still one placement
    junk = canary_path.run_to_end(canary)
    assert (inbox.state, junk.state, junk.copies) == (RunState.ARRIVED, RunState.JUNK, 2)
    canary_path.mx.rule = lambda judged: "INBOX"
    canary_path.mx.copies = 1
    canary_path.mx.hold = True
    missing = _past_deadline(canary_path, _started(canary_path, canary))
    canary_path.mx.release()  # it comes late: recorded on the run, counted nowhere else
    with time_machine.travel(missing.started_at + timedelta(minutes=61)):
        canary_path.run_to_end(canary)
    late = CanaryRun.objects.get(pk=missing.pk)
    assert (late.state, late.late_placement) == (RunState.MISSING, "inbox")

    got = _samples(client)
    placement = {
        folder: got[("postwarden_canary_placement_total", (("canary", "home"), ("folder", folder)))]
        for folder in ("inbox", "junk", "other", "missing")
    }
    assert placement == {"inbox": 2.0, "junk": 1.0, "other": 0.0, "missing": 1.0}
    assert (
        got[("postwarden_canary_auth_total", (("canary", "home"), ("method", "dkim"), ("result", "pass")))]
        == 3.0
    )
    assert got[("postwarden_canary_arrival_seconds_count", (("canary", "home"),))] == 3.0
    last = CanaryRun.objects.filter(state=RunState.ARRIVED).order_by("-arrived_at").first()
    assert last is not None
    assert last.arrived_at is not None
    assert got[("postwarden_canary_last_success_timestamp_seconds", (("canary", "home"),))] == pytest.approx(
        last.arrived_at.timestamp()
    )
    # no address anywhere in the exposition
    assert canary_path.mailbox.user not in client.get("/metrics").content.decode()


def test_an_inbox_arrival_that_failed_authentication_is_no_success(canary_path: Path, client: Client) -> None:
    """The receiver filed it in the inbox but reported dkim=fail: the doctor calls that
    canary.auth_failed, and the last-success gauge must not move for it either."""
    from postwarden.core.dkim import generate_key

    canary = canary_path.canary(name="home")
    good = canary_path.run_to_end(canary)
    assert good.arrived_at is not None
    canary_path.publish(generate_key(2048))  # DNS now has another key than the signer's
    broken = canary_path.run_to_end(canary)
    assert (broken.state, broken.dkim) == (RunState.ARRIVED, "fail")
    assert broken.arrived_at is not None
    assert broken.arrived_at > good.arrived_at
    got = _samples(client)
    assert got[("postwarden_canary_last_success_timestamp_seconds", (("canary", "home"),))] == pytest.approx(
        good.arrived_at.timestamp()
    )


def test_canary_mail_is_not_counted_as_the_applications_mail(canary_path: Path, client: Client) -> None:
    real = Outgoing(to=[canary_path.mailbox.user], subject="real", text="x")
    enqueue(real, settings=canary_path.settings)
    run = canary_path.run_to_end(canary_path.canary())  # the worker sends both
    assert run.state == RunState.ARRIVED
    got = _samples(client)
    assert got[("postwarden_recipients", (("state", "sent"),))] == 1.0
    _slots, _counts, totals = stats.last_day()
    assert totals["sent"] == 1
