"""A permanent refusal at RCPT that says the address is gone (550 5.1.1 user unknown)
suppresses it as a hard bounce would (outbox/effects.py), against a real aiosmtpd server;
a refusal for policy or content does not."""

from __future__ import annotations

import pytest
from django.utils import timezone

from postwarden.core.doctor.model import Code, Status
from postwarden.doctor.report import service_facts
from postwarden.outbox import effects, suppressions
from postwarden.outbox.models import Event, Recipient, State, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from tests.core.doctor.helpers import doctor
from tests.factories import make_settings
from tests.outbox.smtpd_helper import Server
from tests.outbox.test_worker_smtp import run_worker_steps

pytestmark = pytest.mark.django_db(transaction=True)

UNKNOWN = "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table"


def test_a_user_unknown_at_rcpt_suppresses_the_address_and_the_next_message_is_refused(
    smtp_server: Server,
) -> None:
    smtp_server.handler.rcpt["nobody@example.com"] = [UNKNOWN]
    first = enqueue(
        Outgoing(to=["nobody@example.com", "alice@example.com"], text="x"), settings=make_settings()
    )
    before = timezone.now()
    run_worker_steps(smtp_server.port)
    assert dict(Recipient.objects.values_list("address", "state")) == {
        "nobody@example.com": State.FAILED,
        "alice@example.com": State.SENT,
    }
    row = Suppression.objects.get()
    assert (row.address, row.reason, row.source) == (
        "nobody@example.com",
        suppressions.HARD_BOUNCE,
        f"attempt 1 of {first.public_id}",
    )
    assert row.detail == UNKNOWN
    assert row.expires_at is not None
    assert row.expires_at >= before + effects.BOUNCE_TTL
    note = Event.objects.get(recipient__address="nobody@example.com")
    assert (note.kind, note.detail, note.event_id) == (
        "rejected",
        UNKNOWN,
        row.event.event_id if row.event else "",
    )

    second = enqueue(Outgoing(to=["nobody@example.com"], text="again"), settings=make_settings())
    (refused,) = second.recipients
    assert refused.state == State.SUPPRESSED
    assert refused.reason.startswith(f"suppressed: hard bounce (attempt 1 of {first.public_id}) until ")
    run_worker_steps(smtp_server.port)
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("alice@example.com",)]


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.7.1 <nobody@example.com>: Recipient address rejected: Access denied",
        "550 5.7.1 Message rejected due to content restrictions",
        "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
        "550 Requested action not taken: mailbox unavailable",
        "552 5.2.2 Mailbox full",
    ],
)
def test_a_refusal_for_policy_content_or_a_full_mailbox_suppresses_nothing(
    smtp_server: Server, reply: str
) -> None:
    smtp_server.handler.rcpt["nobody@example.com"] = [reply]
    enqueue(Outgoing(to=["nobody@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    assert Recipient.objects.get().state == State.FAILED
    assert not Suppression.objects.exists()
    assert not Event.objects.filter(kind="rejected").exists()


def test_a_user_unknown_at_data_suppresses_nothing(smtp_server: Server) -> None:
    """At DATA the reply answers the whole transaction, not one address."""
    smtp_server.handler.data = ["550 5.1.1 User unknown"]
    enqueue(Outgoing(to=["nobody@example.com", "alice@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    assert set(Recipient.objects.values_list("state", flat=True)) == {State.FAILED}
    assert not Suppression.objects.exists()


def test_the_doctor_counts_a_permanent_refusal(smtp_server: Server) -> None:
    """The doctor said "none in the last 24 h" while failed recipients sat there: it
    counted only the dead ones. A refusal for good is counted beside them; its cause is
    queue.recent_sends' finding, not a second one."""
    smtp_server.handler.rcpt["nobody@example.com"] = [UNKNOWN]
    enqueue(Outgoing(to=["nobody@example.com"], text="x"), settings=make_settings())
    run_worker_steps(smtp_server.port)
    settings = make_settings(smtp_port=smtp_server.port)
    facts = service_facts(settings, None)
    assert (facts.queue.dead, facts.queue.failed, facts.queue.failed_error) == (0, 1, (UNKNOWN, 1))
    assert [s.state for s in facts.recent_sends] == [State.FAILED]
    report = doctor(settings, only=frozenset({"queue"}), service=facts)
    line = next(c for c in report.checks if c.id == "queue.dead_letters")
    assert (line.status, line.detail) == (
        Status.WARN,
        f"none gave up after retries in the last 24 h; 1 recipient refused for good in the last 24 h; "
        f"most often: {UNKNOWN} (1x)",
    )
    assert Code.QUEUE_DEAD_LETTERS not in [f.code for f in report.findings]
