"""Overview: workers (alive, down, drift), queue figures, the 24-hour chart, the doctor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from postwarden.console import charts, stats
from postwarden.console.models import DoctorRun
from postwarden.core import i18n
from postwarden.outbox.models import Message, Recipient, WorkerHeartbeat
from tests.console.helpers import enqueue_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]


def beat(
    worker_id: str, *, age: float = 1, fingerprint: str = "", status: str = "running"
) -> WorkerHeartbeat:
    from postwarden.console.views.overview import web_fingerprint

    return WorkerHeartbeat.objects.create(
        worker_id=worker_id,
        host=f"host-{worker_id}",
        pid=42,
        version="1.0",
        status=status,
        last_seen=timezone.now() - timedelta(seconds=age),
        fingerprint=fingerprint or web_fingerprint(),
    )


def test_it_says_so_when_no_worker_runs(viewer_client: Client) -> None:
    html = viewer_client.get("/").content.decode()
    assert "No worker has been seen" in html


def test_it_shows_a_live_worker_and_a_stale_one(viewer_client: Client) -> None:
    beat("w1")
    beat("w2", age=600)
    html = viewer_client.get("/").content.decode()
    assert "host-w1" in html
    assert '<span class="badge running">running</span>' in html
    assert "host-w2" in html
    assert "no clean stop" in html
    assert "other email settings" not in html


def test_in_persian_a_workers_pid_is_in_persian_digits_and_not_grouped(viewer_client: Client) -> None:
    WorkerHeartbeat.objects.filter(pk=beat("w1").pk).update(pid=17354)
    html = viewer_client.get("/", headers={"Accept-Language": "fa"}).content.decode()
    assert "۱۷۳۵۴" in html
    assert "17354" not in html


def test_it_tells_a_clean_stop_from_a_crash(viewer_client: Client) -> None:
    beat("w1", age=600, status="stopped")
    beat("w2", age=600, status="dead")
    html = viewer_client.get("/").content.decode()
    assert '<span class="badge clean">stopped cleanly</span>' in html
    assert '<span class="badge fail">crashed</span>' in html
    assert "not seen" not in html


def test_it_flags_a_worker_running_with_other_settings(viewer_client: Client) -> None:
    beat("w1", fingerprint="0123456789abcdef")
    assert "runs with other email settings than the console shows" in viewer_client.get("/").content.decode()


def test_it_counts_the_queue_and_the_oldest_waiting_message() -> None:
    old = enqueue_one("a@example.com")
    enqueue_one("b@example.com")
    held = enqueue_one("c@example.com")
    Recipient.objects.filter(message=old).update(queued_at=timezone.now() - timedelta(hours=3))
    Recipient.objects.filter(message=held).update(state="held")
    queue = stats.queue()
    assert queue.depth == 2
    assert queue.held == 1
    assert queue.oldest is not None
    assert timezone.now() - queue.oldest > timedelta(hours=2, minutes=59)


def test_it_counts_the_last_day_per_series_and_draws_them() -> None:
    for i, state in enumerate(["sent", "delivered", "failed", "dead", "bounced", "suppressed"]):
        Recipient.objects.filter(message=enqueue_one(f"u{i}@example.com")).update(state=state)
    ancient = enqueue_one("old@example.com")
    Recipient.objects.filter(message=ancient).update(state="sent")
    Message.objects.filter(pk=ancient.pk).update(created_at=timezone.now() - timedelta(days=2))
    slots, counts, totals = stats.last_day()
    assert totals == {"sent": 2, "failed": 2, "bounced": 1, "suppressed": 1}
    chart = charts.stacked(slots, counts, list(stats.SERIES))
    assert len(slots) == 24
    assert {b.series for b in chart.bars} == {"sent", "failed", "bounced", "suppressed"}
    assert chart.peak == 6
    assert [label.text for label in chart.labels[:2]] == ["6", "0"]
    with translation.override("fa"), i18n.override("fa"):  # as the console's middleware sets both
        persian = charts.stacked(slots, counts, list(stats.SERIES))
    assert [label.text for label in persian.labels[:2]] == ["۶", "۰"]
    assert all(not any(c.isascii() and c.isdigit() for c in label.text) for label in persian.labels)


def test_it_renders_the_chart_as_svg_without_inline_style(viewer_client: Client) -> None:
    Recipient.objects.filter(message=enqueue_one()).update(state="sent")
    html = viewer_client.get("/").content.decode()
    assert '<svg class="chart"' in html
    assert '<rect class="bar-sent"' in html
    assert "style=" not in html


def test_it_shows_the_last_doctor_result_and_the_run_button_by_role(
    viewer_client: Client, settings_client: Client
) -> None:
    DoctorRun.objects.create(
        ok=False,
        root_cause="auth.failed",
        report={
            "findings": [
                {"code": "auth.failed", "title": "The SMTP server rejected the username or password"}
            ]
        },
    )
    html = viewer_client.get("/").content.decode()
    assert "auth.failed" in html
    assert "rejected the username or password" in html
    assert "Run the doctor" not in html
    assert "Run the doctor" in settings_client.get("/").content.decode()
