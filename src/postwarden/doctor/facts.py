"""Gather what only the service's database knows, as plain data for the core doctor
(:class:`~postwarden.core.doctor.service.ServiceFacts`), inside the running service (the
console, the API, ``doctor --send``).

The outbox's figures are read by the same queries as the command line's plain-SQL
reader (:func:`postwarden.doctor.db_reads.outbox_facts`), run on Django's own connection, so
the two can never drift apart; what is Django's own here is the outbox's policy decision
for the test recipient (:func:`postwarden.outbox.policy.decide` itself) and the settings'
fingerprint as the workers compute it.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone

from postwarden.core.config.model import Settings
from postwarden.core.doctor.service import RecipientPolicy, ServiceFacts
from postwarden.doctor.db_reads import Db, outbox_facts
from postwarden.outbox import policy
from postwarden.outbox.heartbeat import settings_fingerprint


def django_db() -> Db:
    """Django's default database as the plain reader's :class:`Db` (the same connection,
    so it sees the current transaction)."""
    connection.ensure_connection()
    return Db(connection.connection, sqlite=connection.vendor == "sqlite")


def collect(settings: Settings, recipient: str | None, *, now: datetime | None = None) -> ServiceFacts:
    """Everything the core doctor needs from the database. Raises the database's errors."""
    now = now or timezone.now()
    decision, members = None, frozenset[str]()
    if recipient:
        decisions = policy.decide([recipient], settings, now=now)
        state, reason = next(iter(decisions.values()))
        decision = RecipientPolicy(str(state), reason)
        members = frozenset(policy.members_among([recipient]))
    return outbox_facts(django_db(), now, settings_fingerprint(settings), decision, members, settings)
