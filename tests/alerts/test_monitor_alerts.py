"""Done-when of issue #14 on the doctor-finding level, as a user runs it: real
``postwarden monitor`` and ``postwarden worker`` processes on one database, alerts through
apprise to a local Mattermost-style webhook. Mail waits with no worker: one alert
(queue.worker_down) reaches the webhook while the endpoint was down at first (queued,
retried, delivered when it is back); a worker starts: one "resolved"; nothing more while
nothing changes; the token never appears in the monitor's output or its log file."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from tests.alerts.hookd import Hook, hook  # noqa: F401 - a fixture
from tests.outbox.procs import Place, place_factory, wait_for  # noqa: F401 - a fixture
from tests.serving import start, tail
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.slow
TOKEN = "processtoken7f3e9a1c5b"


def test_worker_down_alerts_once_and_resolves_once_through_a_real_monitor(
    place_factory: Callable[..., Place],  # noqa: F811
    smtpd: SmtpServer,
    hook: Hook,  # noqa: F811
) -> None:
    place = place_factory(
        None,
        smtpd.port,
        POSTWARDEN_ALERT_URLS=hook.mattermost_url(TOKEN),
        POSTWARDEN_ALERT_RETRY_SECONDS="1",
        POSTWARDEN_PUBLIC_URL="https://pw.example.org",
    )
    hook.down()
    place.script("enqueue", "1")
    output = place.root / "monitor.out"
    monitor = start(
        [sys.executable, "-m", "postwarden", "monitor", "--source", "tests.alerts.fast_jobs:jobs"],
        {**place.environ(), "POSTWARDEN_PROCESS": "monitor"},
        place.root,
        output,
    )
    place.processes.append(monitor)
    wait_for(lambda: "alert not sent; will retry" in output.read_text(), "a failed first try")
    hook.up()
    [fired] = hook.wait_for(1)
    assert "Postwarden alert: Messages are waiting and no worker is running (queue.worker_down)" in fired.text
    assert "Console: https://pw.example.org/" in fired.text
    place.worker()
    got = hook.wait_for(2)
    assert (
        "Postwarden resolved: Messages are waiting and no worker is running (queue.worker_down)"
        in got[1].text
    )
    # the mail went, and the next looks change nothing
    wait_for(lambda: place.script("states")["states"] == {"sent": 1}, "the mail sent")
    runs = output.read_text().count('"job finished", "job": "alerts.evaluate"')
    wait_for(
        lambda: output.read_text().count('"job finished", "job": "alerts.evaluate"') >= runs + 3,
        "three more evaluations",
    )
    assert len(hook.received) == 2, hook.received
    assert monitor.poll() is None, tail(output)
    text = output.read_text() + "".join(
        p.read_text() for p in (place.root / "data" / "logs").glob("monitor-*")
    )
    assert TOKEN not in text
    assert "Traceback" not in text
