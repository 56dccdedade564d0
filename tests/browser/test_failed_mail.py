"""Mail that failed, in a real browser against ``postwarden serve`` (issue #17): a mail
deferred by a wrong password goes out as soon as the fixed password is saved (not after
its backoff); a deferred recipient can be retried now from its message's page and from
Held and dead; a ``550 5.1.1 user unknown`` shows the knowledge base's meaning and steps
and says a retry can't help. Screenshots at laptop and phone size."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.browser.conftest import SCREENSHOTS, SMTP_USER, Service, fill_smtp, log_in
from tests.smtpd import SmtpdOptions, SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
USER = SMTP_USER
RIGHT = "Right-Zq9XkVbN-smtp-password"
WRONG = "Wrong-Zq9XkVbN-smtp-password"
#: reloads of a page that waits for the worker: bounded by count; far less than the first
#: retry's backoff (a minute), so only a retry made at once can pass
POLLS, POLL_SECONDS = 40, 0.5
LAPTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def smtp_server(server_cert: trustme.LeafCert) -> Iterator[SmtpServer]:
    server = SmtpServer(
        SmtpdOptions(tls="starttls", require_starttls=True, cert=server_cert, users={USER: RIGHT})
    ).start()
    try:
        yield server
    finally:
        server.stop()


def shoot(page: Any, name: str) -> None:
    """The page as it is now at laptop and at phone width."""
    SCREENSHOTS.mkdir(exist_ok=True)
    size = page.viewport_size or LAPTOP
    for label, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{label}-{name}.png"), full_page=True)
    page.set_viewport_size(size)


def save_smtp(page: Any, service: Service, server: SmtpServer, password: str) -> str:
    page.goto(service.url + "/settings/")
    fill_smtp(page, server.port, password)
    page.locator("button[value=save]").first.click()
    text = str(page.inner_text("main"))
    assert "Email settings saved." in text
    return text


def api_key(page: Any, service: Service) -> str:
    page.goto(service.url + "/api-keys/")
    page.fill("#id_name", f"failed mail {time.monotonic_ns()}")
    page.get_by_role("button", name="Create key").click()
    return str(page.inner_text("#new-key")).strip()


def send(service: Service, key: str, to: str, subject: str) -> str:
    body = json.dumps({"to": [to], "subject": subject, "text": "hi"}).encode()
    request = urllib.request.Request(
        service.url + "/api/v1/messages",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["id"])


def wait_for_state(page: Any, service: Service, public_id: str, state: str) -> None:
    page.goto(f"{service.url}/deliveries/{public_id}/")
    for _ in range(POLLS):
        if page.locator(f"#rcpt-h + .table-wrap .badge.{state}").count():
            return
        time.sleep(POLL_SECONDS)
        page.reload()
    raise AssertionError(f"{public_id} never became {state}: {page.inner_text('#rcpt-h + .table-wrap')}")


def test_saving_the_fixed_password_sends_the_deferred_mail_at_once(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    save_smtp(page, service, smtp_server, WRONG)
    public_id = send(service, api_key(page, service), "dest@example.com", "Deferred by a wrong password")
    wait_for_state(page, service, public_id, "deferred")
    why = page.inner_text(".card.failure")
    assert "auth.failed" in why
    assert "retry it now" in why
    assert page.get_by_role("button", name="Retry dest@example.com now").count() == 1
    shoot(page, "message-deferred")
    saved = save_smtp(page, service, smtp_server, RIGHT)
    assert "1 deferred recipient that the change can help is retried now." in saved
    wait_for_state(page, service, public_id, "sent")
    assert "retried now (auth.failed): the email settings were saved" in page.inner_text("ol.timeline")
    assert any(m.rcpt_tos == ["dest@example.com"] for m in smtp_server.delivered)


def test_retry_now_sends_a_deferred_recipient_from_its_message_page_and_from_held_and_dead(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    save_smtp(page, service, smtp_server, RIGHT)
    key = api_key(page, service)
    for to in ("grey@example.com", "grey2@example.com"):
        smtp_server.inject("RCPT", "451 4.7.1 Greylisted, try again later", match=to, times=1)
    first = send(service, key, "grey@example.com", "Greylisted once")
    second = send(service, key, "grey2@example.com", "Greylisted once too")
    wait_for_state(page, service, first, "deferred")
    page.get_by_role("button", name="Retry grey@example.com now").click()
    assert "Queued 1 recipient again." in page.inner_text("main")
    assert page.url == f"{service.url}/deliveries/{first}/"
    wait_for_state(page, service, first, "sent")
    wait_for_state(page, service, second, "deferred")
    page.goto(service.url + "/held/?state=deferred")
    assert "grey2@example.com" in page.inner_text("main table")
    shoot(page, "held-deferred")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Retry now / release all").click()
    assert "Queued 1 recipient again." in page.inner_text("main")
    wait_for_state(page, service, second, "sent")


def test_an_unknown_user_gets_the_meaning_and_steps_and_no_retry_advice(
    page: Any, service: Service, smtp_server: SmtpServer
) -> None:
    log_in(page, service)
    save_smtp(page, service, smtp_server, RIGHT)
    smtp_server.inject(
        "RCPT",
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown",
        match="nobody@example.com",
    )
    public_id = send(service, api_key(page, service), "nobody@example.com", "To nobody")
    wait_for_state(page, service, public_id, "failed")
    why = page.inner_text(".card.failure")
    assert "envelope.recipient_rejected" in why
    assert "550 5.1.1" in why
    assert "A retry can't help" in why
    assert page.locator(".card.failure ol.steps li").count() >= 1
    assert "`" not in page.inner_text(".card.failure ol.steps")
    assert "retry after fixing the cause" not in page.content()
    # the refusal suppressed the address under the bounce rules: the page says so, and what
    # the suppression says, and offers no retry
    suppression = page.inner_text(".card.failure .suppression")
    assert "nobody@example.com" in suppression
    assert "hard bounce" in suppression  # the reason hard_bounce, in the page's words
    assert "Mail to this address is suppressed" in why
    assert page.get_by_role("button", name="Retry nobody@example.com now").count() == 0
    assert page.get_by_role("button", name="Retry now: 1 recipient").count() == 0
    shoot(page, "message-unknown-user")
