"""A worker SIGKILLed at random moments during a run, and restarted each time: every
message arrives; a message arrives twice only when a killed worker had it in flight (its
attempt was found abandoned and marked lost), and then with the same Message-ID.

The moments are random but reproducible: the seed is in the figures (``PW_SEED`` repeats
a run). Each kill comes after a random share of the messages arrived, plus a random
fraction of a second, so it lands anywhere in the worker's cycle: claiming, sending,
writing results."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from tests.outbox.procs import BOUND, Place, wait_for
from tests.outbox.smtpd_helper import Server
from tests.reliability.figures import report
from tests.reliability.sizes import BOTH, Size

pytestmark = pytest.mark.slow

#: seconds a killed worker's claims stay leased before another worker takes them back
LEASE = "2"


def kill_points(rng: random.Random, size: Size) -> list[int]:
    """How many messages must have arrived before each kill: spread over the run, in order."""
    return sorted(rng.randint(size.messages // 10, size.messages * 8 // 10) for _ in range(size.kills))


def start(place: Place, number: int) -> subprocess.Popen[bytes]:
    return place.worker("--batch-size", "100", "--lease", LEASE, name=f"w{number}")


def arrived(server: Server, count: int, bound: float) -> None:
    wait_for(lambda: len(server.handler.received) >= count, f"{count} messages", bound)


@pytest.mark.parametrize("size", BOTH)
def test_it_delivers_every_message_through_random_sigkills(
    place_factory: Callable[..., Place], smtp_server: Server, size: Size, request: pytest.FixtureRequest
) -> None:
    seed = int(os.environ.get("PW_SEED", random.SystemRandom().randrange(1 << 30)))
    rng = random.Random(seed)
    smtp_server.handler.data_delay = 0.002  # a server that takes a moment: there is always mail in flight
    place = place_factory(None, smtp_server.port, POSTWARDEN_SMTP_CONNECTIONS="4")
    message_ids = place.script("enqueue", str(size.messages))
    assert len(set(message_ids)) == size.messages
    bound = BOUND + size.messages / 20
    worker = start(place, 0)
    for number, point in enumerate(kill_points(rng, size), start=1):
        arrived(smtp_server, point, bound)
        time.sleep(rng.uniform(0.0, 0.3))
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=BOUND) == -signal.SIGKILL
        worker = start(place, number)
    wait_for(lambda: len(set(smtp_server.handler.message_ids())) >= size.messages, "every message", bound)
    wait_for(lambda: place.script("states")["states"] == {"sent": size.messages}, "all sent", bound, 0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=BOUND) == 0

    received = list(smtp_server.handler.received)
    by_id = Counter(r.message_id for r in received)
    ids_per_recipient: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for r in received:
        ids_per_recipient[r.rcpt_tos].add(r.message_id)
    lost_attempts = Counter(place.script("states")["lost"])
    duplicates = {mid: n - 1 for mid, n in by_id.items() if n > 1}
    report(
        request,
        f"worker SIGKILL run ({size.name})",
        seed=seed,
        messages=size.messages,
        kills=size.kills,
        sent=len(by_id),
        deliveries=len(received),
        duplicates=sum(duplicates.values()),
        lost=size.messages - len(set(by_id) & set(message_ids)),
        abandoned_attempts=sum(lost_attempts.values()),
    )
    # lost = 0: every message arrived, and nothing else did
    assert set(by_id) == set(message_ids)
    # a duplicate carries the message's one Message-ID (one id per recipient, one recipient per id)
    assert len(ids_per_recipient) == size.messages
    assert all(len(ids) == 1 for ids in ids_per_recipient.values())
    # each extra copy went out because a killed worker had that message in flight
    assert all(extra <= lost_attempts[mid] for mid, extra in duplicates.items()), (duplicates, lost_attempts)
