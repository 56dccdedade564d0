"""The group commit (outbox/groupcommit.py) and the enqueue path through it: concurrent
requests share one transaction, each gets its own result only once committed, one
request's failure stays its own, and a crash mid-transaction leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from postwarden.accounts.models import ApiKey
from postwarden.outbox.groupcommit import GroupCommitter
from postwarden.outbox.models import Message, Recipient
from postwarden.outbox.submission import Enqueued, Outgoing, enqueue_many
from tests.factories import make_settings

ROOT = Path(__file__).resolve().parents[2]
#: seconds any thread or process of these tests may take
BOUND = 30.0


class Gate:
    """A ``write`` for the committer that holds its first call until ``release()``, so
    that the other threads queue up behind it, and records every batch it was given."""

    def __init__(self, answer: Callable[[int], Any] = lambda job: job * 10) -> None:
        self.answer = answer
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.batches: list[list[int]] = []

    def release(self) -> None:
        self.opened.set()

    def __call__(self, jobs: Sequence[int]) -> list[Any]:
        self.batches.append(list(jobs))
        self.entered.set()
        assert self.opened.wait(BOUND)
        return [self.answer(job) for job in jobs]


def run_threads(count: int, target: Callable[[int], Any]) -> tuple[dict[int, Any], dict[int, BaseException]]:
    """``target(i)`` on ``count`` threads; their results and exceptions by ``i``."""
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}

    def run(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as error:
            errors[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


def queue_behind_first(committer: GroupCommitter[int, Any], gate: Gate, jobs: list[int]) -> Any:
    """Submit ``jobs[0]`` (which holds the write), then the others once it writes; wait
    until all are queued, then open the gate. Returns :func:`run_threads`' answer."""

    def target(i: int) -> Any:
        if i > 0:
            assert gate.entered.wait(BOUND)
        return committer.submit(jobs[i])

    def opener() -> None:
        assert gate.entered.wait(BOUND)
        for _ in range(int(BOUND * 1000)):
            if committer.waiting == len(jobs) - 1:  # every other job is waiting
                break
            threading.Event().wait(0.001)
        gate.release()

    helper = threading.Thread(target=opener)
    helper.start()
    answer = run_threads(len(jobs), target)
    helper.join(BOUND)
    return answer


def test_it_answers_a_lone_job_with_its_own_result_in_a_batch_of_one() -> None:
    gate = Gate()
    gate.release()
    committer: GroupCommitter[int, int] = GroupCommitter(gate)
    assert committer.submit(7) == 70
    assert gate.batches == [[7]]
    assert list(committer.batches) == [1]


def test_it_writes_the_jobs_that_queued_meanwhile_in_one_batch_each_getting_its_own_result() -> None:
    gate = Gate()
    committer: GroupCommitter[int, int] = GroupCommitter(gate)
    results, errors = queue_behind_first(committer, gate, list(range(1, 9)))
    assert errors == {}
    assert results == {i: (i + 1) * 10 for i in range(8)}
    assert gate.batches[0] == [1]
    assert sorted(gate.batches[1]) == [2, 3, 4, 5, 6, 7, 8]
    assert len(gate.batches) == 2


def test_it_bounds_a_batch_by_the_size_of_its_jobs() -> None:
    gate = Gate()
    committer: GroupCommitter[int, int] = GroupCommitter(gate, size=lambda job: job, max_size=10)
    results, errors = queue_behind_first(committer, gate, [1, 4, 4, 4, 4])
    assert errors == {}
    assert results == {0: 10, 1: 40, 2: 40, 3: 40, 4: 40}
    assert gate.batches == [[1], [4, 4], [4, 4]]


def test_it_fails_only_the_job_whose_result_is_an_exception() -> None:
    def answer(job: int) -> Any:
        return ValueError(f"job {job} is bad") if job == 3 else job * 10

    gate = Gate(answer)
    committer: GroupCommitter[int, int] = GroupCommitter(gate)
    results, errors = queue_behind_first(committer, gate, [1, 2, 3, 4])
    assert results == {0: 10, 1: 20, 3: 40}
    assert list(errors) == [2]
    assert str(errors[2]) == "job 3 is bad"


