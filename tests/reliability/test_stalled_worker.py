"""A worker that is alive but silent (SIGSTOP: a stalled machine, a paused container) loses
its claims after its lease, another worker sends them, and when the first one resumes it
sends none of what was taken back from it: only what it had in flight at the stop goes
out twice, with what it had sent but not yet recorded (issue #11: never send what a
live worker is sending).

Each worker sends to its own SMTP server, so the server counts what the resumed worker
started after the stop."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Handler, Server
from tests.ports import free_port
from tests.reliability.figures import report

pytestmark = pytest.mark.slow

MESSAGES = 1000
CONNECTIONS = 1
#: deliveries a sender takes at once (Options.deliveries_per_send): at most this many per
#: connection are in flight when the worker stops
PER_SEND = 8
LEASE = "2"


@pytest.fixture
def second_server() -> Iterator[Server]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx2.test")
    controller.start()
    try:
        yield Server(port, handler, controller)
    finally:
        controller.stop()


def test_a_stopped_worker_sends_none_of_the_claims_taken_back_when_it_resumes(
    place_factory: Callable[..., Place],
    smtp_server: Server,
    second_server: Server,
    request: pytest.FixtureRequest,
) -> None:
    smtp_server.handler.data_delay = 0.002  # a moment per message: there is always mail in flight
    place = place_factory(None, smtp_server.port, POSTWARDEN_SMTP_CONNECTIONS=str(CONNECTIONS))
    elsewhere = Place(place.root, place.database_url, second_server.port, dict(place.extra))
    message_ids = set(place.script("enqueue", str(MESSAGES)))
    first = place.worker("--lease", LEASE, name="first")
    wait_for(lambda: len(smtp_server.handler.received) >= 200, "the first worker at its pace")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        started_at_stop = smtp_server.handler.data_started
        second = elsewhere.worker("--lease", LEASE, name="second")
        place.processes.append(second)  # stopped at teardown with the others
        wait_for(lambda: place.script("states")["states"] == {"sent": MESSAGES}, "all sent", BOUND * 2, 0.5)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    wait_for(lambda: "will not send them" in place.log("first"), "the first worker to notice")
    for worker in (first, second):
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=BOUND) == 0

    [noticed] = [line for line in place.log("first").splitlines() if "will not send them" in line]
    taken_back = int(re.search(r'"recipients": (\d+)', noticed).group(1))  # type: ignore[union-attr]
    after_resume = smtp_server.handler.data_started - started_at_stop
    received = [*smtp_server.handler.received, *second_server.handler.received]
    by_id = Counter(r.message_id for r in received)
    report(
        request,
        "stopped worker (issue #11)",
        messages=MESSAGES,
        taken_back_from_the_stopped_worker=taken_back,
        its_sends_after_resuming=after_resume,
        duplicates=len(received) - len(by_id),
    )
    assert set(by_id) == message_ids
    assert place.script("states")["states"] == {"sent": MESSAGES}
    # it held far more than it had in flight, and sent none of it after resuming
    assert taken_back > CONNECTIONS * PER_SEND
    assert after_resume <= CONNECTIONS * PER_SEND
