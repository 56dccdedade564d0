"""The SMTP transport in a child process (transports/offload.py) against a real aiosmtpd
server: the results come back as the in-process transport gives them, a child that dies
mid-batch is noticed (ChildGone) and replaced, a hold sends nothing new and hands back
what had not started, close lets the child finish and exit."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from postwarden.core.config.model import DeliverySettings
from postwarden.transports import offload
from postwarden.transports.base import Delivery, Outcome, RecipientResult
from postwarden.transports.offload import ChildGone, NotStarted, OffloadedSmtp
from tests.outbox import smtpd_helper
from tests.outbox.helpers import make_settings
from tests.outbox.smtpd_helper import Server

#: a bound on every wait in these tests, in seconds
LIMIT = 20.0

smtp_server = smtpd_helper.smtp_server


def delivery(number: int, *recipients: str) -> Delivery:
    raw = (
        f"From: ops@example.com\r\nTo: {', '.join(recipients)}\r\nSubject: n{number}\r\n"
        f"Message-ID: <n{number}@example.com>\r\n\r\nBody {number}\r\n"
    ).encode()
    return Delivery(number, f"m_{number}", f"<n{number}@example.com>", "ops@example.com", recipients, raw)


def transport(server: Server, connections: int = 1) -> OffloadedSmtp:
    settings = make_settings(smtp_port=server.port, delivery=DeliverySettings(smtp_connections=connections))
    return OffloadedSmtp(settings)


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LIMIT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario(), LIMIT * 2))


def child_pid(sender: OffloadedSmtp) -> int:
    child = sender._child
    assert child is not None
    return child.pid


def test_it_returns_each_recipients_result_from_the_child(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["bob@example.com"] = ["550 5.1.1 No such user"]
    sender = transport(smtp_server)

    async def scenario() -> list[list[RecipientResult]]:
        await sender.ready()
        assert child_pid(sender) != os.getpid()
        try:
            return await sender.send_many(
                [delivery(1, "alice@example.com", "bob@example.com"), delivery(2, "carol@example.com")]
            )
        finally:
            await sender.close()

    first, second = run(scenario)
    assert [(r.address, r.outcome, r.stage) for r in first] == [
        ("alice@example.com", Outcome.SENT, "data"),
        ("bob@example.com", Outcome.FAILED, "rcpt"),
    ]
    refused = first[1].reply
    assert refused is not None
    assert (refused.code, refused.enhanced) == (550, "5.1.1")
    assert first[1].detail == "550 5.1.1 No such user"
    assert [(r.address, r.outcome) for r in second] == [("carol@example.com", Outcome.SENT)]
    assert [first[0].queue_id, second[0].queue_id] == ["Q00001", "Q00002"]
    assert sorted(r.rcpt_tos for r in smtp_server.handler.received) == [
        ("alice@example.com",),
        ("carol@example.com",),
    ]


def test_it_raises_an_unusable_address_as_the_in_process_transport_does(smtp_server: Server) -> None:
    sender = transport(smtp_server)

    async def scenario() -> None:
        try:
            with pytest.raises(ValueError, match="address"):
                await sender.send_many([delivery(1, "bad\r\naddress@example.com")])
            # the child is still there and sends the next batch
            [[result]] = await sender.send_many([delivery(2, "alice@example.com")])
            assert result.outcome is Outcome.SENT
        finally:
            await sender.close()

    run(scenario)
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("alice@example.com",)]


def test_it_notices_a_child_that_dies_mid_batch_and_starts_another(
    smtp_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.handler.data_delay = 1.0
    monkeypatch.setattr(offload, "RESTART_AFTER", 0.2)
    sender = transport(smtp_server)

    async def scenario() -> tuple[int, int]:
        try:
            await sender.ready()
            first = child_pid(sender)
            batch = asyncio.create_task(sender.send_many([delivery(1, "alice@example.com")]))
            await until(lambda: smtp_server.handler.data_started >= 1, "the message in flight")
            os.kill(first, signal.SIGKILL)
            with pytest.raises(ChildGone, match="exited with status -9"):
                await batch
            # straight after a death no child is started (no crash loop)...
            with pytest.raises(ChildGone, match="exited with status -9"):
                await sender.send_many([delivery(2, "bob@example.com")])
            # ...then, once the restart pause is over, the next batch gets a new one
            await until(
                lambda: time.monotonic() - sender._died_at >= offload.RESTART_AFTER, "the restart pause over"
            )
            smtp_server.handler.data_delay = 0.0
            [[result]] = await sender.send_many([delivery(3, "carol@example.com")])
            assert result.outcome is Outcome.SENT
            return first, child_pid(sender)
        finally:
            await sender.close()

    first, second = run(scenario)
    assert first != second
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("carol@example.com",)]


def test_it_sends_nothing_new_after_a_hold_and_finishes_what_had_started(smtp_server: Server) -> None:
    smtp_server.handler.data_delay = 0.5
    sender = transport(smtp_server, connections=1)

    async def scenario() -> list[Any]:
        try:
            await sender.ready()
            batches = [
                asyncio.create_task(sender.send_many([delivery(n, f"user{n}@example.com")])) for n in range(3)
            ]
            await until(lambda: smtp_server.handler.data_started >= 1, "the first message in flight")
            sender.hold()
            answers = await asyncio.gather(*batches, return_exceptions=True)
            with pytest.raises(NotStarted):
                await sender.send_many([delivery(9, "late@example.com")])
            return answers
        finally:
            await sender.close()

    started, *waiting = run(scenario)
    assert [r.outcome for r in started[0]] == [Outcome.SENT]
    assert [type(answer) for answer in waiting] == [NotStarted, NotStarted]
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("user0@example.com",)]


def test_it_lets_the_child_finish_its_batch_and_exit_on_close(smtp_server: Server) -> None:
    smtp_server.handler.data_delay = 0.3
    sender = transport(smtp_server)

    async def scenario() -> tuple[list[list[RecipientResult]], int | None]:
        await sender.ready()
        child = sender._child
        assert child is not None
        batch = asyncio.create_task(sender.send_many([delivery(1, "alice@example.com")]))
        await until(lambda: smtp_server.handler.data_started >= 1, "the message in flight")
        closing = asyncio.create_task(sender.close())
        answer = await batch
        await closing
        return answer, child.returncode

    [[result]], code = run(scenario)
    assert result.outcome is Outcome.SENT
    assert code == 0
    assert len(smtp_server.handler.received) == 1
