"""Group commit for threaded callers (the web server's request threads): many requests,
one transaction, one commit.

A commit costs an fsync (SQLite WAL with synchronous=FULL: one per commit; PostgreSQL:
its WAL flush), and with SQLite only one transaction writes at a time: sixteen request
threads each opening their own write transaction queue up on the database lock, and
Python's sqlite3 waits for that lock in SQLite's busy handler, which sleeps in growing
steps — a request could wait seconds (issue #7).

So request threads do not open write transactions of their own. Each hands its prepared
work to :meth:`GroupCommitter.submit` and waits. The first thread that finds nobody
writing becomes the *leader*: it takes everything queued (up to ``max_size`` units,
always at least one job), runs ``write`` on its own thread and database connection —
ONE transaction for all of them —, hands each waiting thread its own result, and
wakes it. Threads that arrived meanwhile are the next batch: when the leader's own job
is done it passes the lead to the first of them, so no thread ever leads for ever and
every queued job is taken in arrival order. The batch grows with the load by itself
(what queued during the previous commit), like the relay's asyncio committer
(relay/committer.py), without a linger: a lone request never waits for company.

Guarantees (tests/outbox/test_groupcommit.py):
- ``submit`` returns only after the transaction holding its job committed; what it
  returns is that job's own result. If the commit fails, every job of the batch raises.
- One job's failure is that job's alone: ``write`` returns an exception in its place
  (see :func:`postwarden.outbox.services` for how a batch isolates a failing item).
- A leader that dies (an exception out of ``write``, even ``KeyboardInterrupt``) wakes
  its batch with the error and passes the lead on; nobody waits for ever.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")

#: units (messages) one transaction takes; a single job bigger than this still goes alone
MAX_SIZE = 500


class _Slot(Generic[Job, Result]):
    """One waiting job: filled in by the leader, then its event is set."""

    __slots__ = ("done", "error", "job", "lead", "result", "woken")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.woken = threading.Event()
        self.done = False
        #: set instead of ``done`` when this thread must take the lead
        self.lead = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommitter(Generic[Job, Result]):
    """Runs ``write(jobs)`` for every job waiting, one call (one transaction) per batch.

    ``write`` returns one entry per job, in order: the job's result, or the exception
    that job alone must raise. An exception raised BY ``write`` fails the whole batch
    (nothing of it was committed). ``size(job)`` is how many units (messages) a job
    adds to a batch, bounded by ``max_size``."""

    def __init__(
        self,
        write: Callable[[Sequence[Job]], Sequence[Result | BaseException]],
        *,
        size: Callable[[Job], int] = lambda _job: 1,
        max_size: int = MAX_SIZE,
    ) -> None:
        self._write = write
        self._size = size
        self._max_size = max_size
        self._lock = threading.Lock()
        self._queue: deque[_Slot[Job, Result]] = deque()
        self._leading = False
        #: sizes (jobs) of the latest batches written; the tests and the benchmark read them
        self.batches: deque[int] = deque(maxlen=10_000)

    def submit(self, job: Job) -> Result:
        """Queue ``job`` for the next transaction and wait until it is committed; its
        result, or raises its own exception (or the batch's, when the commit failed)."""
        slot: _Slot[Job, Result] = _Slot(job)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.woken.wait()
            lead = slot.lead
        if lead:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set with done

    def _lead(self, mine: _Slot[Job, Result]) -> None:
        """Write batches until ``mine`` is done, then pass the lead on (or drop it)."""
        try:
            while not mine.done:
                self._run(self._take())
        finally:
            with self._lock:
                if not mine.done:  # a BaseException (KeyboardInterrupt …) is on its way out
                    with contextlib.suppress(ValueError):
                        self._queue.remove(mine)
                if self._queue:
                    heir = self._queue[0]
                    heir.lead = True
                    heir.woken.set()
                else:
                    self._leading = False

    def _take(self) -> list[_Slot[Job, Result]]:
        """The oldest jobs, up to ``max_size`` units (at least one job)."""
        with self._lock:
            batch = [self._queue.popleft()]
            total = self._size(batch[0].job)
            while self._queue and total + self._size(self._queue[0].job) <= self._max_size:
                total += self._size(self._queue[0].job)
                batch.append(self._queue.popleft())
        return batch

    def _run(self, batch: list[_Slot[Job, Result]]) -> None:
        """Write one batch and wake its threads. An exception out of ``write`` is every
        job's answer (the transaction did not commit); the leader carries on with its
        own job unless it was a BaseException, which ends the leader too."""
        try:
            results = self._write([slot.job for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"write returned {len(results)} results for {len(batch)} jobs")
        except Exception as error:
            for slot in batch:
                self._finish(slot, None, error)
            return
        except BaseException as error:
            for slot in batch:
                self._finish(slot, None, error)
            raise
        self.batches.append(len(batch))
        for slot, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self._finish(slot, None, result)
            else:
                self._finish(slot, result, None)

    @staticmethod
    def _finish(slot: _Slot[Job, Result], result: Result | None, error: BaseException | None) -> None:
        slot.result, slot.error, slot.done = result, error, True
        slot.woken.set()
