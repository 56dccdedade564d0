"""A broken path to the server never fails a message for good: the worker, through its
real SMTP transport, meets a refused connection, a TLS handshake that cannot happen, a
greeting that turns it away and an EHLO (and HELO) refused with a 5xx; each time the
recipient is deferred, the attempt is recorded as not permanent, and at the last attempt
the recipient is dead (re-queueable), never failed.

An independent check beside test_retry.py's table, which judges hand-made results: here
the results are the ones the transport really produces and the worker really records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from postwarden.core.config.model import DeliverySettings, Security
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.factories import make_settings
from tests.ports import free_port
from tests.smtpd.raw import RawServer, banner, close_at_once, scripted

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED_HELLO = "550 5.7.1 Client host rejected: no hello for you"


def deliver_once(port: int, *, max_attempts: int, security: Security = Security.NONE) -> None:
    base = make_settings(smtp_port=port, delivery=DeliverySettings(max_attempts=max_attempts))
    settings = replace(base, smtp=replace(base.smtp, security=security))

    async def step() -> None:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=60.0), settings_source=lambda: settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(step())


#: (how the path breaks, the stage the attempt names, the security to connect with)
BREAKS: dict[str, tuple[str, Security]] = {
    "connection refused": ("connect", Security.NONE),
    "no TLS on the implicit-TLS port": ("tls", Security.SSL),
    "greeting 554": ("greeting", Security.NONE),
    "EHLO and HELO refused": ("ehlo", Security.NONE),
}


@pytest.fixture
def broken(raw_smtpd_factory: Callable[..., RawServer]) -> Callable[[str], int]:
    """The port of a server whose path breaks as named."""

    def start(how: str) -> int:
        if how == "connection refused":
            return free_port()
        behaviour = {
            # a plain SMTP server where the client expects a TLS handshake
            "no TLS on the implicit-TLS port": scripted(),
            "greeting 554": banner(
                "554 5.3.2 smtp.example.com not accepting connections", then=close_at_once()
            ),
            "EHLO and HELO refused": scripted({"EHLO": REFUSED_HELLO, "HELO": REFUSED_HELLO}),
        }[how]
        return raw_smtpd_factory(behaviour).port

    return start


@pytest.mark.parametrize("how", BREAKS)
def test_a_broken_path_defers_the_recipient(how: str, broken: Callable[[str], int]) -> None:
    stage, security = BREAKS[how]
    enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    deliver_once(broken(how), max_attempts=5, security=security)
    row = Recipient.objects.get()
    assert row.state == "deferred"
    assert row.next_attempt_at is not None
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.stage, attempt.permanent) == ("deferred", stage, False)


@pytest.mark.parametrize("how", BREAKS)
def test_a_broken_path_at_the_last_attempt_leaves_the_recipient_dead_not_failed(
    how: str, broken: Callable[[str], int]
) -> None:
    stage, security = BREAKS[how]
    enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    deliver_once(broken(how), max_attempts=1, security=security)
    row = Recipient.objects.get()
    assert row.state == "dead"
    attempt = Attempt.objects.get()
    assert (attempt.stage, attempt.permanent) == (stage, False)
