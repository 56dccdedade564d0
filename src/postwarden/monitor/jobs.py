"""What a periodic job is: a name, how often, a time limit, and the function to run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class JobRun:
    """Handed to a job's function: a job that waits (on a mailbox, an endpoint) looks at
    :meth:`stopping` or waits with :meth:`wait`, so that a shutdown or its time limit ends
    it early."""

    name: str
    #: time.monotonic() by which the run must have returned
    deadline: float
    stop: threading.Event = field(default_factory=threading.Event)

    def stopping(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (never past the deadline); True when the run should end."""
        self.stop.wait(max(0.0, min(seconds, self.deadline - time.monotonic())))
        return self.stopping()


@dataclass(frozen=True)
class PeriodicJob:
    """A periodic job. ``name`` is its row in the schedule (stable across versions);
    ``every`` is read at each look, so a setting can change it without a restart;
    ``timeout`` bounds a run: past it the monitor exits and is restarted (a thread cannot
    be stopped from outside), and the lease outlives it so that no other node starts the
    job meanwhile."""

    name: str
    run: Callable[[JobRun], None]
    every: Callable[[], timedelta]
    timeout: timedelta = timedelta(minutes=5)
    #: False: the first run comes one interval after the job is first seen (a whole
    #: doctor run at every new install's start is not wanted), not at once
    run_at_start: bool = True

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise ValueError(f"a job's name must have 1 to 100 characters: {self.name!r}")
        if self.timeout <= timedelta(0):
            raise ValueError(f"job {self.name}: the timeout must be positive")


def fixed(interval: timedelta) -> Callable[[], timedelta]:
    """``every`` for a job whose interval no setting changes."""
    return lambda: interval
