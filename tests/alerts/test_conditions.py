"""Which findings are alert conditions, and the scheduled doctor's condition turning from
clear to error and back (each change one alert, the database's conditions untouched)."""

from __future__ import annotations

import pytest

from postwarden.alerts.conditions import (
    DATABASE,
    DOCTOR,
    SCHEDULED,
    Observation,
    alerting,
    observe,
    scheduled,
)
from postwarden.core.doctor.model import Code, Finding, Report
from tests.console.conftest import clean_env  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db(transaction=True)


def report(*findings: Finding) -> Report:
    return Report(findings=findings, checks=(), duration_ms=1)


REFUSED = Finding.of(Code.NETWORK_CONNECTION_REFUSED, "127.0.0.1:2525: [Errno 111] Connection refused")
BACKLOG = Finding.of(Code.QUEUE_BACKLOG, "the oldest of 3 waiting recipients has waited 20 min")
BOUNCES = Finding.of(Code.QUEUE_BOUNCE_RATE, "6 bounced …")


def test_the_listed_codes_and_every_error_alert_other_warnings_do_not() -> None:
    found = alerting([BACKLOG, BOUNCES, REFUSED, REFUSED])
    assert [o.key for o in found] == ["queue.bounce_rate", "network.connection_refused"]
    assert found[0].page == "/deliveries/?state=bounced"
    assert found[1].page == "/doctor/"


def test_the_scheduled_doctor_alerts_when_it_turns_to_error_and_when_it_clears() -> None:
    assert scheduled(report(BACKLOG)) == []
    [seen] = scheduled(report(BACKLOG, REFUSED))
    assert seen.key == SCHEDULED
    assert seen.evidence == (
        "network.connection_refused: Nothing accepts connections on that host and port. "
        "127.0.0.1:2525: [Errno 111] Connection refused"
    )
    database = Observation("queue.worker_down", "no worker", "1 waiting", "/")
    assert [c.kind for c in observe(DATABASE, [database])] == ["firing"]
    assert [c.kind for c in observe(DOCTOR, [seen])] == ["firing"]
    assert observe(DOCTOR, [seen]) == []  # still in error: nothing new
    [cleared] = observe(DOCTOR, [])
    assert (cleared.kind, cleared.observation.key) == ("resolved", SCHEDULED)
    # the scheduled doctor clearing says nothing about the database's conditions
    assert observe(DATABASE, [database]) == []


@pytest.mark.usefixtures("clean_env")
def test_the_scheduled_doctor_job_alerts_once_while_the_doctor_stays_in_error() -> None:
    """The job itself, with the whole doctor on this suite's settings (nothing configured:
    mail is only captured, the doctor's config.missing): one alert, then none while the
    doctor says the same."""
    import time

    from postwarden.alerts.jobs import scheduled_doctor
    from postwarden.alerts.models import Alert
    from postwarden.monitor.jobs import JobRun

    scheduled_doctor(JobRun("doctor.scheduled", deadline=time.monotonic() + 60))
    [alert] = Alert.objects.all()
    assert (alert.kind, alert.key, alert.status) == ("firing", SCHEDULED, "no_destination")
    assert alert.evidence.startswith("config.missing: No mail is sent: Postwarden only captures it. ")
    assert alert.link.endswith("/doctor/")
    scheduled_doctor(JobRun("doctor.scheduled", deadline=time.monotonic() + 60))
    assert Alert.objects.count() == 1