def test_it_fails_the_whole_batch_when_write_raises_and_keeps_working_after() -> None:
    calls: list[list[int]] = []

    def write(jobs: Sequence[int]) -> list[int]:
        calls.append(list(jobs))
        if len(calls) == 1:
            raise RuntimeError("the commit failed")
        return [job for job in jobs]

    committer: GroupCommitter[int, int] = GroupCommitter(write)
    with pytest.raises(RuntimeError, match="the commit failed"):
        committer.submit(1)
    assert committer.submit(2) == 2
    assert calls == [[1], [2]]


def test_it_wakes_every_waiting_thread_when_the_leader_dies() -> None:
    gate = Gate(lambda job: job)
    calls = 0

    def write(jobs: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # not an Exception: it ends the leading thread
        return gate(jobs)

    committer: GroupCommitter[int, int] = GroupCommitter(write)
    results, errors = queue_behind_first(committer, gate, [1, 2, 3])
    assert results == {0: 1}
    assert sorted(errors) == [1, 2]
    assert all(isinstance(e, KeyboardInterrupt) for e in errors.values())
    gate.batches.clear()
    assert committer.submit(4) == 4  # the lead was handed back


def test_it_writes_each_job_alone_after_an_error_that_may_be_one_jobs_fault() -> None:
    """``alone_on``: a batch that raises such an error is written again one job per
    ``write``, so only the job at fault fails; other errors fail the batch as a whole."""
    gate = Gate()
    written: list[list[int]] = []

    def write(jobs: Sequence[int]) -> list[int]:
        if 3 in jobs:
            raise LookupError("job 3 breaks the transaction")
        if len(jobs) > 1 and 4 in jobs:
            raise ValueError("not one job's fault")
        written.append(list(jobs))
        return gate(jobs)

    committer: GroupCommitter[int, int] = GroupCommitter(write, alone_on=(LookupError,))
    results, errors = queue_behind_first(committer, gate, [1, 2, 3, 5])
    assert results == {0: 10, 1: 20, 3: 50}
    assert list(errors) == [2]
    assert isinstance(errors[2], LookupError)
    assert written == [[1], [2], [5]]  # the batch [2, 3, 5] failed, then one by one
    assert list(committer.batches) == [1, 1, 1]

    gate = Gate()
    committer = GroupCommitter(write, alone_on=(LookupError,))
    results, errors = queue_behind_first(committer, gate, [1, 2, 4])
    assert results == {0: 10}
    assert sorted(errors) == [1, 2]
    assert all(isinstance(e, ValueError) for e in errors.values())


def test_threads_and_coroutines_share_one_batch_and_each_gets_its_own_result() -> None:
    """One committer for both kinds of caller: while the writer thread is busy (a read),
    a coroutine's job and a thread's job queue up and are written in ONE batch."""
    batches: list[list[str]] = []
    writers: set[str] = set()

    def write(jobs: Sequence[str]) -> list[str]:
        writers.add(threading.current_thread().name)
        batches.append(list(jobs))
        return [f"stored {job}" for job in jobs]

    reading, release = threading.Event(), threading.Event()

    def slow_read() -> str:
        reading.set()
        assert release.wait(BOUND)
        return "read"

    async def run() -> tuple[str, str, str]:
        committer: GroupCommitter[str, str] = GroupCommitter(write, name="writer")
        committer.start(asyncio.get_running_loop())
        read = asyncio.ensure_future(committer.call(slow_read))
        assert await asyncio.to_thread(reading.wait, BOUND)
        from_loop = asyncio.ensure_future(committer.commit("session"))
        from_thread = asyncio.ensure_future(asyncio.to_thread(committer.submit, "request"))
        for _ in range(int(BOUND * 1000)):
            if committer.waiting == 2:
                break
            await asyncio.sleep(0.001)
        release.set()
        answers = await asyncio.gather(read, from_loop, from_thread)
        await asyncio.to_thread(committer.stop)
        return answers[0], answers[1], answers[2]

    assert asyncio.run(run()) == ("read", "stored session", "stored request")
    assert batches == [["session", "request"]]
    assert writers == {"writer"}


def test_it_refuses_a_coroutines_job_when_no_writer_thread_runs() -> None:
    async def run() -> None:
        committer: GroupCommitter[str, str] = GroupCommitter(lambda jobs: list(jobs))
        with pytest.raises(RuntimeError, match="not running"):
            await committer.commit("before start")
        committer.start(asyncio.get_running_loop())
        assert await committer.commit("running") == "running"
        await asyncio.to_thread(committer.stop)
        with pytest.raises(RuntimeError, match="not running"):
            await committer.commit("after stop")

    asyncio.run(run())


@pytest.mark.django_db(transaction=True)
def test_it_commits_concurrent_requests_each_with_its_own_rows() -> None:
    settings = make_settings()

    def request(i: int) -> Enqueued:
        try:
            [result] = enqueue_many(
                [Outgoing(to=[f"user{i}@example.net", f"copy{i}@example.org"], subject=f"n{i}", text="x")],
                settings=settings,
                source="api",
            )
            assert isinstance(result, Enqueued)
            return result
        finally:
            connection.close()

    results, errors = run_threads(12, request)
    assert errors == {}
    assert Message.objects.count() == 12
    for i, result in results.items():
        message = Message.objects.get(pk=result.pk)
        assert message.subject == f"n{i}"
        assert [r.address for r in result.recipients] == [f"user{i}@example.net", f"copy{i}@example.org"]
        assert sorted(Recipient.objects.filter(message=message).values_list("address", "state")) == [
            (f"copy{i}@example.org", "queued"),
            (f"user{i}@example.net", "queued"),
        ]


@pytest.mark.django_db(transaction=True)
def test_it_answers_the_same_idempotency_key_from_two_requests_with_one_message() -> None:
    settings = make_settings()
    _, _plain = ApiKey.issue("app", ["send"])
    key = ApiKey.objects.get()

    def request(i: int) -> Enqueued:
        try:
            [result] = enqueue_many(
                [Outgoing(to=["a@example.net"], subject="once", text="x", idempotency_key="order-1")],
                settings=settings,
                api_key=key,
            )
            assert isinstance(result, Enqueued)
            return result
        finally:
            connection.close()

    results, errors = run_threads(6, request)
    assert errors == {}
    assert Message.objects.count() == 1
    assert {r.public_id for r in results.values()} == {Message.objects.get().public_id}
    assert sorted(r.duplicate for r in results.values()) == [False] + [True] * 5


@pytest.mark.django_db(transaction=True)
def test_it_keeps_the_other_requests_when_one_cannot_be_committed() -> None:
    """An API key deleted while its request is in flight: its foreign key fails at
    COMMIT (SQLite checks deferred keys there), which must not take the others down."""
    settings = make_settings()
    gone = ApiKey(pk=987654, name="deleted meanwhile", prefix="gone", key_hash="0" * 64)

    def request(i: int) -> list[Any]:
        try:
            return list(
                enqueue_many(
                    [Outgoing(to=[f"user{i}@example.net"], subject=f"n{i}", text="x")],
                    settings=settings,
                    api_key=gone if i == 3 else None,
                )
            )
        finally:
            connection.close()

    results, errors = run_threads(8, request)
    assert sorted(results) == [0, 1, 2, 4, 5, 6, 7]
    assert list(errors) == [3]
    assert "FOREIGN KEY" in str(errors[3]).upper()
    assert sorted(Message.objects.values_list("subject", flat=True)) == [
        f"n{i}" for i in (0, 1, 2, 4, 5, 6, 7)
    ]


_CRASH = """
import os, signal, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0)
from postwarden.outbox.submission import Outgoing, enqueue_many
from tests.factories import make_settings

def crash_after_recipients(execute, sql, params, many, context):
    result = execute(sql, params, many, context)
    if "outbox_recipient" in sql and sql.lstrip().upper().startswith("INSERT"):
        sys.stdout.write("rows written, dying\\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return result

with connection.execute_wrapper(crash_after_recipients):
    enqueue_many([Outgoing(to=["a@example.net"], subject="lost", text="x")] * 3, settings=make_settings())
"""


def test_it_leaves_nothing_half_written_when_the_process_dies_mid_transaction(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'outbox.sqlite3'}",
        POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
        POSTWARDEN_SECRET_KEY="groupcommit-tests-secret-key-0123456789",
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="postwarden.settings",
    )
    done = subprocess.run(
        [sys.executable, "-c", _CRASH], env=env, capture_output=True, timeout=BOUND * 2, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert done.stdout == b"rows written, dying\n"
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as db:
        counts = [
            db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("outbox_message", "outbox_recipient", "outbox_content")
        ]
    assert counts == [0, 0, 0]
