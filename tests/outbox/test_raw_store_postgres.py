"""The relay's storing path on PostgreSQL: the plain suppression query and INSERT …
RETURNING, in a process of its own against a throwaway cluster (tests/pg.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg import Cluster
from tests.processes import python, service_env

SCRIPT = r"""
from datetime import timedelta
from postwarden.cli.django_setup import setup
setup("relay", create=True)
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection
from django.utils import timezone
from postwarden.configstore.runtime import current_settings
from postwarden.outbox import suppressions
from postwarden.outbox.models import Message, Suppression
from postwarden.relay.store import Submission, store_batch

assert connection.vendor == "postgresql"
now = timezone.now()
suppressions.add_bounce("gone@example.net", detail="550 5.1.1", now=now)
suppressions.add("old@example.net", "manual", expires_at=now - timedelta(seconds=1), now=now)
found = suppressions.is_suppressed(["GONE@example.net", "old@example.net", "x@example.org"], now=now)
row = Suppression.objects.get(address="gone@example.net")
assert list(found) == ["gone@example.net"], found
got = found["gone@example.net"]
assert (got.expires_at, got.created_at, got.detail) == (row.expires_at, row.created_at, "550 5.1.1")
body = b"From: app@example.com\r\nTo: ok@example.net\r\nSubject: s\r\n\r\nhi\r\n"
rcpts = ("ok@example.net", "gone@example.net")
submission = Submission(body, "app@example.com", rcpts, "127.0.0.1", None, False)
replies = store_batch([submission] * 3, current_settings())
assert all(r.reply.startswith("250 ") for r in replies), replies
for reply in replies:
    message = Message.objects.get(public_id=reply.public_id)
    assert (message.tags, message.metadata) == ([], {})
    states = dict(message.recipients.values_list("address", "state"))
    assert states == {"ok@example.net": "queued", "gone@example.net": "suppressed"}, states
print("ok")
"""


@pytest.mark.postgres
def test_it_stores_relay_batches_on_postgresql(pg_cluster: Cluster, tmp_path: Path) -> None:
    env = service_env(
        tmp_path / "data",
        DATABASE_URL=pg_cluster.createdb("raw_store"),
        POSTWARDEN_SECRET_KEY="raw-store-test-secret-key-0123456789abcdef",
        MAIL_FROM="app@example.com",
    )
    assert python(SCRIPT, env).strip().endswith("ok")
