"""The enqueue policy's suppression lookup (one plain statement, instances built only for
what it finds) reads exactly what the ORM reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from postwarden.outbox import suppressions
from postwarden.outbox.models import Suppression

pytestmark = pytest.mark.django_db

FIELDS = ("pk", "address", "reason", "detail", "source", "event_id", "created_at", "expires_at")


def test_it_builds_the_same_instances_as_the_orm() -> None:
    now = timezone.now()
    suppressions.add_bounce("bounced@example.net", detail="550 5.1.1 no such user", source="ses 1", now=now)
    suppressions.add("ann@example.net", "complaint", detail="spam", source="sendgrid 7", now=now)
    found = suppressions.is_suppressed(["Bounced@Example.net", "ANN@example.net"], now=now)
    assert sorted(found) == ["ann@example.net", "bounced@example.net"]
    for address, row in found.items():
        orm = Suppression.objects.get(address=address)
        assert [getattr(row, name) for name in FIELDS] == [getattr(orm, name) for name in FIELDS]
    assert isinstance(found["bounced@example.net"].expires_at, datetime)
    assert found["bounced@example.net"].expires_at == now + suppressions.BOUNCE_TTL
    assert found["ann@example.net"].expires_at is None


def test_it_leaves_out_what_expired_by_the_given_moment() -> None:
    now = timezone.now()
    suppressions.add_bounce("late@example.net", now=now - suppressions.BOUNCE_TTL + timedelta(seconds=1))
    assert list(suppressions.is_suppressed(["late@example.net"], now=now)) == ["late@example.net"]
    assert suppressions.is_suppressed(["late@example.net"], now=now + timedelta(seconds=2)) == {}


def test_it_answers_for_more_addresses_than_one_statement_may_carry() -> None:
    suppressions.add("z24999@example.org", "manual")
    suppressions.add("a0@example.org", "unsubscribe")
    addresses = [f"a{i}@example.org" for i in range(25_000)] + ["z24999@example.org", "", "A0@EXAMPLE.ORG"]
    found = suppressions.is_suppressed(addresses)
    assert {a: r.reason for a, r in found.items()} == {
        "a0@example.org": "unsubscribe",
        "z24999@example.org": "manual",
    }
