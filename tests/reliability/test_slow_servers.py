"""A server that is slow for some recipients and never answers for others: the slow ones
are delivered (each reply comes within the timeout), the silent ones give up at the
timeout and wait for a retry, and meanwhile the worker keeps delivering everyone else's
mail on its other connections.

One real aiosmtpd server: the delay is injected per recipient at RCPT (and, for the slow
ones, again at the end of data), so "other mail" is whatever goes to other addresses."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Handler
from tests.ports import free_port
from tests.reliability.figures import report
from tests.reliability.probe import query

pytestmark = pytest.mark.slow

#: SMTP_TIMEOUT for the worker: seconds for the connection and for each reply
TIMEOUT = 3.0
#: a slow server's pause before each of its replies to a slow recipient's transaction
SLOW = 1.5
SLOW_TO = [f"slow{i}@example.com" for i in range(2)]
STUCK_TO = ["stuck@example.com"]
OTHERS = [f"other{i}@example.com" for i in range(200)]


@dataclass
class Moody(Handler):
    """Answers slowly for the ``slow`` addresses and never for the ``stuck`` ones; notes
    when each silent RCPT began and ended, so a test can see what happened meanwhile."""

    slow: frozenset[str] = frozenset()
    stuck: frozenset[str] = frozenset()
    #: (began, ended) of each RCPT left unanswered; ended when the client gave up
    hung: list[tuple[float, float]] = field(default_factory=list)
    #: how many of those waits the client's hang-up cancelled (rather than ran out)
    cancelled: int = 0
    guard: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.stuck:
            began = time.time()
            try:
                await asyncio.sleep(3600)  # cancelled when the client hangs up
            except asyncio.CancelledError:
                with self.guard:
                    self.cancelled += 1
                raise
            finally:
                with self.guard:
                    self.hung.append((began, time.time()))
        if address in self.slow:
            await asyncio.sleep(SLOW)
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if set(envelope.rcpt_tos) & self.slow:
            await asyncio.sleep(SLOW)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def moody() -> Iterator[tuple[int, Moody]]:
    handler = Moody(slow=frozenset(SLOW_TO), stuck=frozenset(STUCK_TO))
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test")
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_it_bounds_slow_and_silent_recipients_by_the_timeout_and_keeps_serving_the_rest(
    place_factory: Callable[..., Place], moody: tuple[int, Moody], request: pytest.FixtureRequest
) -> None:
    port, server = moody
    place = place_factory(None, port, SMTP_TIMEOUT=str(TIMEOUT), POSTWARDEN_SMTP_CONNECTIONS="4")
    # the troublesome mail first, so it is claimed and sent before the rest
    query(place, "enqueue-to", *STUCK_TO, *SLOW_TO)
    query(place, "enqueue-to", *OTHERS)
    started = time.time()
    worker = place.worker("--batch-size", "50", "--retry-base", "1", name="w")
    wait_for(lambda: len(server.received) >= len(OTHERS) + len(SLOW_TO), "the others and the slow", BOUND)
    wait_for(lambda: len(server.hung) >= 2, "the silent recipient given up twice", BOUND)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=BOUND) == 0

    attempts = query(place, "attempts")
    states = place.script("states")["states"]
    first_hang = min(began for began, _ in server.hung)
    others_meanwhile = sum(
        1
        for r in server.received
        if r.rcpt_tos[0] in OTHERS and any(began <= r.at <= ended for began, ended in server.hung)
    )
    stuck_tries = [a for a in attempts if a["address"] in STUCK_TO]
    report(
        request,
        "slow and silent recipients",
        timeout_s=TIMEOUT,
        others_delivered=sum(1 for r in server.received if r.rcpt_tos[0] in OTHERS),
        others_during_a_hang=others_meanwhile,
        slow_delivered=sum(1 for r in server.received if r.rcpt_tos[0] in SLOW_TO),
        silent_attempts=len(stuck_tries),
        silent_rcpt_given_up_after_s=[round(ended - began, 2) for began, ended in server.hung],
        run_s=round(time.time() - started, 1),
    )
    delivered = [r.rcpt_tos[0] for r in server.received]
    assert sorted(delivered) == sorted(OTHERS + SLOW_TO)  # each once; never the silent ones
    assert states["sent"] == len(OTHERS) + len(SLOW_TO)
    # mail that shared a connection with the silent recipient (it was claimed and sent first,
    # with the slow ones behind it) was not charged for it: every other and slow recipient
    # went out at its first attempt
    assert {(a["number"], a["outcome"]) for a in attempts if a["address"] not in STUCK_TO} == {(1, "sent")}
    # the silent ones wait for a retry, with the reason, and are neither failed nor dead
    assert set(states) <= {"sent", "deferred", "queued", "sending"}
    finished = [a for a in stuck_tries if a["outcome"] != "sending"]
    assert finished
    assert all(a["outcome"] == "deferred" and a["stage"] == "rcpt" for a in finished), finished
    # each given up by the worker at its timeout: the server's wait ended because the client
    # hung up (it would have run for an hour), never before the timeout (a loaded machine
    # can only make it later), and the attempt names the timeout
    assert server.cancelled == len(server.hung)
    for began, ended in server.hung:
        assert ended - began >= TIMEOUT - 0.5, (began, ended)
    assert {a["reply"] for a in finished} == {f"no reply within {TIMEOUT:g} s"}
    # others were delivered while a recipient hung: the hang held one connection, not the worker
    assert others_meanwhile > 0
    assert first_hang < max(r.at for r in server.received if r.rcpt_tos[0] in OTHERS)
