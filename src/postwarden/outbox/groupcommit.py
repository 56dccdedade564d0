"""Group commit: many callers, one transaction, one commit — the one way the API's request
threads and the relay's SMTP sessions write to the outbox.

A commit costs an fsync (SQLite WAL with synchronous=FULL: one per commit; PostgreSQL:
its WAL flush), more than the relay's whole CPU budget per message, and with SQLite only
one transaction writes at a time: request threads each opening their own write
transaction queue up on the database lock, and Python's sqlite3 waits for that lock in
SQLite's busy handler, which sleeps in growing steps (issue #7). So callers do not
commit on their own: each hands its job to the committer and waits. Whoever writes takes
everything queued (up to ``max_size`` units, always at least one job), runs ``write``
ONCE — one transaction for all of them —, and hands each caller its own result only
after that transaction committed (a relay session answers 250 only then: issue #6).

Two kinds of caller share one queue:

- Threads (:meth:`GroupCommitter.submit`: the web server's request threads). The first
  thread that finds nobody writing becomes the *leader* and writes on its own thread and
  database connection, so a lone request never hands its work to another thread. Threads
  that arrived meanwhile are the next batch; when the leader's own job is done it passes
  the lead to the oldest of them, so no thread leads for ever.
- Coroutines (:meth:`GroupCommitter.commit` and :meth:`GroupCommitter.call`: the relay's
  sessions). An event loop must never block on the database, so a writer thread of the
  committer's own (:meth:`GroupCommitter.start`) leads for them, and also runs their reads
  (an API key, a recipient's policy) as they come, between and while batches gather,
  because a Django connection belongs to one thread.

What differs between the callers is a parameter that says why (see ``__init__``).

Guarantees (tests/outbox/test_groupcommit.py, tests/relay/test_committer.py):
- A job's result (or its exception) is handed back only after the transaction holding
  it committed. If the commit fails, every job of the batch gets the error.
- One job's failure is that job's alone: ``write`` returns an exception in its place; an
  ``alone_on`` error out of a batch of several has each job written on its own.
- A thread leader that dies (even ``KeyboardInterrupt``) wakes its batch with the error
  and passes the lead on; nobody waits for ever.
- :meth:`GroupCommitter.stop` writes what is queued before the writer thread ends; a job
  handed in after that is refused at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger("postwarden.outbox")

Job = TypeVar("Job")
Result = TypeVar("Result")
T = TypeVar("T")

#: units (messages) one transaction takes; a single job bigger than this still goes alone
MAX_SIZE = 500

#: one settled job for the event loop: (its future, its result, its error)
_Settled = tuple[asyncio.Future[Any], Any, BaseException | None]


class Activity:
    """How many callers are on their way to :meth:`GroupCommitter.commit` (relay sessions
    between MAIL and the reply to their message): the most a batch can still gain by
    waiting. Changed on the event loop, read on the writer thread (an int read is
    atomic; being one off only costs a linger or a smaller batch)."""

    def __init__(self) -> None:
        self.in_transaction = 0

    def begin(self) -> None:
        self.in_transaction += 1

    def end(self) -> None:
        self.in_transaction = max(0, self.in_transaction - 1)

    def __call__(self) -> int:
        return self.in_transaction


class _Slot:
    """One waiting job (or read, when ``call`` is set). A thread waits on ``woken``; a
    coroutine on ``future``."""

    __slots__ = ("call", "done", "error", "future", "job", "lead", "result", "woken")

    def __init__(
        self,
        job: Any,
        *,
        future: asyncio.Future[Any] | None = None,
        call: Callable[[], Any] | None = None,
    ) -> None:
        self.job = job
        self.call = call
        self.future = future
        self.woken = threading.Event() if future is None else None
        self.done = False
        #: set instead of ``done`` when this thread must take the lead
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None


def _one(_job: object) -> int:
    return 1


def _nobody() -> int:
    return 0


class GroupCommitter(Generic[Job, Result]):
    """Runs ``write(jobs)`` for every job waiting, one call (one transaction) per batch.

    ``write`` returns one entry per job, in order: the job's result, or the exception
    that job alone must raise. An exception raised BY ``write`` fails the whole batch
    (nothing of it was committed).

    The rules that differ between callers:

    - ``size(job)``: how many units (messages) a job adds to a batch, bounded by
      ``max_size``: an API request may carry 500 messages, a relay session one.
    - ``expected()`` and ``linger``: how many callers are known to be on their way (the
      relay counts sessions in a mail transaction: :class:`Activity`), and how many
      seconds a batch waits for them, as PostgreSQL's ``commit_delay`` does: with N
      sessions each waiting for its own commit nothing else would let two messages share
      one. A caller that cannot be counted (a web request) is never waited for
      (``expected`` 0): a lone request never waits for company.
    - ``alone_on``: the errors out of ``write`` that may be one job's fault (a constraint
      checked at commit; a value the database will not take): the batch is then written
      again one job per transaction, so only the job at fault fails. Errors that would
      fail every job alike (a lock timeout, a full disk) are better not retried one
      lock wait after the other.
    - ``idle`` (writer thread only): housekeeping on the writer thread after each round
      and when nothing happened for ``idle_every`` seconds (settings refresh, broken
      connections).
    """

    def __init__(
        self,
        write: Callable[[Sequence[Job]], Sequence[Result | BaseException]],
        *,
        size: Callable[[Job], int] = _one,
        max_size: int = MAX_SIZE,
        expected: Callable[[], int] = _nobody,
        linger: float = 0.0,
        alone_on: tuple[type[BaseException], ...] = (),
        idle: Callable[[], None] | None = None,
        idle_every: float = 1.0,
        name: str = "group-commit",
    ) -> None:
        self._write = write
        self._size = size
        self._max_size = max_size
        self._expected = expected
        self._linger = linger
        self._alone_on = alone_on
        self._idle = idle
        self._idle_every = idle_every
        self.name = name
        self._lock = threading.Condition(threading.Lock())
        self._queue: deque[_Slot] = deque()
        self._leading = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: sizes (jobs) of the latest batches written; the tests and the benchmark read them
        self.batches: deque[int] = deque(maxlen=10_000)
        #: jobs committed so far
        self.committed = 0
        #: seconds spent in ``write`` (the relay's benchmark reports it per message)
        self.write_seconds = 0.0

    @property
    def waiting(self) -> int:
        """Jobs and reads queued, not yet taken into a batch."""
        return len(self._queue)

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was called: what is queued is written, nothing new is taken."""
        return self._stopping

    # ------------------------------------------------------------------ threads

    def submit(self, job: Job) -> Result:
        """Queue ``job`` for the next transaction and wait until it is committed; its
        result, or raises its own exception (or the batch's, when the commit failed)."""
        slot = _Slot(job)
        woken = slot.woken
        assert woken is not None
        lead = self._enqueue(slot)
        if not lead:
            woken.wait()
            lead = slot.lead
        if lead:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        result: Result = slot.result
        return result

    # --------------------------------------------------------------- coroutines

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the writer thread that serves :meth:`commit` and :meth:`call` on ``loop``."""
        self._loop = loop
        self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
        self._thread.start()

    async def commit(self, job: Job) -> Result:
        """Queue ``job`` for the next transaction; its result once committed."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._enqueue(_Slot(job, future=future), thread=False)
        return await future

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the writer thread (before the next batch is written) and return
        its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Slot(None, future=future, call=fn), thread=False)
        return await future

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the writer thread (waits up to ``timeout`` s)."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the queue

    def _enqueue(self, slot: _Slot, *, thread: bool = True) -> bool:
        """Queue ``slot``; True when the calling thread must lead (nobody writes)."""
        with self._lock:
            if not thread and (self._stopping or self._thread is None):
                raise RuntimeError(f"{self.name}: not running (start() was not called, or stop() was)")
            self._queue.append(slot)
            # a batch that lingers for company, or the idle writer thread, wakes up
            self._lock.notify_all()
            if not thread or self._leading:
                return False
            self._leading = True
            return True

    def _serve(self) -> None:
        """The writer thread: lead whenever something is queued and nobody writes."""
        while True:
            with self._lock:
                if self._leading or not self._queue:
                    if self._stopping and not self._queue:
                        return
                    self._lock.wait(self._idle_every)
                lead = bool(self._queue) and not self._leading
                self._leading = self._leading or lead
            if lead:
                self._lead(None)
            else:
                self._run_idle()

    def _lead(self, mine: _Slot | None) -> None:
        """Write batches until ``mine`` is done (a thread's own job) or, for the writer
        thread (``mine`` None, housekeeping after each round), until nothing is queued;
        then pass the lead on."""
        try:
            while True:
                self._round()
                if mine is None:
                    self._run_idle()
                with self._lock:
                    if mine.done if mine is not None else not self._queue:
                        self._hand_over()
                        return
        except BaseException:
            with self._lock:
                if mine is not None and not mine.done and mine in self._queue:
                    self._queue.remove(mine)
                self._hand_over()
            raise

    def _hand_over(self) -> None:
        """(Under the lock.) The oldest waiting thread leads next; a coroutine's job is
        the writer thread's to take; nothing queued: nobody leads."""
        head = self._queue[0] if self._queue else None
        if head is not None and head.woken is not None:
            head.lead = True
            head.woken.set()
            return
        self._leading = False
        if head is not None:
            self._lock.notify_all()

    def _round(self) -> None:
        """Answer the reads at the head of the queue, gather one batch and write it."""
        batch = self._gather()
        if batch:
            self._settle(self._commit(batch))

    def _gather(self) -> list[_Slot]:
        """The oldest jobs, up to ``max_size`` units (at least one job); reads met on the
        way are answered at once, so a session waiting for its RCPT answer is never stuck
        behind the linger. Waits up to ``linger`` for the callers ``expected`` says are on
        their way."""
        batch: list[_Slot] = []
        units = 0
        deadline = 0.0
        while True:
            calls: list[_Slot] = []
            full = False
            with self._lock:
                while self._queue:
                    head = self._queue[0]
                    if head.call is not None:
                        calls.append(self._queue.popleft())
                        continue
                    more = self._size(head.job)
                    full = bool(batch) and units + more > self._max_size
                    if full:
                        break
                    batch.append(self._queue.popleft())
                    units += more
                if not calls:
                    if not batch or full or self._stopping or units >= self._max_size:
                        return batch
                    if len(batch) >= self._expected():
                        return batch
                    deadline = deadline or time.monotonic() + self._linger
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return batch
                    self._lock.wait(remaining)
                    continue
            self._settle([_answer(call) for call in calls])

    # ------------------------------------------------------------------ writing

    def _commit(self, batch: list[_Slot]) -> list[_Slot]:
        """Write ``batch``; every slot gets its result or error (``done``)."""
        jobs = [slot.job for slot in batch]
        split_on = self._alone_on if len(jobs) > 1 else ()
        try:
            results = self._write_batch(jobs)
        except split_on as error:
            why = type(error).__name__
            log.warning("%s: a batch of %d jobs failed (%s); writing each alone", self.name, len(jobs), why)
            results = [self._write_alone(job) for job in jobs]
        except Exception as error:  # every job of the batch gets it: nothing was committed
            log.exception("%s: a batch of %d jobs was not committed", self.name, len(jobs))
            results = [error] * len(jobs)
        except BaseException as error:  # KeyboardInterrupt …: wake the batch, then end
            self._settle(_fill(batch, [error] * len(jobs)))
            raise
        return _fill(batch, results)

    def _write_batch(self, jobs: list[Any]) -> Sequence[Any]:
        started = time.perf_counter()
        try:
            results = self._write(jobs)
        finally:
            self.write_seconds += time.perf_counter() - started
        if len(results) != len(jobs):
            raise RuntimeError(f"write returned {len(results)} results for {len(jobs)} jobs")
        self.batches.append(len(jobs))
        self.committed += len(jobs)
        return results

    def _write_alone(self, job: Any) -> Any:
        try:
            return self._write_batch([job])[0]
        except Exception as error:
            log.exception("%s: a job was not committed on its own", self.name)
            return error

    def _settle(self, slots: list[_Slot]) -> None:
        """Wake every settled caller: a thread by its event, the coroutines with one
        wake-up of their event loop per round."""
        settled: list[_Settled] = []
        for slot in slots:
            if slot.woken is not None:
                slot.woken.set()
            elif slot.future is not None:
                settled.append((slot.future, slot.result, slot.error))
        loop = self._loop
        if settled and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_wake, settled)

    def _run_idle(self) -> None:
        if self._idle is None:
            return
        try:
            self._idle()
        except Exception:
            log.exception("%s: database housekeeping failed", self.name)


def _fill(batch: list[_Slot], results: Sequence[Any]) -> list[_Slot]:
    for slot, result in zip(batch, results, strict=True):
        if isinstance(result, BaseException):
            slot.error = result
        else:
            slot.result = result
        slot.done = True
    return batch


def _answer(slot: _Slot) -> _Slot:
    assert slot.call is not None
    try:
        slot.result = slot.call()
    except Exception as error:
        slot.error = error
    slot.done = True
    return slot


def _wake(settled: list[_Settled]) -> None:
    """On the event loop: wake every coroutine of the round."""
    for future, result, error in settled:
        if future.done():  # the session went away meanwhile (cancelled)
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
