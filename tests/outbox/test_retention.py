"""Retention (outbox/retention.py): finished messages lose their bodies after
POSTWARDEN_RETENTION_BODY_DAYS and everything after POSTWARDEN_RETENTION_DAYS; unfinished
ones and suppressions keep everything; a real SQLite file gives the space back."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from postwarden.core.config.model import DeliverySettings
from postwarden.outbox import actions, retention, suppressions
from postwarden.outbox.models import Attempt, Content, Event, Message, Recipient, State, Suppression
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.console.helpers import enqueue_one
from tests.factories import make_settings

pytestmark = pytest.mark.django_db

KEEP = DeliverySettings(retention_body_days=30, retention_days=180)


def _aged(days: float, state: State = State.SENT, to: str = "alice@example.com") -> Message:
    message = enqueue_one(to)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=days))
    Recipient.objects.filter(message=message).update(state=state)
    return message


def test_it_deletes_the_body_of_a_finished_message_past_the_body_days_and_keeps_its_story() -> None:
    old, young = _aged(31), _aged(29)
    recipient = Recipient.objects.get(message=old)
    Attempt.objects.create(recipient=recipient, number=1, reply="250 2.0.0 Ok: queued as X")
    Event.objects.create(message=old, recipient=recipient, kind="delivered", detail="provider event")
    pruned = retention.prune(KEEP)
    assert (pruned.bodies, pruned.messages, pruned.more) == (1, 0, False)
    assert not Content.objects.filter(message=old).exists()
    assert Content.objects.filter(message=young).exists()
    assert Message.objects.filter(pk=old.pk).exists()
    assert Attempt.objects.get(recipient=recipient).reply == "250 2.0.0 Ok: queued as X"
    assert Event.objects.filter(message=old).exists()


@pytest.mark.parametrize("waiting", [State.QUEUED, State.SENDING, State.DEFERRED, State.HELD])
def test_a_message_with_a_recipient_still_waiting_keeps_everything(waiting: State) -> None:
    message = _aged(400)
    enqueue_one("bob@example.com")  # a young message beside it
    Recipient.objects.create(message=message, address="late@example.com", state=waiting)
    assert retention.prune(KEEP) == retention.Pruned()
    assert Content.objects.filter(message=message).exists()


def test_it_deletes_an_old_finished_message_with_its_timeline_but_never_a_suppression() -> None:
    old = _aged(181, State.BOUNCED, to="gone@example.com")
    event = Event.objects.create(message=old, kind="bounced", detail="550 5.1.1 user unknown")
    suppressions.add("gone@example.com", "complaint", source="test", event=event)
    kept = _aged(179, State.FAILED)
    pruned = retention.prune(KEEP)
    assert (pruned.bodies, pruned.messages) == (2, 1)
    assert not Message.objects.filter(pk=old.pk).exists()
    assert not Recipient.objects.filter(message_id=old.pk).exists()
    assert not Event.objects.filter(message_id=old.pk).exists()
    assert Message.objects.filter(pk=kept.pk).exists()
    row = Suppression.objects.get(address="gone@example.com")
    assert (row.reason, row.event_id) == ("complaint", None)


def test_zero_days_keeps_for_ever() -> None:
    message = _aged(10_000)
    assert retention.prune(DeliverySettings(retention_body_days=0, retention_days=0)) == retention.Pruned()
    assert Content.objects.filter(message=message).exists()


def test_it_works_in_batches_and_stops_at_its_time_budget() -> None:
    for n in range(retention.BATCH + 5):
        _aged(40, to=f"user{n}@example.com")
    assert retention.prune(KEEP, budget=-1) == retention.Pruned(more=True)
    assert retention.prune(KEEP).bodies == retention.BATCH + 5
    assert Content.objects.count() == 0


def test_a_message_without_its_body_is_not_queued_again() -> None:
    message = _aged(31, State.DEAD)
    recipient = Recipient.objects.get(message=message)
    retention.prune(KEEP)
    assert actions.requeue([recipient.pk], by="test") == actions.ActionResult(0, 1)
    assert Recipient.objects.get(pk=recipient.pk).state == State.DEAD


#: run in a fresh process on a fresh SQLite file made by ``postwarden migrate``
_SCRIPT = """
import json, os, django
from datetime import timedelta
django.setup()
from django.db import connection
from django.utils import timezone
from postwarden.configstore.runtime import current_settings
from postwarden.outbox import retention
from postwarden.outbox.models import Message, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
settings = current_settings()
for n in range(300):
    draft = Outgoing(to=[f"u{n}@example.com"], subject="s", text="x" * 20_000)
    enqueue(draft, settings=settings, source="api")
Message.objects.update(created_at=timezone.now() - timedelta(days=45))
Recipient.objects.update(state="sent")
path = connection.settings_dict["NAME"]
connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
before = os.path.getsize(path)
pruned = retention.prune(settings.delivery)
connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
cursor = connection.cursor()
cursor.execute("PRAGMA auto_vacuum")
print(json.dumps({"before": before, "after": os.path.getsize(path), "bodies": pruned.bodies,
                  "pages": pruned.pages, "auto_vacuum": cursor.fetchone()[0]}))
"""


@pytest.mark.django_db(False)
def test_a_new_sqlite_install_gives_the_space_back(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
        DJANGO_SETTINGS_MODULE="postwarden.settings",
        MAIL_FROM="ops@example.com",
        POSTWARDEN_SECRET_KEY="retention-test-key-0123456789abcdef",
    )
    migrated = subprocess.run(
        [sys.executable, "-m", "postwarden", "migrate"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["auto_vacuum"] == 2  # INCREMENTAL, set before the first table was made
    assert result["bodies"] == 300
    assert result["pages"] > 0
    assert result["after"] < result["before"] / 2, result


@pytest.mark.django_db(transaction=True)
def test_the_worker_prunes_on_a_thread_of_its_own(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path, delivery=KEEP)
    old = _aged(31)

    async def step() -> tuple[retention.Pruned, bool]:
        worker = Worker(WorkerOptions(worker_id="w1"), settings_source=lambda: settings)
        await worker.start()
        try:
            return await worker.prune_step(), await worker.db(Content.objects.filter(message=old).exists)
        finally:
            await worker.close()

    pruned, still_there = asyncio.run(step())
    assert (pruned.bodies, pruned.messages, still_there) == (1, 0, False)
