"""Group commit (postwarden.relay.committer) with a plain function as the writer: many
concurrent sessions share a transaction, each gets its own result, failures reach all
of a batch, reads are answered while a batch gathers, and stop() writes what is queued."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from postwarden.relay.committer import Activity, GroupCommitter


async def until(condition: Callable[[], bool], what: str, bound: float = 10.0) -> None:
    """Wait until ``condition()`` holds, checking between event-loop turns."""
    deadline = asyncio.get_running_loop().time() + bound
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"not within {bound} s: {what}"
        await asyncio.sleep(0.001)


class Ledger:
    """A writer that records every batch it was given (on the committer's thread)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def write(self, items: Sequence[str]) -> list[str]:
        self.threads.add(threading.current_thread().name)
        if self.fail_on in items:
            raise RuntimeError("disk full")
        self.batches.append(list(items))
        return [f"stored {item}" for item in items]


def test_it_writes_concurrent_items_in_shared_batches_and_answers_each_in_order() -> None:
    ledger = Ledger()
    activity = Activity()

    async def run() -> list[str]:
        committer: GroupCommitter[str, str] = GroupCommitter(ledger.write, expected=activity, linger=1.0)
        committer.start(asyncio.get_running_loop())
        for _ in range(8):
            activity.begin()
        results = await asyncio.gather(*(committer.commit(f"m{i}") for i in range(8)))
        await asyncio.to_thread(committer.stop)
        return list(results)

    assert asyncio.run(run()) == [f"stored m{i}" for i in range(8)]
    # eight sessions in a transaction: the batch waited for all eight, then wrote once
    assert ledger.batches == [[f"m{i}" for i in range(8)]]
    assert ledger.threads == {"relay-db"}


def test_it_does_not_linger_when_no_other_session_is_in_a_transaction() -> None:
    ledger = Ledger()

    async def run() -> None:
        committer: GroupCommitter[str, str] = GroupCommitter(ledger.write, linger=30.0)
        committer.start(asyncio.get_running_loop())
        for i in range(3):
            # a 30 s linger against a 10 s bound: waiting for nobody would fail here
            assert await asyncio.wait_for(committer.commit(f"m{i}"), 10) == f"stored m{i}"
        await asyncio.to_thread(committer.stop)

    asyncio.run(run())
    assert ledger.batches == [["m0"], ["m1"], ["m2"]]


def test_it_fails_every_item_of_a_batch_that_cannot_be_written() -> None:
    ledger = Ledger(fail_on="m1")
    activity = Activity()

    async def run() -> list[object]:
        committer: GroupCommitter[str, str] = GroupCommitter(ledger.write, expected=activity, linger=1.0)
        committer.start(asyncio.get_running_loop())
        activity.begin()
        activity.begin()
        results = await asyncio.gather(committer.commit("m0"), committer.commit("m1"), return_exceptions=True)
        after = await committer.commit("m2")
        await asyncio.to_thread(committer.stop)
        return [*results, after]

    first, second, after = asyncio.run(run())
    assert isinstance(first, RuntimeError)
    assert str(first) == "disk full"
    assert isinstance(second, RuntimeError)
    assert after == "stored m2"


def test_it_answers_reads_while_a_batch_waits_for_the_reader() -> None:
    """A session mid-transaction may need a read (its next RCPT) before it can send the
    message the batch is waiting for: the read is answered at once, not after the linger."""
    ledger = Ledger()
    activity = Activity()
    gathering = threading.Event()

    def expected() -> int:
        # the committer asks once it holds an item and decides whether to wait for more
        gathering.set()
        return activity()

    async def run() -> tuple[str, str, str]:
        committer: GroupCommitter[str, str] = GroupCommitter(ledger.write, expected=expected, linger=30.0)
        committer.start(asyncio.get_running_loop())
        activity.begin()
        activity.begin()
        first = asyncio.ensure_future(committer.commit("m0"))
        assert await asyncio.to_thread(gathering.wait, 10)  # the batch now waits for a second item
        policy = await asyncio.wait_for(committer.call(lambda: "queued"), 10)  # not after the 30 s linger
        second = await asyncio.gather(first, committer.commit("m1"))
        await asyncio.to_thread(committer.stop)
        return policy, second[0], second[1]

    assert asyncio.run(run()) == ("queued", "stored m0", "stored m1")
    assert ledger.batches == [["m0", "m1"]]


def test_it_writes_what_is_queued_when_stopped() -> None:
    ledger = Ledger()
    writing, gate = threading.Event(), threading.Event()

    def slow(items: Sequence[str]) -> list[str]:
        writing.set()
        gate.wait(10)
        return ledger.write(items)

    async def run() -> list[str]:
        committer: GroupCommitter[str, str] = GroupCommitter(slow)
        committer.start(asyncio.get_running_loop())
        pending = [asyncio.ensure_future(committer.commit(f"m{i}")) for i in range(3)]
        assert await asyncio.to_thread(writing.wait, 10)  # the first batch is being written
        stopping = asyncio.ensure_future(asyncio.to_thread(committer.stop))
        # stop() has queued its marker behind m1 and m2 while the write is held
        await until(lambda: committer._queue.qsize() == 3, "m1, m2 and the stop marker queued")
        gate.set()
        await stopping
        return list(await asyncio.gather(*pending))

    assert asyncio.run(run()) == ["stored m0", "stored m1", "stored m2"]
    assert sorted(item for batch in ledger.batches for item in batch) == ["m0", "m1", "m2"]


def test_it_counts_sessions_in_a_transaction_never_below_zero() -> None:
    activity = Activity()
    activity.begin()
    activity.end()
    activity.end()
    assert activity() == 0


@pytest.mark.parametrize("count", [1, 50])
def test_it_reports_what_it_committed(count: int) -> None:
    ledger = Ledger()

    async def run() -> GroupCommitter[str, str]:
        committer: GroupCommitter[str, str] = GroupCommitter(ledger.write)
        committer.start(asyncio.get_running_loop())
        await asyncio.gather(*(committer.commit(str(i)) for i in range(count)))
        await asyncio.to_thread(committer.stop)
        return committer

    committer = asyncio.run(run())
    assert committer.committed == count
    assert sum(committer.batches) == count
