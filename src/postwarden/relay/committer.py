"""Group commit: one thread owns the database, every SMTP session awaits it.

A commit per message costs an fsync (SQLite with synchronous=FULL, PostgreSQL's WAL flush),
more than the relay's whole CPU budget per message (docs/performance.md).
So sessions do not commit: each hands its message to this thread and waits. The thread
takes everything that queued up while the previous transaction ran, writes it in ONE
transaction, and only then releases every waiting session, which answers 250. A
message is therefore durable before its 250 (issue #6). The batch grows with the load:
one message when one session sends; when several do, the thread waits a few
milliseconds (``LINGER``) for the others that are mid-message, as PostgreSQL's
``commit_delay`` does, because with N sessions each waiting for its own commit nothing
else would let two messages share one.

Reads (an API key, a recipient's policy) go through the same thread, answered as they
come (also while a batch gathers), because Django connections belong to a thread and
the event loop must never block on the database.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger("postwarden.relay")

Item = TypeVar("Item")
Result = TypeVar("Result")
T = TypeVar("T")

#: the most messages one transaction takes; more wait for the next one
MAX_BATCH = 500
#: seconds a batch waits for the sessions that are still sending their message (a
#: commit saved is worth far more than this latency; email is not interactive)
LINGER = 0.004


@dataclass(frozen=True, slots=True)
class _Write(Generic[Item]):
    item: Item
    future: asyncio.Future[Any]


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


_STOP = object()


class Activity:
    """How many sessions are between MAIL and the reply to their message: the most a
    batch can still gain by waiting. Changed on the event loop, read on the thread (an
    int read is atomic; being one off only costs a linger or a smaller batch)."""

    def __init__(self) -> None:
        self.in_transaction = 0

    def begin(self) -> None:
        self.in_transaction += 1

    def end(self) -> None:
        self.in_transaction = max(0, self.in_transaction - 1)

    def __call__(self) -> int:
        return self.in_transaction


class GroupCommitter(Generic[Item, Result]):
    """Runs ``write(items) -> results`` (one result per item, in order, in one
    transaction) on its own thread, for every item that is waiting.

    ``expected()`` says how many sessions are in a mail transaction: a batch waits up to
    ``linger`` seconds for that many items (never when it is 0). ``idle`` is called on
    the thread after each round and when nothing happened for ``idle_every`` seconds
    (settings refresh, broken connections). If ``write`` raises, every item of that batch
    gets the exception."""

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        idle: Callable[[], None] | None = None,
        idle_every: float = 1.0,
        max_batch: int = MAX_BATCH,
        expected: Callable[[], int] = lambda: 0,
        linger: float = LINGER,
        name: str = "relay-db",
    ) -> None:
        self._write = write
        self._expected = expected
        self._linger = linger
        self._idle = idle
        self._idle_every = idle_every
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: sizes of the latest batches written (the tests and the benchmark read them)
        self.batches: deque[int] = deque(maxlen=10_000)
        self.committed = 0
        #: seconds spent in ``write`` (the benchmark reports it per message)
        self.write_seconds = 0.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    async def commit(self, item: Item) -> Result:
        """Queue ``item`` for the next transaction; returns its result once committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(item, future))
        return await future

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the database thread (before the next batch) and return its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Call(fn, future))
        return await future

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then end the thread (waits up to ``timeout`` seconds)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self._idle_every)
            except queue.Empty:
                self._run_idle()
                continue
            writes, stopping = self._gather(job)
            if writes:
                self._settle(self._commit([w.item for w in writes], [w.future for w in writes]))
            if stopping:
                self._drain()
                return
            self._run_idle()

    def _gather(self, job: Any) -> tuple[list[_Write[Item]], bool]:
        """Collect one batch starting with ``job``; reads are answered on the way, so a
        session waiting for its RCPT answer is never stuck behind the linger."""
        writes: list[_Write[Item]] = []
        deadline = 0.0
        while True:
            if job is _STOP:
                return writes, True
            if isinstance(job, _Call):
                self._settle([_attempt(job.fn, job.future)])
            else:
                writes.append(job)
                deadline = deadline or time.monotonic() + self._linger
            job = self._next(writes, deadline)
            if job is None:
                return writes, False

    def _next(self, writes: list[_Write[Item]], deadline: float) -> Any:
        """The next job of this batch, or None when the batch should go now: it is full,
        every session in a mail transaction has joined, or the linger is over."""
        try:
            if not writes:
                return self._queue.get_nowait()
            if len(writes) >= self._max_batch or len(writes) >= self._expected():
                return None
            remaining = deadline - time.monotonic()
            return self._queue.get(timeout=remaining) if remaining > 0 else None
        except queue.Empty:
            return None

    def _drain(self) -> None:
        leftover: list[Any] = []
        while True:
            try:
                leftover.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for job in leftover:
            if isinstance(job, _Call):
                self._settle([_attempt(job.fn, job.future)])
        writes = [job for job in leftover if isinstance(job, _Write)]
        if writes:
            self._settle(self._commit([w.item for w in writes], [w.future for w in writes]))

    def _settle(self, settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
        if settled and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_settle, settled)

    def _commit(
        self, items: list[Item], futures: list[asyncio.Future[Any]]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        started = time.perf_counter()
        try:
            results = self._write(items)
        except Exception as error:  # every waiting session answers 451 and its app retries
            log.exception("relay batch of %d messages not stored", len(items))
            return [(future, None, error) for future in futures]
        finally:
            self.write_seconds += time.perf_counter() - started
        self.batches.append(len(items))
        self.committed += len(items)
        return [(future, result, None) for future, result in zip(futures, results, strict=True)]

    def _run_idle(self) -> None:
        if self._idle is None:
            return
        try:
            self._idle()
        except Exception:
            log.exception("relay database housekeeping failed")


def _attempt(
    fn: Callable[[], Any], future: asyncio.Future[Any]
) -> tuple[asyncio.Future[Any], Any, BaseException | None]:
    try:
        return future, fn(), None
    except Exception as error:
        return future, None, error


def _settle(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the event loop: wake every session of the round (one wake-up per round)."""
    for future, result, error in settled:
        if future.done():  # the session went away meanwhile (cancelled)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
