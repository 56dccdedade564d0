"""Jobs for ``postwarden monitor --source tests.monitor.jobs_for_tests:jobs`` in the
process tests: each run appends a line to the file MONITOR_TEST_LOG names (O_APPEND: the
processes' lines never mix), so the test reads who ran what, when."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from postwarden.monitor.jobs import JobRun, PeriodicJob, fixed


def _record(run: JobRun) -> None:
    line = f"{run.name} {os.getpid()} {time.time():.3f}\n"
    fd = os.open(os.environ["MONITOR_TEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _tick(run: JobRun) -> None:
    _record(run)


def _crash(run: JobRun) -> None:
    _record(run)
    raise RuntimeError(f"cannot reach mmost://alerts.example/{os.environ['MONITOR_TEST_SECRET']}")


def jobs() -> list[PeriodicJob]:
    every = fixed(timedelta(seconds=float(os.environ.get("MONITOR_TEST_EVERY", "3600"))))
    return [
        PeriodicJob("test.tick", _tick, every),
        PeriodicJob("test.crash", _crash, every),
        PeriodicJob("test.later", _tick, fixed(timedelta(hours=1)), run_at_start=False),
    ]
