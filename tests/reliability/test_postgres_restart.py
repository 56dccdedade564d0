"""PostgreSQL restarted under two running workers: they lose their connections mid-run,
keep what they sent but could not record, reconnect when the server is back, and every
message is delivered and recorded; nothing is lost and no worker process dies.

A cluster of its own (tests/pg.py), so that stopping it disturbs no other test."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Server
from tests.pg import Cluster, restart_cluster, start_cluster, stop_cluster
from tests.reliability.figures import report
from tests.reliability.sizes import BOTH, Size

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.mark.parametrize("size", BOTH)
def test_two_workers_reconnect_after_a_postgresql_restart_and_lose_nothing(
    place_factory: Callable[..., Place],
    smtp_server: Server,
    own_cluster: Cluster,
    size: Size,
    request: pytest.FixtureRequest,
) -> None:
    smtp_server.handler.data_delay = 0.005
    place = place_factory(own_cluster.createdb("restart"), smtp_server.port, POSTWARDEN_SMTP_CONNECTIONS="4")
    message_ids = place.script("enqueue", str(size.messages))
    workers = [place.worker("--batch-size", "50", "--lease", "30", name=f"pg{i}") for i in range(2)]
    bound = BOUND + size.outage * 3 + size.messages / 20
    wait_for(lambda: len(smtp_server.handler.received) >= size.messages // 4, "a quarter of the mail", bound)
    restart_cluster(own_cluster, down_for=size.outage)
    at_restart = len(smtp_server.handler.received)
    wait_for(
        lambda: len(set(smtp_server.handler.message_ids())) >= size.messages,
        "every message at the server",
        bound,
    )
    wait_for(
        lambda: place.script("states")["states"] == {"sent": size.messages},
        "every recipient sent",
        bound,
        0.5,
    )
    assert [w.poll() for w in workers] == [None, None]  # they rode it out
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    assert [w.wait(timeout=BOUND) for w in workers] == [0, 0]

    received = Counter(smtp_server.handler.message_ids())
    reached = Counter(place.script("states")["reached"])
    noticed = sum(place.log(f"pg{i}").count('"level": "error"') for i in range(2))
    report(
        request,
        f"PostgreSQL restart, two workers ({size.name})",
        messages=size.messages,
        down_s=size.outage,
        delivered_before_restart=at_restart,
        sent=len(received),
        duplicates=sum(received.values()) - len(received),
        lost=size.messages - len(set(received) & set(message_ids)),
        errors_logged=noticed,
        sent_by=place.script("states")["sent_by"],
    )
    assert set(received) == set(message_ids)
    assert noticed > 0  # the restart was felt, and survived
    # every delivery the server saw is an attempt on record: sent, or lost (a worker that
    # could not report before its lease ran out); a report that came late says sent
    assert all(n <= reached[mid] for mid, n in received.items()), received.most_common(3)
