"""Alerts end to end in this process, through apprise to a local webhook (tests/alerts/
hookd.py): a doctor finding appearing is one alert, its going away one "resolved", and
nothing while it stays; the rate limit holds back what is over it; an endpoint that is
down keeps the alert queued and retried until it is back; no token reaches a log line or
a stored row."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from postwarden.alerts import delivery
from postwarden.alerts.jobs import evaluate_database
from postwarden.alerts.models import Alert, Condition, Delivery
from postwarden.core.config.model import AlertSettings, Settings, WebhookSettings
from postwarden.core.secrets import Secret
from postwarden.outbox import heartbeat
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from tests.alerts.hookd import Hook, hook  # noqa: F401 - a fixture
from tests.factories import make_settings

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "mmtoken0a1b2c3d4e5f6g7h8"
PUBLIC = "https://postwarden.example.net"


def alert_settings(*urls: str, **alerts: int) -> Settings:
    base = make_settings()
    return replace(
        base,
        alerts=AlertSettings(urls=tuple(Secret(u) for u in urls), retry_seconds=1, **alerts),
        webhooks=WebhookSettings(public_url=PUBLIC),
    )


def queue_a_message(settings: Settings) -> None:
    enqueue(Outgoing(to=["someone@example.com"], subject="hello", text="x"), settings=settings)


def a_worker_beats(settings: Settings) -> None:
    now = timezone.now()
    heartbeat.beat(
        "w1", settings=settings, transport="capture", status="running", counters={}, started_at=now
    )


def send_all(settings: Settings) -> None:
    """Send what is due now (the sending job's one pass)."""
    delivery.send_due(settings)


def test_a_finding_alerts_once_and_once_more_when_it_resolves(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN))
    assert evaluate_database(settings) == []  # nothing wrong: nothing said
    queue_a_message(settings)  # and no worker: queue.worker_down
    [fired] = evaluate_database(settings)
    send_all(settings)
    [got] = hook.wait_for(1)
    assert got.path == f"/hooks/{TOKEN}"
    assert "Postwarden alert: Messages are waiting and no worker is running (queue.worker_down)" in got.text
    assert "Evidence: 1 recipient waiting; no worker has ever reported" in got.text
    assert f"Console: {PUBLIC}/" in got.text
    # unchanged: no alert, however often it is looked at
    for _ in range(3):
        assert evaluate_database(settings) == []
    send_all(settings)
    a_worker_beats(settings)
    [resolved] = evaluate_database(settings)
    assert resolved.kind == Alert.Kind.RESOLVED
    send_all(settings)
    assert len(hook.wait_for(2)) == 2
    assert "Postwarden resolved: Messages are waiting and no worker is running (queue.worker_down)" in (
        hook.received[1].text
    )
    assert evaluate_database(settings) == []
    assert [a.status for a in Alert.objects.order_by("id")] == ["sent", "sent"]
    assert Condition.objects.get(key="queue.worker_down").firing is False
    assert fired.kind == Alert.Kind.FIRING


def test_dead_letters_appearing_alert_with_the_reply_quoted(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.json_url("alerts/in"))
    queue_a_message(settings)
    a_worker_beats(settings)
    Recipient.objects.update(
        state="dead", last_reply="550 5.1.1 mailbox unavailable", updated_at=timezone.now()
    )
    [alert] = evaluate_database(settings)
    assert alert.key == "queue.dead_letters"
    send_all(settings)
    [got] = hook.wait_for(1)
    assert got.path == "/alerts/in"
    assert (
        got.body["title"] == "Postwarden alert: Messages gave up after their last retry (queue.dead_letters)"
    )
    assert "550 5.1.1 mailbox unavailable (1x)" in got.body["message"]
    assert f"Console: {PUBLIC}/held/" in got.body["message"]


def test_over_the_rate_limit_alerts_are_held_and_the_next_one_says_so(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN), max_per_hour=1)
    queue_a_message(settings)
    [first] = evaluate_database(settings)  # worker_down: sent
    a_worker_beats(settings)
    [second] = evaluate_database(settings)  # resolved: over the limit
    assert (first.status, second.status) == (Alert.Status.PENDING, Alert.Status.HELD)
    assert "POSTWARDEN_ALERT_MAX_PER_HOUR" in second.note
    assert not second.deliveries.exists()
    send_all(settings)
    assert len(hook.wait_for(1)) == 1
    # an hour on, the next alert goes, and tells of the one held back
    Alert.objects.update(created_at=timezone.now() - timedelta(hours=2))
    Recipient.objects.update(state="dead", updated_at=timezone.now())
    [third] = [a for a in evaluate_database(settings) if a.key == "queue.dead_letters"]
    assert third.status == Alert.Status.PENDING
    send_all(settings)
    assert "1 alert before this one was held back by the rate limit" in hook.wait_for(2)[1].text


