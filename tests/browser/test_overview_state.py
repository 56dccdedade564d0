"""The Overview and Deliveries say what is true now (issue #17): captured mail is
"captured", not a green "sent"; a banner says when mail only goes to capture or sending is
switched off; the doctor card shows its run's time and "recovered" once mail went out after
a failed run; a worker stopped with SIGTERM reads "stopped cleanly", one killed with SIGKILL
"crashed"; failed recipients are a Queue tile. Against ``postwarden serve`` and real
``postwarden worker`` processes; screenshots at laptop and phone size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.browser.conftest import Service, log_in
from tests.browser.test_failed_mail import (
    PHONE,
    RIGHT,
    USER,
    WRONG,
    api_key,
    save_smtp,
    send,
    shoot,
    wait_for_state,
)
from tests.processes import stop_group
from tests.smtpd import SmtpdOptions, SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
POLLS, POLL_SECONDS = 60, 0.5


@pytest.fixture(scope="module")
def smtp_server(server_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    server = SmtpServer(
        SmtpdOptions(tls="starttls", require_starttls=True, cert=server_cert, users={USER: RIGHT})
    ).start()
    try:
        yield server
    finally:
        server.stop()


def wait_for_text(page: Any, url: str, selector: str, text: str) -> str:
    for _ in range(POLLS):
        page.goto(url)
        found = page.locator(selector)
        if found.count() and text in found.first.inner_text():
            return str(found.first.inner_text())
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{text!r} never appeared in {selector} at {url}")


def wait_for_worker_to_follow(page: Any, service: Service) -> None:
    """Until the running worker's heartbeat carries the saved settings, the doctor's root
    cause is the drift between it and the console."""
    for _ in range(POLLS):
        page.goto(service.url + "/")
        if "other email settings" not in page.content() and "running" in page.inner_text("#workers-h + *"):
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError("the worker never picked up the saved settings")


def test_captured_mail_reads_captured_and_the_overview_says_mail_only_goes_to_capture(
    page: Any, service: Service
) -> None:
    log_in(page, service)  # a fresh service: EMAIL_PROVIDER is capture by default
    assert "Mail only goes to capture" in page.inner_text("#banner-capture")
    shoot(page, "overview-capture-banner")
    public_id = send(service, api_key(page, service), "kept@example.com", "Kept in capture")
    row = f"tr:has(a[href='/deliveries/{public_id}/'])"
    text = wait_for_text(page, service.url + "/deliveries/", row, "captured")
    assert " sent" not in text
    assert page.locator(f"{row} .badge.captured").count() == 1
    assert page.locator(f"{row} .badge.sent").count() == 0
    shoot(page, "deliveries-captured")
    wait_for_state(page, service, public_id, "captured")


def test_the_overview_says_when_sending_is_switched_off(page: Any, service: Service) -> None:
    log_in(page, service)
    page.goto(service.url + "/settings/")
    page.uncheck("#id_EMAIL_ENABLED")
    page.locator("button[value=save]").first.click()
    assert "Email settings saved." in page.inner_text("main")
    page.goto(service.url + "/")
    assert "Sending is switched off" in page.inner_text("#banner-sending")
    shoot(page, "overview-sending-off")
    page.goto(service.url + "/settings/")
    page.check("#id_EMAIL_ENABLED")
    with page.expect_navigation():  # saved before the overview is asked for
        page.locator("button[value=save]").first.click()
    page.goto(service.url + "/")
    assert page.locator("#banner-sending").count() == 0


def test_the_doctor_card_shows_recovery_and_failed_recipients_are_a_queue_tile(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    save_smtp(page, service, smtp_server, WRONG)
    wait_for_worker_to_follow(page, service)
    page.goto(service.url + "/")
    page.get_by_role("button", name="Run the doctor").click()
    page.wait_for_selector("#root-cause")
    page.goto(service.url + "/")
    state = page.inner_text("#doctor-state")
    assert "auth.failed" in state
    assert "run at " in state
    save_smtp(page, service, smtp_server, RIGHT)
    key = api_key(page, service)
    smtp_server.inject("RCPT", "550 5.1.1 <gone@example.com>: User unknown", match="gone@example.com")
    gone = send(service, key, "gone@example.com", "To an unknown user")
    sent = send(service, key, "dest@example.com", "After the fix")
    wait_for_state(page, service, gone, "failed")
    wait_for_state(page, service, sent, "sent")
    state = wait_for_text(page, service.url + "/", "#doctor-state", "recovered")
    assert "auth.failed" not in state
    assert "Mail has gone out since" in page.inner_text("#doctor-h + *, section[aria-labelledby=doctor-h]")
    failed_tile = page.inner_text("#tile-failed")
    assert failed_tile.split()[0] != "0"
    assert "failed" in failed_tile
    page.click("#tile-failed a")
    assert "gone@example.com" in page.inner_text("main table")
    page.goto(service.url + "/")
    shoot(page, "overview-recovered")


def _worker(service: Service) -> subprocess.Popen[bytes]:
    """One more ``postwarden worker`` on the service's database, as an operator starts it."""
    env = {**os.environ, "POSTWARDEN_DATA_DIR": str(service.data_dir)}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{service.data_dir / 'postwarden.sqlite3'}",
            "POSTWARDEN_SECRET_KEY": "browser-tests-secret-key-0123456789abcdef",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.Popen(
        [sys.executable, "-m", "postwarden", "worker"],
        env=env,
        cwd=service.data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _worker_line(page: Any, service: Service, pid: int, condition: str) -> str:
    return wait_for_text(page, service.url + "/", f"p.worker:has(small:has-text('pid {pid} ·'))", condition)


def test_a_clean_stop_and_a_crash_read_differently(page: Any, service: Service) -> None:
    log_in(page, service)
    clean, killed = _worker(service), _worker(service)
    try:
        _worker_line(page, service, clean.pid, "running")
        _worker_line(page, service, killed.pid, "running")
        clean.send_signal(signal.SIGTERM)
        assert clean.wait(timeout=30) == 0
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert "stopped cleanly" in _worker_line(page, service, clean.pid, "stopped cleanly")
        # the service's own worker finds the killed one's process gone and marks it
        assert "crashed" in _worker_line(page, service, killed.pid, "crashed")
        workers = page.inner_text("section[aria-labelledby=workers-h]")
        assert "not seen" not in workers
        page.set_viewport_size(PHONE)
        shoot(page, "overview-workers")
    finally:
        for process in (clean, killed):
            if process.poll() is None:
                stop_group(process)
