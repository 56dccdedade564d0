"""The doctor's one read path (doctor/db_reads.py): what it reads from a real database, the
same facts whether the command line hands it a connection or the service hands it Django's
(doctor/report.service_facts), and the same policy decision as the outbox's own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from postwarden.accounts.models import Member
from postwarden.configstore import runtime
from postwarden.core.doctor.service import RecipientPolicy
from postwarden.core.secrets import Secret
from postwarden.doctor import db_reads, report
from postwarden.mailtemplates import store as templates
from postwarden.outbox import heartbeat, policy, suppressions
from postwarden.outbox.models import Recipient, State, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from tests.factories import make_settings

pytestmark = pytest.mark.django_db

SEALED = "Lean-sealed-secret-7Hq!distinct"


@pytest.fixture
def db() -> db_reads.Db:
    """The test database through Django's own DB-API connection (it sees this test's rows)."""
    return db_reads.Db.of_django(connection)


def key() -> Secret:
    return Secret(django_settings.SECRET_KEY)


def fill(tmp_path: Path) -> None:
    """A queue with something in every state the doctor counts, heartbeats, policy rows."""
    now = timezone.now()
    cases = [
        ("a@example.com", State.QUEUED, "", now - timedelta(minutes=9), None),
        ("b@example.com", State.QUEUED, "", now - timedelta(minutes=1), None),
        ("c@example.com", State.DEFERRED, "451 4.7.1 Greylisted", now, now + timedelta(minutes=5)),
        ("d@example.com", State.DEFERRED, "451 4.7.1 Greylisted", now, now - timedelta(minutes=5)),
        ("e@example.com", State.DEFERRED, "421 4.7.0 Try later", now, now + timedelta(minutes=5)),
        ("f@example.com", State.DEAD, "550 5.1.1 User unknown", now - timedelta(hours=2), None),
        ("g@example.com", State.DEAD, "550 5.1.1 old", now - timedelta(days=3), None),
    ]
    for address, state, reply, at, next_at in cases:
        sent = enqueue(
            Outgoing(to=[address], subject="s", text=f"see http://localhost/{address}"),
            settings=make_settings(data_dir=tmp_path),
        )
        Recipient.objects.filter(message__public_id=sent.public_id).update(
            state=state, last_reply=reply, updated_at=at, queued_at=at, next_attempt_at=next_at
        )
    for worker, age in (("w-1", 5), ("w-2", 400)):
        heartbeat.beat(
            worker,
            settings=make_settings(),
            transport="smtp",
            status="running",
            counters={},
            started_at=now - timedelta(hours=1),
            now=now - timedelta(seconds=age),
        )
    suppressions.add_bounce("gone@example.com", detail="550 5.1.1 unknown", source="sendgrid event e1")
    Suppression.objects.create(address="old@example.com", reason="manual", expires_at=now - timedelta(days=1))
    Suppression.objects.create(address="never@example.com", reason="complaint")
    Member.objects.create(email="Boss@Example.org", name="Boss")
    # stored templates: the newest version of each is what the links stage renders
    reset = templates.TemplateDraft("Reset", None, '<a href="{{ url }}">r</a>', {"url": "http://localhost/r"})
    templates.save("reset", templates.TemplateDraft("Old", "{{ url }}", None, {"url": "x"}), by="t")
    templates.save("reset", reset, by="t")
    templates.save("digest", templates.TemplateDraft("Digest {{ n }}", "{{ n }} new", None, {"n": 3}), by="t")


@pytest.mark.parametrize(
    ("recipient", "sending"),
    [
        ("gone@example.com", {}),
        ("Gone@Example.com", {}),
        ("never@example.com", {}),
        ("old@example.com", {}),
        ("old@example.com", {"enabled": False}),
        ("someone@example.com", {"allowed_domains": ("example.net",)}),
        ("boss@example.org", {"allowed_domains": ("example.net",)}),
        ("gone@example.com", {"allowed_domains": ("example.com",)}),
        (None, {}),
    ],
)
def test_it_reads_what_the_orm_adapter_reads(
    db: db_reads.Db, tmp_path: Path, recipient: str | None, sending: dict[str, Any]
) -> None:
    fill(tmp_path)
    settings = make_settings(**sending)
    now = timezone.now()
    plain = db_reads.collect(db, settings, recipient, key(), now)
    assert plain == report.service_facts(settings, recipient, now=now)
    if recipient:
        state, reason = policy.decide([recipient], settings, now=now)[recipient.lower()]
        assert plain.recipient == RecipientPolicy(str(state), reason)


def test_it_counts_the_queue_as_the_doctor_expects(db: db_reads.Db, tmp_path: Path) -> None:
    fill(tmp_path)
    queue = db_reads.queue_facts(db, timezone.now())
    assert (queue.waiting, queue.retrying, queue.dead) == (3, 3, 1)
    assert queue.oldest_age == pytest.approx(540, abs=5)
    assert queue.dominant_error == ("451 4.7.1 Greylisted", 2)
    assert queue.dead_error == ("550 5.1.1 User unknown", 1)
    assert [w.worker_id for w in db_reads.worker_facts(db, timezone.now())] == ["w-1", "w-2"]
    assert len(db_reads.recent_messages(db)) == 7
    stored = db_reads.stored_templates(db)
    assert [(t.name, t.version, t.subject, t.sample_variables) for t in stored] == [
        ("digest", 1, "Digest {{ n }}", {"n": 3}),
        ("reset", 2, "Reset", {"url": "http://localhost/r"}),
    ]


def test_it_unseals_the_settings_saved_in_the_console(db: db_reads.Db) -> None:
    runtime.save({"SMTP_HOST": "smtp.example.com", "SMTP_PASSWORD": SEALED, "MAIL_FROM": "ops@example.com"})
    assert db_reads.stored_values(db, key()) == runtime.stored_values()
    assert db_reads.stored_values(db, key())["SMTP_PASSWORD"] == SEALED


def test_it_refuses_an_engine_it_does_not_read() -> None:
    with (
        pytest.raises(db_reads.Unsupported, match="no plain reader for mysql databases"),
        db_reads.connect("mysql://h/db"),
    ):
        pass


def test_it_opens_an_sqlite_file_read_only(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "pw.sqlite3"
    with sqlite3.connect(path) as made:
        made.execute("CREATE TABLE configstore_storedsetting (name TEXT, value TEXT, sealed BOOL)")
        made.execute("INSERT INTO configstore_storedsetting VALUES ('MAIL_FROM', 'ops@example.com', 0)")
    made.close()
    with db_reads.connect(f"sqlite:///{path}") as opened:
        assert db_reads.stored_values(opened, key()) == {"MAIL_FROM": "ops@example.com"}
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            opened.rows("DELETE FROM configstore_storedsetting")


class Planned(db_reads.Db):
    """A Db that keeps every statement it ran, with its parameters."""

    def __init__(self, db: db_reads.Db) -> None:
        super().__init__(db.connection, sqlite=db.sqlite)
        self.ran: list[tuple[str, list[Any]]] = []

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        self.ran.append((sql, list(params)))
        return super().rows(sql, params)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="plans are checked on SQLite")
def test_its_counts_read_the_window_not_the_history(db: db_reads.Db, tmp_path: Path) -> None:
    """The recent dead and failed recipients through the partial index rcpt_ended (not
    every recipient ever failed, through rcpt_state); the bounce window from its messages
    (created_at's index), not from every recipient ever sent."""
    fill(tmp_path)
    old, recent = timezone.now() - timedelta(days=3), timezone.now() - timedelta(hours=1)
    for address, at in (("h@example.com", old), ("i@example.com", recent), ("j@example.com", recent)):
        sent = enqueue(
            Outgoing(to=[address], subject="s", text="t"), settings=make_settings(data_dir=tmp_path)
        )
        Recipient.objects.filter(message__public_id=sent.public_id).update(
            state=State.FAILED, last_reply="550 5.1.1 gone", updated_at=at
        )
    planned = Planned(db)
    queue = db_reads.bounce_facts(
        planned, timezone.now(), timedelta(hours=24), db_reads.queue_facts(planned, timezone.now())
    )
    assert (queue.dead, queue.failed, queue.failed_error) == (1, 2, ("550 5.1.1 gone", 2))
    plans = {}
    for sql, params in planned.ran:
        found = db.rows("EXPLAIN QUERY PLAN " + sql, params)
        plans[sql] = " | ".join(str(row[3]) for row in found)
    ended = [plan for sql, plan in plans.items() if "'dead', 'failed'" in sql]
    assert len(ended) == 4  # dead and failed: their counts and their most common replies
    assert all(
        "USING COVERING INDEX rcpt_ended (state=? AND updated_at>?)" in p
        or "USING INDEX rcpt_ended (state=? AND updated_at>?)" in p
        for p in ended
    ), ended
    (bounces,) = [plan for sql, plan in plans.items() if "'complained'" in sql]
    assert bounces.startswith("SEARCH m USING COVERING INDEX outbox_message_created_at_d65111d3"), bounces
