"""The alerts' periodic jobs for ``postwarden monitor`` (listed in cli/monitor.py's
JOB_SOURCES): evaluate the database's conditions every minute, run the whole doctor on
its schedule, send what is due, and hourly delete alerts older than
``POSTWARDEN_RETENTION_DAYS`` (one still being delivered is kept)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from postwarden.monitor.jobs import JobRun, PeriodicJob, fixed

if TYPE_CHECKING:
    from postwarden.alerts.models import Alert
    from postwarden.core.config.model import Settings

#: how often the database's conditions are looked at
EVALUATE_EVERY = timedelta(minutes=1)
#: how often due alerts are sent (retries wait at least POSTWARDEN_ALERT_RETRY_SECONDS)
SEND_EVERY = timedelta(seconds=5)
#: how often old alerts are pruned
PRUNE_EVERY = timedelta(hours=1)


def evaluate_database(settings: Settings) -> list[Alert]:
    """The database's conditions now; the alerts their changes made."""
    from postwarden.alerts.conditions import DATABASE, alerting, observe
    from postwarden.alerts.delivery import record
    from postwarden.doctor.report import run_database_doctor

    report = run_database_doctor(settings)
    return record(observe(DATABASE, alerting(report.findings)), settings)


def evaluate(run: JobRun) -> None:
    from postwarden.configstore.runtime import current_settings

    evaluate_database(current_settings())


def scheduled_doctor(run: JobRun) -> None:
    from postwarden.alerts.conditions import DOCTOR, observe, scheduled
    from postwarden.alerts.delivery import record
    from postwarden.configstore.runtime import current_settings
    from postwarden.doctor.report import run_doctor

    settings = current_settings()
    record(observe(DOCTOR, scheduled(run_doctor())), settings)


def send(run: JobRun) -> None:
    from postwarden.alerts.delivery import send_due
    from postwarden.configstore.runtime import current_settings

    send_due(current_settings(), run.stopping)


def prune_history(run: JobRun) -> None:
    """Delete alerts made before the retention cutoff, with their deliveries."""
    from postwarden.alerts.models import Alert
    from postwarden.configstore.runtime import current_settings
    from postwarden.monitor.history import cutoff, delete_in_batches

    before = cutoff(current_settings().delivery.retention_days)
    if before is not None:
        old = Alert.objects.filter(created_at__lt=before).exclude(status=Alert.Status.PENDING)
        delete_in_batches(old, run.stopping)


def _doctor_interval() -> timedelta:
    from postwarden.configstore.runtime import current_settings

    return timedelta(minutes=current_settings().alerts.doctor_interval_minutes)


def monitor_jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob("alerts.evaluate", evaluate, fixed(EVALUATE_EVERY), timeout=timedelta(minutes=2)),
        PeriodicJob("alerts.send", send, fixed(SEND_EVERY), timeout=timedelta(minutes=10)),
        PeriodicJob(
            "doctor.scheduled",
            scheduled_doctor,
            _doctor_interval,
            timeout=timedelta(minutes=5),
            run_at_start=False,
        ),
        PeriodicJob("alerts.history", prune_history, fixed(PRUNE_EVERY), timeout=timedelta(minutes=10)),
    ]
