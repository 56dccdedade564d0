"""Workers as real processes: SIGTERM drains, SIGKILL mid-batch loses nothing, three
workers on one PostgreSQL send every message once, the rate limit holds across workers.

Bounded: every wait has a limit (procs.BOUND); marked slow."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable

import pytest

from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Server
from tests.pg import Cluster

pytestmark = pytest.mark.slow


def delivered(server: Server, count: int) -> None:
    """Wait (cheaply: the server is in this process) until ``count`` messages arrived."""
    wait_for(lambda: len(server.handler.received) >= count, f"{count} messages at the server")


def all_sent(place: Place, count: int) -> Callable[[], bool]:
    return lambda: place.script("states")["states"].get("sent", 0) == count


def test_it_finishes_in_flight_mail_on_sigterm_and_exits_0(
    place_factory: Callable[..., Place], smtp_server: Server
) -> None:
    smtp_server.handler.data_delay = 0.5
    place = place_factory(None, smtp_server.port, POSTWARDEN_SMTP_CONNECTIONS="2")
    place.script("enqueue", "20")
    worker = place.worker("--batch-size", "20")
    wait_for(lambda: smtp_server.handler.data_started >= 2, "two messages in flight")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=BOUND) == 0
    states = place.script("states")["states"]
    # what the two connections had taken (at most 8 each) was finished; the rest is back
    received = len(smtp_server.handler.received)
    assert states == {"sent": received, "queued": 20 - received}
    assert 2 <= received <= 16
    assert '"msg": "worker stopped"' in place.log("worker")


def test_it_delivers_everything_after_a_sigkill_and_repeats_only_what_was_in_flight(
    place_factory: Callable[..., Place], smtp_server: Server
) -> None:
    smtp_server.handler.data_delay = 0.02
    place = place_factory(None, smtp_server.port)
    message_ids = place.script("enqueue", "150")
    first = place.worker("--batch-size", "50", "--lease", "2", name="first")
    wait_for(lambda: len(smtp_server.handler.received) >= 30, "30 messages delivered")
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=BOUND) == -signal.SIGKILL
    place.worker("--batch-size", "50", "--lease", "2", name="second")
    wait_for(
        lambda: set(smtp_server.handler.message_ids()) == set(message_ids), "every message at the server"
    )
    wait_for(all_sent(place, 150), "every recipient recorded as sent", every=0.5)
    received = Counter(smtp_server.handler.message_ids())
    assert set(received) == set(message_ids)
    lost = set(place.script("states")["lost"])
    duplicated = {mid for mid, n in received.items() if n > 1}
    assert duplicated <= lost  # only what the dead worker held, in flight, went twice
    assert all(n <= 2 for n in received.values())


@pytest.mark.postgres
def test_three_workers_on_postgresql_send_every_message_once(
    place_factory: Callable[..., Place], smtp_server: Server, pg_cluster: Cluster
) -> None:
    place = place_factory(pg_cluster.createdb("three_workers"), smtp_server.port)
    message_ids = place.script("enqueue", "300")
    workers = [place.worker("--batch-size", "10", name=f"w{i}") for i in range(3)]
    delivered(smtp_server, 300)
    wait_for(all_sent(place, 300), "every recipient recorded as sent", every=0.5)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [w.wait(timeout=BOUND) for w in workers] == [0, 0, 0]
    received = Counter(smtp_server.handler.message_ids())
    assert sorted(received) == sorted(message_ids)
    assert set(received.values()) == {1}
    assert sum(place.script("states")["sent_by"].values()) == 300


@pytest.mark.postgres
def test_the_send_rate_holds_across_workers(
    place_factory: Callable[..., Place], smtp_server: Server, pg_cluster: Cluster
) -> None:
    place = place_factory(pg_cluster.createdb("rate_limit"), smtp_server.port, POSTWARDEN_SEND_RATE="40")
    place.script("enqueue", "120")
    workers = [place.worker("--batch-size", "20", name=f"r{i}") for i in range(3)]
    delivered(smtp_server, 120)
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [w.wait(timeout=BOUND) for w in workers] == [0, 0, 0]
    # Unpaced, three workers put all 120 through within a second; paced at 40/s across
    # them (not 40/s each), the 120 take about three. The arrivals are stamped by the test
    # server, so a stall of this process bunches the few sends in flight into one moment:
    # the window is two seconds (80 slots, plus the late slots and one bunch) rather than
    # one, and 100 still fails unpaced sending, which puts all 120 in it.
    arrivals = sorted(r.at for r in smtp_server.handler.received)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 2.0) for start in arrivals)
    assert busiest <= 100, busiest
    assert arrivals[-1] - arrivals[0] >= 119 / 40 - 1.0
