"""What the Django adapter reads from a real database for the doctor: queue figures,
heartbeats, the outbox's own policy decision, recent messages' links."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from postwarden.accounts.models import Member
from postwarden.core.doctor.service import QueueFacts
from postwarden.doctor import db_reads
from postwarden.doctor.report import service_facts
from postwarden.outbox import heartbeat, suppressions
from postwarden.outbox.models import Recipient, State
from postwarden.outbox.submission import Outgoing, enqueue
from tests.factories import make_settings

pytestmark = pytest.mark.django_db


def message(to: str, *, text: str = "hello", settings_dir: Path | None = None) -> list[Recipient]:
    enqueued = enqueue(
        Outgoing(to=[to], subject="s", text=text), settings=make_settings(data_dir=settings_dir)
    )
    return list(Recipient.objects.filter(message__public_id=enqueued.public_id))


def set_state(
    rows: list[Recipient],
    state: str,
    *,
    reply: str = "",
    at: datetime | None = None,
    next_at: datetime | None = None,
) -> None:
    Recipient.objects.filter(pk__in=[r.pk for r in rows]).update(
        state=state,
        last_reply=reply,
        updated_at=at or timezone.now(),
        next_attempt_at=next_at,
        queued_at=at or timezone.now(),
    )


def test_it_counts_what_waits_and_how_long(tmp_path: Path) -> None:
    now = timezone.now()
    set_state(message("a@example.com", settings_dir=tmp_path), State.QUEUED, at=now - timedelta(minutes=9))
    set_state(message("b@example.com", settings_dir=tmp_path), State.QUEUED, at=now - timedelta(minutes=1))
    # deferred but not yet due: retrying, not waiting
    set_state(
        message("c@example.com", settings_dir=tmp_path),
        State.DEFERRED,
        reply="451 4.7.1 Greylisted",
        next_at=now + timedelta(minutes=5),
    )
    set_state(
        message("d@example.com", settings_dir=tmp_path),
        State.DEFERRED,
        reply="451 4.7.1 Greylisted",
        next_at=now + timedelta(minutes=5),
    )
    set_state(
        message("e@example.com", settings_dir=tmp_path),
        State.DEFERRED,
        reply="421 4.7.0 Try later",
        next_at=now + timedelta(minutes=5),
    )
    set_state(
        message("f@example.com", settings_dir=tmp_path), State.DEAD, reply="550 5.1.1 User unknown", at=now
    )
    set_state(
        message("g@example.com", settings_dir=tmp_path),
        State.DEAD,
        reply="550 5.1.1 old",
        at=now - timedelta(days=3),
    )
    facts = db_reads.queue_facts(db_reads.Db.of_django(connection), now)
    assert facts == QueueFacts(
        waiting=2,
        oldest_age=pytest.approx(540, abs=1),
        retrying=3,
        dominant_error=("451 4.7.1 Greylisted", 2),
        dead=1,
        dead_error=("550 5.1.1 User unknown", 1),
        dead_window_hours=24,
    )


def test_it_reads_heartbeats() -> None:
    now = timezone.now()
    settings = make_settings()
    heartbeat.beat(
        "w-1",
        settings=settings,
        transport="smtp",
        status="running",
        counters={},
        started_at=now - timedelta(hours=1),
        now=now - timedelta(seconds=90),
    )
    [worker] = db_reads.worker_facts(db_reads.Db.of_django(connection), now)
    assert (worker.worker_id, worker.status, worker.transport) == ("w-1", "running", "smtp")
    assert worker.age == pytest.approx(90)
    assert worker.fingerprint == heartbeat.settings_fingerprint(settings)


def test_it_asks_the_outbox_policy_about_the_recipient() -> None:
    suppressions.add_bounce("gone@example.com", detail="550 5.1.1 unknown", source="sendgrid event e1")
    Member.objects.create(email="Boss@Example.com", name="Boss")
    facts = service_facts(make_settings(allowed_domains=("example.org",)), "gone@example.com")
    assert facts.recipient is not None
    assert facts.recipient.state == "refused"  # outside the approved domains before anything else
    facts = service_facts(make_settings(), "gone@example.com")
    assert facts.recipient is not None
    assert facts.recipient.state == "suppressed"
    assert facts.recipient.reason.startswith("suppressed: hard bounce (sendgrid event e1) until ")
    assert service_facts(make_settings(allowed_domains=("example.org",)), "boss@example.com").members == {
        "boss@example.com"
    }


def test_it_reads_recent_messages_text_and_html(tmp_path: Path) -> None:
    message("a@example.com", text="Reset: http://localhost:8000/reset/x", settings_dir=tmp_path)
    [(public_id, body)] = db_reads.recent_messages(db_reads.Db.of_django(connection))
    assert public_id.startswith("m_")
    assert "http://localhost:8000/reset/x" in body
