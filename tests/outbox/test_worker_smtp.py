"""The worker against a real SMTP server (aiosmtpd on loopback): the whole path from the
outbox to the server, retries, permanent failures, dead letters, partial refusals."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

import pytest
import time_machine
from django.utils import timezone

from postwarden.core.config.model import DeliverySettings
from postwarden.outbox import actions
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server

pytestmark = pytest.mark.django_db(transaction=True)
T = TypeVar("T")


def run_worker_steps(settings_port: int, rounds: int = 1, **delivery: int) -> Worker:
    """Claim, send everything claimed and record it, ``rounds`` times, with a fresh worker."""
    settings = make_settings(smtp_port=settings_port, delivery=DeliverySettings(**delivery))

    async def steps() -> Worker:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
        for _ in range(rounds):
            await worker.deliver_step()
        await worker.close()
        return worker

    return asyncio.run(steps())


def test_it_delivers_the_stored_bytes_and_records_the_servers_acceptance(smtp_server: Server) -> None:
    out = enqueue(Outgoing(to=["alice@example.com"], subject="Hi", text="Hello"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    received = smtp_server.handler.received
    assert [(r.mail_from, r.rcpt_tos, r.message_id) for r in received] == [
        ("ops@example.com", ("alice@example.com",), out.message_id)
    ]
    row = Recipient.objects.get()
    assert (row.state, row.transport, row.last_reply) == ("sent", "smtp", "250 2.0.0 Ok: queued as Q00001")
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.stage, attempt.code, attempt.queue_id) == ("sent", "data", 250, "Q00001")


def test_it_retries_a_transient_refusal_and_shows_the_backoff_in_the_timeline(smtp_server: Server) -> None:
    smtp_server.handler.data = [
        "451 4.7.1 Greylisted, please try again later",
        "451 4.7.1 Greylisted, please try again later",
    ]
    enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    for _ in range(3):
        run_worker_steps(smtp_server.port)
        row = Recipient.objects.get()
        if row.state == "deferred":
            Recipient.objects.filter(pk=row.pk).update(
                next_attempt_at=timezone.now()
            )  # the backoff has passed
    row = Recipient.objects.get()
    assert (row.state, row.attempts) == ("sent", 3)
    attempts = list(Attempt.objects.order_by("number"))
    assert [(a.number, a.outcome, a.code, a.reply) for a in attempts] == [
        (1, "deferred", 451, "451 4.7.1 Greylisted, please try again later"),
        (2, "deferred", 451, "451 4.7.1 Greylisted, please try again later"),
        (3, "sent", 250, "250 2.0.0 Ok: queued as Q00001"),
    ]
    assert all(a.retry_at is not None and a.retry_at > a.started_at for a in attempts[:2])
    assert attempts[0].finding == "envelope.greylisted"
    assert len(smtp_server.handler.received) == 1


def test_it_fails_a_permanent_refusal_at_once_with_the_reason(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["nobody@example.com"] = [
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
    ]
    enqueue(Outgoing(to=["nobody@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    row = Recipient.objects.get()
    assert row.state == "failed"
    assert row.finding == "envelope.recipient_rejected"
    assert row.reason == (
        "failed at rcpt: 550 5.1.1 <nobody@example.com>: Recipient address rejected: User "
        "unknown in virtual mailbox table"
    )
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.permanent, attempt.stage, attempt.code, attempt.enhanced) == (
        "failed",
        True,
        "rcpt",
        550,
        "5.1.1",
    )
    assert attempt.explanation
    assert smtp_server.handler.received == []


def test_it_retries_only_the_refused_recipient_of_a_message(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["bob@example.com"] = ["452 4.2.2 Mailbox full"]
    out = enqueue(Outgoing(to=["alice@example.com", "bob@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    states = dict(Recipient.objects.values_list("address", "state"))
    assert states == {"alice@example.com": "sent", "bob@example.com": "deferred"}
    Recipient.objects.filter(address="bob@example.com").update(next_attempt_at=timezone.now())
    run_worker_steps(smtp_server.port)
    received = [(r.rcpt_tos, r.message_id) for r in smtp_server.handler.received]
    assert received == [(("alice@example.com",), out.message_id), (("bob@example.com",), out.message_id)]


def test_it_declares_a_recipient_dead_after_the_last_attempt_and_re_queues_it(smtp_server: Server) -> None:
    smtp_server.handler.data = ["421 4.3.0 Temporary system problem"] * 2
    enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    for _ in range(2):
        run_worker_steps(smtp_server.port, max_attempts=2)
        Recipient.objects.filter(state="deferred").update(next_attempt_at=timezone.now())
    row = Recipient.objects.get()
    assert row.state == "dead"
    assert row.reason == "dead after 2 attempts; last at data: 421 4.3.0 Temporary system problem"
    assert actions.requeue([row.pk], by="console: ops@example.com", settings=make_settings()).changed == 1
    run_worker_steps(smtp_server.port, max_attempts=2)
    row.refresh_from_db()
    assert (row.state, row.attempts, row.attempts_base) == ("sent", 3, 2)
    kinds = [e.kind for e in row.events.all()]
    assert kinds == ["requeued"]
    assert len(smtp_server.handler.received) == 1


def test_it_gives_up_when_the_maximum_age_has_passed(smtp_server: Server) -> None:
    smtp_server.handler.data = ["451 4.3.0 Try later"]
    start = timezone.now()
    with time_machine.travel(start - timedelta(hours=3), tick=False):
        enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port, max_age_seconds=3600)
    row = Recipient.objects.get()
    assert row.state == "dead"
    assert row.reason.startswith("dead after 3.0 hours; last at data: 451 4.3.0 Try later")


def test_it_groups_recipients_into_transactions_no_larger_than_the_cap(smtp_server: Server) -> None:
    to = [f"user{i}@example.com" for i in range(5)]
    enqueue(Outgoing(to=to, text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port, max_recipients_per_message=2)
    assert [len(r.rcpt_tos) for r in smtp_server.handler.received] == [2, 2, 1]
    assert {a for r in smtp_server.handler.received for a in r.rcpt_tos} == set(to)
    assert len({r.message_id for r in smtp_server.handler.received}) == 1


def test_it_defers_everything_when_the_server_cannot_be_reached() -> None:
    from tests.ports import free_port

    enqueue(Outgoing(to=["alice@example.com"], text="x"), settings=make_settings())
    run_worker_steps(free_port())
    row = Recipient.objects.get()
    assert (row.state, row.finding) == ("deferred", "network.connection_refused")
    attempt = Attempt.objects.get()
    assert (attempt.stage, attempt.permanent, attempt.code) == ("connect", False, None)
    assert "refused" in attempt.reply.lower()
