"""How a worker runs: its options, its name, and the process-wide settings it needs."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import close_old_connections

from postwarden import collector

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    #: recipients per claim
    batch_size: int = 200
    #: seconds a claim lasts unrenewed before another worker may take it back (None:
    #: POSTWARDEN_WORKER_TIMEOUT); the heartbeat renews it
    lease: float | None = None
    #: deliveries a sender takes from the queue for one connection at a time (one write
    #: and one round trip each with send_many); a stop waits for those it has taken
    deliveries_per_send: int = 8
    flush_interval: float = 0.1
    flush_rows: int = 500
    #: seconds to wait when nothing was due
    idle_sleep: float = 0.5
    heartbeat_interval: float = 5.0
    settings_interval: float = 2.0
    #: first retry wait in seconds (None: the policy's default, one minute)
    retry_base: float | None = None
    worker_id: str | None = None


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{os.urandom(2).hex()}"


def in_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    close_old_connections()
    return fn(*args, **kwargs)


def lighten_logging() -> None:
    """Skip what every log record gathers and our JSON lines never show: the caller's file
    and line (a stack walk), the thread, process and multiprocessing names. The logging
    documentation's "Optimization" section names these switches; at a line per attempt
    they are a tenth of the worker's time."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def prepare_process() -> None:
    """What a worker process sets once, before its loop: lighter log records, and the
    start-up's objects out of the garbage collector's sight (:mod:`postwarden.collector`)."""
    lighten_logging()
    collector.settle()
