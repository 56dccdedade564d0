"""The group commit (postwarden.outbox.groupcommit) as the relay's sessions use it, with a
plain function as the writer: many concurrent sessions share a transaction, each gets its
own result, failures reach all of a batch, reads are answered while a batch gathers, and
stop() writes what is queued."""

from __future__ import annotations

import ast
import asyncio
import base64
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from postwarden.accounts.models import ApiKey
from postwarden.outbox.groupcommit import Activity, GroupCommitter
from postwarden.outbox.models import Message
from postwarden.outbox.submission import _committer as api_committer
from postwarden.relay.store import NOT_STORED
from tests.relay.helpers import TIMEOUT, RelayThread, Wire, message, simple_mail

SRC = Path(__file__).resolve().parents[2] / "src" / "postwarden"


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
        committer: GroupCommitter[str, str] = GroupCommitter(
            ledger.write, expected=activity, linger=1.0, name="relay-db"
        )
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
        pending = [asyncio.ensure_future(committer.commit("m0"))]
        assert await asyncio.to_thread(writing.wait, 10)  # the first batch is being written
        pending += [asyncio.ensure_future(committer.commit(f"m{i}")) for i in (1, 2)]
        await until(lambda: committer.waiting == 2, "m1 and m2 queued")
        stopping = asyncio.ensure_future(asyncio.to_thread(committer.stop))
        # stop() was called while the write is held, m1 and m2 queued behind it
        await until(lambda: committer.stopping and committer.waiting == 2, "stopping with m1 and m2 queued")
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


def test_the_relay_and_the_api_commit_through_the_outboxs_one_group_committer(
    relay_factory: Callable[..., RelayThread],
) -> None:
    relay = relay_factory()
    assert type(relay.gateway.committer) is type(api_committer) is GroupCommitter
    defined = [
        path.relative_to(SRC).as_posix()
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name == "GroupCommitter"
    ]
    assert defined == ["outbox/groupcommit.py"]


def test_the_relay_reaches_the_outbox_only_through_its_public_modules() -> None:
    """The relay enqueues through the outbox's public function; its data access (bulk
    statements, the models' tables) stays inside the outbox."""
    imported: dict[str, set[str]] = {}
    for path in sorted((SRC / "relay").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("postwarden.outbox"):
                imported.setdefault(node.module or "", set()).update(a.name for a in node.names)
            if isinstance(node, ast.Import):
                assert not [a.name for a in node.names if a.name.startswith("postwarden.outbox")], path
    public = {"postwarden.outbox.submission", "postwarden.outbox.groupcommit", "postwarden.outbox.policy"}
    assert set(imported) <= public | {"postwarden.outbox.models"}
    # the states' names, not a table
    assert imported.get("postwarden.outbox.models", set()) <= {"State"}


def authenticated(relay: RelayThread, secret: str) -> Wire:
    """A session on the real relay, AUTH PLAIN with ``secret``, up to DATA's 354."""
    wire = Wire("127.0.0.1", relay.port)
    assert wire.command("EHLO client.test").startswith("250")
    token = base64.b64encode(f"\0app\0{secret}".encode()).decode()
    assert wire.command(f"AUTH PLAIN {token}").startswith("235")
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
    assert wire.command("RCPT TO:<alice@example.net>") == "250 2.1.5 Ok"
    assert wire.command("DATA").startswith("354")
    return wire


@pytest.mark.django_db(transaction=True)
def test_a_message_the_database_refuses_costs_the_others_in_its_batch_nothing(
    relay_factory: Callable[..., RelayThread], caplog: pytest.LogCaptureFixture
) -> None:
    """Two sessions' messages in one batch, one of them under an API key deleted after its
    AUTH (its foreign key fails at COMMIT): the batch is written again message by message,
    the good one is answered 250 and stored, the other 451 and nothing of it stays."""
    relay = relay_factory(trusted=())
    _, kept_key = ApiKey.issue("kept", ["send"])
    gone_row, gone_key = ApiKey.issue("gone", ["send"])
    kept, gone = authenticated(relay, kept_key), authenticated(relay, gone_key)
    ApiKey.objects.filter(pk=gone_row.pk).delete()

    # hold the writer thread in a read, so both messages queue up for one batch
    reading, release = threading.Event(), threading.Event()

    def held() -> None:
        reading.set()
        assert release.wait(TIMEOUT)

    committer = relay.gateway.committer
    read = asyncio.run_coroutine_threadsafe(committer.call(held), relay.loop)
    assert reading.wait(TIMEOUT)
    kept.send(simple_mail("kept") + b".\r\n")
    gone.send(simple_mail("gone") + b".\r\n")
    for _ in range(int(TIMEOUT * 1000)):
        if committer.waiting == 2:
            break
        threading.Event().wait(0.001)
    assert committer.waiting == 2
    with caplog.at_level(logging.WARNING, logger="postwarden.outbox"):
        release.set()
        read.result(TIMEOUT)
        kept_reply, gone_reply = kept.reply(), gone.reply()

    assert kept_reply.startswith("250 2.0.0 Ok: queued as m_")
    assert gone_reply == NOT_STORED
    assert list(Message.objects.values_list("public_id", "subject")) == [(message(kept_reply), "kept")]
    assert "relay-db: a batch of 2 jobs failed (IntegrityError); writing each alone" in caplog.messages
    # the session goes on: the next message under the kept key is stored
    assert kept.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
    kept.close()
    gone.close()
