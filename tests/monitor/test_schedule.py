"""The schedule and the lease (monitor/schedule.py) on the test database: a job is taken
by one monitor at a time, not before its interval has passed since its last start, and a
lease left by a monitor that died is taken over only once it expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.monitor import schedule
from postwarden.monitor.models import MonitorJob

pytestmark = pytest.mark.django_db

EVERY = timedelta(minutes=1)
TIMEOUT = timedelta(minutes=5)


def test_a_new_job_is_due_and_only_one_monitor_takes_it() -> None:
    schedule.ensure(["j"])
    schedule.ensure(["j"])  # a second monitor starting: no second row, no error
    now = timezone.now()
    assert schedule.claim("j", "a", EVERY, TIMEOUT, now) == now
    assert schedule.claim("j", "b", EVERY, TIMEOUT, now) is None
    row = MonitorJob.objects.get(name="j")
    assert (row.holder, row.runs, row.last_started_at) == ("a", 1, now)


def test_not_again_before_the_interval_even_after_it_finished() -> None:
    schedule.ensure(["j"])
    now = timezone.now()
    started = schedule.claim("j", "a", EVERY, TIMEOUT, now)
    assert started is not None
    schedule.finish("j", "a", started, None, now + timedelta(seconds=5))
    assert schedule.claim("j", "b", EVERY, TIMEOUT, now + EVERY - timedelta(seconds=1)) is None
    assert schedule.claim("j", "b", EVERY, TIMEOUT, now + EVERY) is not None
    assert MonitorJob.objects.get(name="j").runs == 2


def test_a_dead_monitors_lease_is_taken_over_only_when_expired() -> None:
    schedule.ensure(["j"])
    now = timezone.now()
    started = schedule.claim("j", "a", EVERY, TIMEOUT, now)
    assert started is not None
    # due again by the interval, but "a" may still be running: its lease holds
    assert schedule.claim("j", "b", EVERY, TIMEOUT, now + TIMEOUT) is None
    later = now + TIMEOUT + schedule.LEASE_GRACE
    taken = schedule.claim("j", "b", EVERY, TIMEOUT, later)
    assert taken == later
    # "a" comes back and reports: b's lease stays
    schedule.finish("j", "a", started, None)
    row = MonitorJob.objects.get(name="j")
    assert (row.holder, row.lease_until, row.last_outcome) == (
        "b",
        later + TIMEOUT + schedule.LEASE_GRACE,
        "",
    )


def test_a_failure_is_counted_with_its_line() -> None:
    schedule.ensure(["j"])
    started = schedule.claim("j", "a", EVERY, TIMEOUT)
    assert started is not None
    schedule.finish("j", "a", started, "RuntimeError: boom")
    row = MonitorJob.objects.get(name="j")
    assert (row.last_outcome, row.last_error, row.failures, row.lease_until) == (
        "failed",
        "RuntimeError: boom",
        1,
        None,
    )


def test_a_job_that_waits_at_start_is_due_one_interval_after_it_is_first_seen() -> None:
    now = timezone.now()
    schedule.ensure(["soon", "later"], ["later"], now)
    assert schedule.claim("soon", "a", EVERY, TIMEOUT, now) == now
    assert schedule.claim("later", "a", EVERY, TIMEOUT, now) is None
    assert schedule.claim("later", "a", EVERY, TIMEOUT, now + EVERY) == now + EVERY
    schedule.ensure(["later"], ["later"], now + 2 * EVERY)  # a restart: the row stays
    assert MonitorJob.objects.get(name="later").last_started_at == now + EVERY


def test_due_at_follows_the_interval_and_the_lease() -> None:
    now = timezone.now()
    assert schedule.Slot("j", None, None).due_at(EVERY) is None
    assert schedule.Slot("j", now, None).due_at(EVERY) == now + EVERY
    assert schedule.Slot("j", now, now + TIMEOUT).due_at(EVERY) == now + TIMEOUT
    # a shorter interval (a setting changed) counts at once: the start time is the schedule
    assert schedule.Slot("j", now, None).due_at(timedelta(seconds=10)) == now + timedelta(seconds=10)