def test_an_endpoint_down_keeps_the_alert_queued_and_retried_until_it_is_back(
    hook: Hook,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = alert_settings(hook.mattermost_url(TOKEN), hook.json_url(f"in/{TOKEN}x"))
    caplog.set_level(logging.INFO)
    hook.down()
    queue_a_message(settings)
    [alert] = evaluate_database(settings)
    send_all(settings)
    rows = list(Delivery.objects.filter(alert=alert).order_by("id"))
    assert [(d.status, d.attempts) for d in rows] == [("pending", 1), ("pending", 1)]
    assert all("Connection error" in d.last_error for d in rows), [d.last_error for d in rows]
    assert [d.label for d in rows] == [
        f"mmost: 127.0.0.1:{hook.port} ••••",
        f"json: 127.0.0.1:{hook.port} ••••",
    ]
    Alert.objects.filter(pk=alert.pk).update()  # still pending
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.PENDING
    # not due before its retry time
    assert delivery.send_due(settings) == 0
    hook.up()
    Delivery.objects.update(next_attempt_at=timezone.now())  # its retry time comes
    assert delivery.send_due(settings) == 2
    got = hook.wait_for(2)
    assert {r.path for r in got} == {f"/hooks/{TOKEN}", f"/in/{TOKEN}x"}
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.SENT
    assert [d.attempts for d in Delivery.objects.order_by("id")] == [2, 2]
    assert TOKEN not in caplog.text
    assert "alert not sent; will retry" in caplog.text
    for row in Delivery.objects.all():
        assert TOKEN not in f"{row.label} {row.last_error} {row.destination}"


def test_an_alert_not_delivered_within_a_day_is_failed_with_its_reason(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN))
    hook.down()
    queue_a_message(settings)
    [alert] = evaluate_database(settings)
    Alert.objects.update(created_at=timezone.now() - delivery.GIVE_UP - timedelta(minutes=1))
    send_all(settings)
    row = Delivery.objects.get()
    assert row.status == "failed"
    assert "Connection error" in row.last_error
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.FAILED


def test_a_destination_removed_before_sending_is_failed_as_such(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN))
    queue_a_message(settings)
    evaluate_database(settings)
    send_all(alert_settings(hook.mattermost_url("another-token-entirely")))
    row = Delivery.objects.get()
    assert (row.status, row.last_error) == (
        "failed",
        "the destination was removed from the alert URLs before it was sent",
    )
    assert hook.received == []


def test_without_a_destination_the_alert_is_kept_with_the_fix() -> None:
    settings = alert_settings()
    queue_a_message(settings)
    [alert] = evaluate_database(settings)
    assert alert.status == Alert.Status.NO_DESTINATION
    assert "POSTWARDEN_ALERT_URLS" in alert.note


def test_the_test_alert_reaches_every_destination_at_once(hook: Hook) -> None:  # noqa: F811
    settings = alert_settings(hook.mattermost_url(TOKEN), hook.json_url("generic"))
    alert = delivery.send_test_alert(settings)
    assert alert.status == Alert.Status.SENT
    got = hook.wait_for(2)
    assert all("This is a test alert from Postwarden" in r.text for r in got)
    hook.down()
    failed = delivery.send_test_alert(settings)
    assert failed.status == Alert.Status.FAILED
    assert all(d.status == "failed" and d.last_error for d in failed.deliveries.all())


def test_alerts_older_than_the_retention_go_with_their_deliveries() -> None:
    import time

    from postwarden.cli.monitor import JOB_SOURCES, load_jobs
    from postwarden.configstore import runtime
    from postwarden.monitor.jobs import JobRun

    runtime.save({"POSTWARDEN_RETENTION_DAYS": "7"})
    [job] = [job for job in load_jobs(JOB_SOURCES) if job.name == "alerts.history"]
    now = timezone.now()

    def alert(key: str, age_days: int, status: str) -> None:
        made = Alert.objects.create(kind=Alert.Kind.FIRING, key=key, title=key, status=status)
        Alert.objects.filter(pk=made.pk).update(created_at=now - timedelta(days=age_days))
        Delivery.objects.create(alert=made, destination="d", label="hook", status=status)

    alert("old-sent", 8, Alert.Status.SENT)
    alert("old-failed", 30, Alert.Status.FAILED)
    alert("old-pending", 8, Alert.Status.PENDING)
    alert("recent", 6, Alert.Status.SENT)
    job.run(JobRun("alerts.history", deadline=time.monotonic() + 60))
    assert sorted(Alert.objects.values_list("key", flat=True)) == ["old-pending", "recent"]
    assert sorted(Delivery.objects.values_list("alert__key", flat=True)) == ["old-pending", "recent"]
