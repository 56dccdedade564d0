"""The monitor's loop: start each job when it is due and this process wins its lease,
each run in a thread of its own (a job that waits on a mailbox does not delay the
others), and record how it ended.

A job that raises is logged (its type, first line and where, redacted: no secret) and
recorded as failed; the other jobs go on. A run past its time limit cannot be stopped
from outside, so the monitor says so and returns a non-zero status: its supervisor
(``postwarden serve``, systemd) restarts it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connections
from django.utils import timezone

from postwarden.logs import redact
from postwarden.monitor import schedule
from postwarden.monitor.jobs import JobRun, PeriodicJob

log = logging.getLogger("postwarden.monitor")

#: seconds between looks at the schedule at most (another node's runs, changed intervals)
LOOK_EVERY = 5.0
#: seconds between looks at a stop request and the running jobs' time limits
TICK = 0.25
#: seconds a running job gets to finish after a stop was asked for
STOP_GRACE = 20.0
#: the exit status when a run overran its time limit
OVERRAN = 3


#: a URL's user part and everything after its host: web hook and notification URLs carry
#: their tokens there
_URL_TAIL = re.compile(r"(\b[a-z][\w+.-]*://)(?:[^/\s@]*@)?([^/\s?#@]*)[^\s]*", re.I)


@dataclass
class _Running:
    job: PeriodicJob
    started: datetime
    run: JobRun
    thread: threading.Thread
    error: str | None = None


def holder_id() -> str:
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def describe(exc: BaseException) -> str:
    """An exception in one line for the log and the schedule row: its type, the first line
    of its text and where it was raised; every registered secret and anything that looks
    like a credential masked."""
    from postwarden.core.replies.parse import redact as redact_credentials

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    text = f"{type(exc).__name__}: {lines[0] if lines else '(no details)'}{where}"
    return redact(_URL_TAIL.sub(r"\1\2/…", redact_credentials(text)))[:500]


class Monitor:
    def __init__(self, jobs: Sequence[PeriodicJob], holder: str | None = None) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"two jobs have the same name: {sorted(names)}")
        self.jobs = list(jobs)
        self.holder = holder or holder_id()
        self.running: dict[str, _Running] = {}
        #: how many runs this process started, per job (tests and the exit log read it)
        self.started: dict[str, int] = dict.fromkeys(names, 0)
        self._wake = threading.Event()

    def run(self, stop: threading.Event) -> int:
        """Until ``stop`` is set; returns the exit status."""
        schedule.ensure(
            (job.name for job in self.jobs), (job.name for job in self.jobs if not job.run_at_start)
        )
        log.info("monitor started", extra={"holder": self.holder, "jobs": [job.name for job in self.jobs]})
        status = 0
        next_look = 0.0
        while not stop.is_set():
            if self._overran():
                status = OVERRAN
                break
            now = time.monotonic()
            try:
                self._reap()
                if now >= next_look or self._wake.is_set():
                    self._wake.clear()
                    next_look = now + self._step()
            except DatabaseError as exc:
                # the database away (a restart, a failover): say so and look again later;
                # exiting would make the supervisor give up after a few quick restarts
                log.error("monitor cannot reach its schedule; trying again", extra={"error": describe(exc)})
                connections.close_all()
                next_look = now + LOOK_EVERY
            # a finished run wakes the loop (its job may be due again); stop and time
            # limits are looked at every TICK
            self._wake.wait(min(TICK, max(0.0, next_look - now)))
        self._stop()
        return status

    def _step(self) -> float:
        """Start what is due; returns the seconds until the next look."""
        now = timezone.now()
        idle = [job for job in self.jobs if job.name not in self.running]
        if not idle:
            return LOOK_EVERY
        slots = schedule.read(job.name for job in idle)
        wait = LOOK_EVERY
        for job in idle:
            every = job.every()
            slot = slots.get(job.name)
            due = slot.due_at(every) if slot else None
            if due is not None and due > now:
                wait = min(wait, (due - now).total_seconds())
                continue
            started = schedule.claim(job.name, self.holder, every, job.timeout, now)
            if started is not None:
                self._start(job, started)
        return max(0.05, wait)

    def _start(self, job: PeriodicJob, started: datetime) -> None:
        run = JobRun(job.name, deadline=time.monotonic() + job.timeout.total_seconds())
        thread = threading.Thread(target=self._run_one, args=(job, run), name=f"job-{job.name}", daemon=True)
        self.running[job.name] = _Running(job, started, run, thread)
        self.started[job.name] += 1
        log.info("job started", extra={"job": job.name})
        thread.start()

    def _run_one(self, job: PeriodicJob, run: JobRun) -> None:
        try:
            job.run(run)
        except Exception as exc:
            self.running[job.name].error = describe(exc)
        finally:
            connections.close_all()  # this thread's connections; a new thread opens its own
            self._wake.set()

    def _reap(self) -> None:
        for name, held in list(self.running.items()):
            if held.thread.is_alive():
                continue
            # recorded first: when the database is away, the run stays here to be recorded
            # at the next look (its lease holds meanwhile)
            schedule.finish(name, self.holder, held.started, held.error)
            del self.running[name]
            if held.error is not None:
                log.error("job failed", extra={"job": name, "error": held.error})
            else:
                log.info("job finished", extra={"job": name})

    def _overran(self) -> bool:
        now = time.monotonic()
        late = [held for held in self.running.values() if now > held.run.deadline and held.thread.is_alive()]
        for held in late:
            log.error(
                "job overran its time limit; the monitor exits to be restarted",
                extra={"job": held.job.name, "timeout_seconds": held.job.timeout.total_seconds()},
            )
        return bool(late)

    def _stop(self) -> None:
        for held in self.running.values():
            held.run.stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for held in self.running.values():
            held.thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self._reap()
        except DatabaseError as exc:
            log.error("monitor could not record its last runs", extra={"error": describe(exc)})
        if self.running:
            log.warning("jobs still running or unrecorded at exit", extra={"jobs": sorted(self.running)})
        log.info("monitor stopped", extra={"holder": self.holder, "runs": self.started})
