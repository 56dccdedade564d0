"""The monitor's loop in this process (monitor/runner.py): jobs run on their schedule, one
that raises is logged without its secret and the others go on, one past its time limit
makes the monitor exit to be restarted."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest

from postwarden.monitor.jobs import JobRun, PeriodicJob, fixed
from postwarden.monitor.models import MonitorJob
from postwarden.monitor.runner import OVERRAN, Monitor

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "tok-9f8e7d6c5b4a"
WAIT = 30.0


def run_until(monitor: Monitor, done: threading.Event) -> int:
    stop = threading.Event()
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(monitor.run(stop)))
    thread.start()
    try:
        assert done.wait(WAIT), "the jobs did not run"
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    return status[0]


def test_a_failing_job_is_logged_without_its_secret_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: Counter[str] = Counter()
    done = threading.Event()
    lock = threading.Lock()

    def count(name: str) -> None:
        with lock:
            runs[name] += 1
            if runs["ok"] >= 3 and runs["crash"] >= 3:
                done.set()

    def ok(run: JobRun) -> None:
        count("ok")

    def crash(run: JobRun) -> None:
        count("crash")
        raise ConnectionError(
            f"POST to https://hooks.example/services/{SECRET} refused\nsecond line {SECRET}"
        )

    every = fixed(timedelta(milliseconds=100))
    caplog.set_level(logging.INFO, logger="postwarden.monitor")
    assert run_until(Monitor([PeriodicJob("ok", ok, every), PeriodicJob("crash", crash, every)]), done) == 0
    failed = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert failed
    assert all(r.__dict__["job"] == "crash" for r in failed)
    error = failed[0].__dict__["error"]
    assert error.startswith("ConnectionError: POST to https://hooks.example/… refused (at test_runner.py:")
    assert SECRET not in caplog.text
    rows = {row.name: row for row in MonitorJob.objects.all()}
    assert rows["crash"].last_outcome == "failed"
    assert rows["crash"].failures >= 3
    assert SECRET not in rows["crash"].last_error
    assert (rows["ok"].last_outcome, rows["ok"].failures) == ("ok", 0)


def test_a_run_past_its_time_limit_makes_the_monitor_exit(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(run: JobRun) -> None:
        entered.set()
        release.wait(WAIT)  # ignores run.stopping(): a stuck call

    job = PeriodicJob("hang", hang, fixed(timedelta(hours=1)), timeout=timedelta(milliseconds=300))
    stop = threading.Event()
    caplog.set_level(logging.INFO, logger="postwarden.monitor")
    try:
        import postwarden.monitor.runner as runner

        grace, runner.STOP_GRACE = runner.STOP_GRACE, 0.1
        try:
            assert Monitor([job]).run(stop) == OVERRAN
        finally:
            runner.STOP_GRACE = grace
    finally:
        release.set()
    assert entered.is_set()
    assert any("overran its time limit" in r.getMessage() for r in caplog.records)
    # the lease is not given back: no other node starts the job while the stuck run may go on
    assert MonitorJob.objects.get(name="hang").lease_until is not None


def test_a_stop_is_passed_on_to_a_waiting_job() -> None:
    entered = threading.Event()
    ended: list[bool] = []

    def wait(run: JobRun) -> None:
        entered.set()
        ended.append(run.wait(WAIT))

    done = entered
    assert run_until(Monitor([PeriodicJob("wait", wait, fixed(timedelta(hours=1)))]), done) == 0
    assert ended == [True]
    row = MonitorJob.objects.get(name="wait")
    assert (row.last_outcome, row.lease_until) == ("ok", None)


def test_two_jobs_with_one_name_are_refused() -> None:
    every = fixed(timedelta(minutes=1))
    with pytest.raises(ValueError, match="same name"):
        Monitor([PeriodicJob("a", lambda run: None, every), PeriodicJob("a", lambda run: None, every)])
