"""The SMTP server goes away mid-run: first stopped (connections refused), then back but
answering ``421`` and hanging up, then well again. Mail waits and retries with backoff;
everything is delivered once the server returns, and nothing is dead-lettered while its
retry window (attempts and maximum age) lasts. And when the window is shorter than the
outage, a recipient dies exactly at its last attempt, not before.

The retry base is set small through the worker's ``--retry-base`` option (the policy's
test hook), never by sleeping through minutes of backoff."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
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
from tests.reliability.sizes import BOTH, Size

pytestmark = pytest.mark.slow

#: what a server says when it is going down or overloaded (RFC 5321 4.2.3: and it closes)
GOING_DOWN = "421 4.3.2 mx.test Service not available, closing transmission channel"


@dataclass
class Refusing(Handler):
    """The recording handler, able to answer every MAIL FROM with a 421 and hang up."""

    refusing: bool = False
    refused: int = 0
    lock_: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refusing:
            with self.lock_:
                self.refused += 1
            asyncio.get_running_loop().call_later(0.01, server.transport.close)
            return GOING_DOWN
        return await super().handle_MAIL(server, session, envelope, address, options)


class Flaky:
    """A recording aiosmtpd server on one fixed port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Refusing()
        self._controller: Controller | None = None

    def up(self) -> None:
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, server_hostname="mx.test"
        )
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    server = Flaky()
    server.up()
    try:
        yield server
    finally:
        server.down()


def refused_connection(server: Flaky) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("size", BOTH)
def test_it_delivers_everything_after_an_outage_and_a_spell_of_421s(
    place_factory: Callable[..., Place], flaky: Flaky, size: Size, request: pytest.FixtureRequest
) -> None:
    # a window far longer than the outage: 100 attempts, ten outages of age
    window = {"POSTWARDEN_MAX_ATTEMPTS": "100", "POSTWARDEN_MAX_AGE": str(size.outage * 10)}
    place = place_factory(None, flaky.port, POSTWARDEN_SMTP_CONNECTIONS="4", SMTP_TIMEOUT="2", **window)
    count = min(size.messages, 600)
    message_ids = place.script("enqueue", str(count))
    flaky.handler.data_delay = 0.01
    worker = place.worker("--batch-size", "50", "--retry-base", str(size.outage / 8), name="w")
    wait_for(lambda: len(flaky.handler.received) >= count // 5, "a fifth of the mail", BOUND)
    flaky.down()
    went_down = time.monotonic()
    assert refused_connection(flaky)
    time.sleep(size.outage)
    flaky.handler.refusing = True
    flaky.up()
    wait_for(lambda: flaky.handler.refused > 0, "a 421", BOUND)
    time.sleep(size.outage)
    flaky.handler.refusing = False
    came_back = time.monotonic()
    bound = BOUND + size.outage * 4
    wait_for(lambda: len(set(flaky.handler.message_ids())) >= count, "every message", bound)
    wait_for(lambda: place.script("states")["states"] == {"sent": count}, "all recorded sent", bound, 0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=BOUND) == 0

    attempts = query(place, "attempts")
    outcomes = Counter(a["outcome"] for a in attempts)
    stages = Counter(a["stage"] for a in attempts if a["outcome"] == "deferred")
    report(
        request,
        f"SMTP outage ({size.name})",
        messages=count,
        stopped_s=size.outage,
        answering_421_s=size.outage,
        delivered=len(set(flaky.handler.message_ids())),
        refused_421=flaky.handler.refused,
        deferred_attempts=outcomes["deferred"],
        deferred_by_stage=dict(stages),
        dead=outcomes["dead"],
        recovered_in_s=round(time.monotonic() - came_back, 1),
        outage_s=round(came_back - went_down, 1),
    )
    assert sorted(set(flaky.handler.message_ids())) == sorted(message_ids)
    assert outcomes["dead"] == outcomes["failed"] == 0
    # both faults were met and read as transient: refused connections, then the 421s
    assert stages["connect"] > 0
    assert any(a["reply"].startswith("421 4.3.2") for a in attempts if a["outcome"] == "deferred")
    assert set(outcomes) <= {"sent", "deferred"}
    # backoff, not hammering: each recipient's waits grow (full jitter keeps each in [d/2, d])
    assert_backoff(attempts, base=size.outage / 8, max_age=size.outage * 10)


def assert_backoff(attempts: list[dict[str, Any]], *, base: float, max_age: float) -> None:
    """Each retry waits between half and all of ``base * 2**(n-1)`` after attempt n (full
    jitter), never past the recipient's maximum age."""
    for attempt in attempts:
        if attempt["outcome"] != "deferred":
            continue
        ceiling = base * 2 ** (attempt["number"] - 1)
        wait = attempt["retry_at"] - attempt["finished"]
        left = attempt["queued_at"] + max_age - attempt["finished"]
        assert min(ceiling / 2, left) - 0.05 <= wait <= min(ceiling, left) + 0.05, attempt


def test_it_dead_letters_only_at_the_last_attempt_of_the_window(
    place_factory: Callable[..., Place], flaky: Flaky, request: pytest.FixtureRequest
) -> None:
    flaky.down()  # and it stays down
    place = place_factory(None, flaky.port, POSTWARDEN_MAX_ATTEMPTS="3", SMTP_TIMEOUT="2")
    place.script("enqueue", "20")
    worker = place.worker("--retry-base", "0.2", name="w")
    wait_for(lambda: place.script("states")["states"] == {"dead": 20}, "all dead", BOUND, 0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=BOUND) == 0
    attempts = query(place, "attempts")
    by_address: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_address.setdefault(attempt["address"], []).append(attempt)
    report(request, "dead letter boundary", recipients=20, attempts_each=3, attempts=len(attempts))
    for rows in by_address.values():
        assert [(a["number"], a["outcome"]) for a in rows] == [(1, "deferred"), (2, "deferred"), (3, "dead")]
        # the retries waited as the policy said before the window closed
        assert rows[1]["started"] >= rows[0]["retry_at"] - 0.01
        assert rows[2]["started"] >= rows[1]["retry_at"] - 0.01
