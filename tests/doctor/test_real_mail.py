"""What real mail met is evidence: a real database filled by the worker's own code against
a real SMTP server (aiosmtpd on loopback), then the doctor with the facts both readers
take from it (Django's connection in the service, plain SQL on the command line).

The probe only sends MAIL, RCPT and RSET, so a server that refuses at DATA passes it; the
recipients the worker failed are what tells the doctor.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.core.config.model import Settings
from postwarden.core.doctor.context import Options
from postwarden.core.doctor.model import Report, Severity, Status
from postwarden.core.doctor.render import summary
from postwarden.core.doctor.runner import run
from postwarden.core.doctor.service import ServiceFacts
from postwarden.doctor.report import service_facts
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker
from postwarden.outbox.worker.loop import WorkerOptions as WorkerOptions
from tests.core.doctor.helpers import check, codes, finding
from tests.factories import make_settings
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

SMTP_STAGES = frozenset({"queue", "network", "tls", "auth", "envelope"})


def deliver(settings: Settings, rounds: int = 1) -> None:
    """The worker's own claim, send and record steps, ``rounds`` times."""

    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
        for _ in range(rounds):
            await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def doctor(settings: Settings, service: ServiceFacts) -> Report:
    settings = replace(settings, sending=replace(settings.sending, test_email="dest@example.org"))
    return asyncio.run(run(settings, Options(timeout=2.0, only=SMTP_STAGES), service=service))


def both_readers(settings: Settings) -> list[ServiceFacts]:
    """The facts as the service reads them (doctor/db_reads.py on Django's connection, the
    command line's own queries)."""
    return [service_facts(settings, "dest@example.org", now=timezone.now())]


def test_real_mail_refused_at_data_is_found_while_the_probe_passes(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    smtpd.inject("DATA", "554 5.7.1 Message rejected as spam by Content Filtering.")
    for to in ("a@example.net", "b@example.net"):
        enqueue(Outgoing(to=[to], subject="Your invoice", text="Pay now"), settings=settings)
    deliver(settings)
    assert sorted(Recipient.objects.values_list("state", flat=True)) == ["failed", "failed"]
    for service in both_readers(settings):
        report = doctor(settings, service)
        assert check(report, "envelope.rset").status is Status.PASS  # the probe itself passes
        found = finding(report, "envelope.content_rejected")
        assert report.root_cause is found
        assert found.severity is Severity.ERROR
        assert found.evidence.startswith("2 of the last 2 real recipients refused (2 failed;")
        assert found.evidence.endswith("at DATA: 554 5.7.1 Message rejected as spam by Content Filtering.")
        assert check(report, "queue.recent_sends").status is Status.FAIL
        assert "All clear" not in summary(report)


def test_a_later_accepted_send_clears_the_evidence(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    smtpd.inject("DATA", "554 5.7.1 Message rejected as spam by Content Filtering.", times=1)
    enqueue(Outgoing(to=["a@example.net"], text="one"), settings=settings)
    deliver(settings)
    enqueue(Outgoing(to=["b@example.net"], text="two"), settings=settings)
    deliver(settings)
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    assert codes(report) == []
    assert check(report, "queue.recent_sends").detail.startswith("the last real send was accepted")


def test_a_retry_counts_as_much_as_a_permanent_refusal(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    smtpd.inject("MAIL", "451 4.7.1 <ops@example.com>: Sender address rejected: temporary policy failure")
    enqueue(Outgoing(to=["a@example.net"], text="one"), settings=settings)
    deliver(settings)
    assert Recipient.objects.get().state == "deferred"
    smtpd.injections.clear()
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    found = finding(report, "envelope.sender_rejected")
    assert found.severity is Severity.WARNING
    assert "(1 deferred;" in found.evidence


def test_a_refusal_naming_the_sender_of_real_mail_is_the_senders(smtpd: SmtpServer) -> None:
    """Postfix checks the sender at RCPT (smtpd_delay_reject): the words name the sender."""
    settings = make_settings(smtp_port=smtpd.port)
    smtpd.inject("RCPT", "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user app")
    enqueue(Outgoing(to=["a@example.net"], text="one"), settings=settings)
    deliver(settings)
    smtpd.injections.clear()
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    assert codes(report) == ["envelope.sender_rejected"]
    assert "ops@example.com" in finding(report, "envelope.sender_rejected").explanation


def test_one_unknown_recipient_is_a_warning_several_are_an_error(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    smtpd.inject("RCPT", "550 5.1.1 <a@example.net>: Recipient address rejected: User unknown", match="a@")
    smtpd.inject("RCPT", "550 5.1.1 <b@example.net>: Recipient address rejected: User unknown", match="b@")
    enqueue(Outgoing(to=["a@example.net"], text="one"), settings=settings)
    deliver(settings)
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    assert finding(report, "envelope.recipient_rejected").severity is Severity.WARNING
    enqueue(Outgoing(to=["b@example.net"], text="two"), settings=settings)
    deliver(settings)
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    assert finding(report, "envelope.recipient_rejected").severity is Severity.ERROR


def test_recipients_claimed_but_not_sent_count_as_waiting(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    enqueue(Outgoing(to=["a@example.net", "b@example.net"], text="one"), settings=settings)
    long_ago = timezone.now() - timedelta(minutes=30)
    Recipient.objects.update(
        state="sending",
        claimed_by="gone:1",
        lease_until=timezone.now() + timedelta(minutes=5),
        queued_at=long_ago,
    )
    for service in both_readers(settings):
        assert (service.queue.waiting, service.queue.claimed) == (2, 2)
        report = doctor(settings, service)
        backlog = finding(report, "queue.backlog")
        assert backlog.evidence == (
            "the oldest of 2 waiting recipients has waited 30 min, "
            "2 of them claimed by a worker but not sent yet"
        )
        down = finding(report, "queue.worker_down")
        assert down.evidence.startswith("2 recipients waiting (2 claimed by a worker that is gone);")


def test_the_size_of_real_messages_meets_the_servers_limit(smtpd_factory) -> None:  # type: ignore[no-untyped-def]
    server = smtpd_factory(size_limit=30_000)
    settings = make_settings(smtp_port=server.port)
    enqueue(Outgoing(to=["a@example.net"], text="small"), settings=settings)
    big = enqueue(Outgoing(to=["b@example.net"], text="x" * 60_000), settings=settings)
    for service in both_readers(settings):
        largest = max(service.recent_sizes, key=lambda item: item[1])
        assert largest[0] == big.public_id
        report = doctor(settings, service)
        found = finding(report, "envelope.message_too_large")
        assert found.severity is Severity.ERROR
        assert f"the largest of the last 2 messages ({big.public_id})" in found.evidence
        assert "1 of the last 2 messages are larger" in found.evidence


def test_failures_whose_words_name_no_known_cause_are_still_evidence(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    words = "the provider answered: request 7f3a could not be completed (code QX-17)"
    for to in ("a@example.net", "b@example.net"):
        enqueue(Outgoing(to=[to], text="one"), settings=settings)
    for row in Recipient.objects.all():
        Attempt.objects.create(
            recipient=row, number=1, transport="ses", outcome="failed", stage="api", reply=words
        )
    Recipient.objects.update(state="failed", attempts=1, last_reply=words, updated_at=timezone.now())
    report = doctor(settings, service_facts(settings, "dest@example.org"))
    found = finding(report, "queue.recent_failures")
    assert report.root_cause is found
    assert found.evidence.endswith(f"at API: {words}")
