"""Issue #14's done-when, as a new user would try it: ``postwarden serve`` (console, worker,
monitor) sends through a receiving server on loopback (tests/mx.py: Mail::DKIM, Mail::SPF,
DMARC against the test DNS) that files into a real Dovecot; in the browser a canary mailbox
is added on the Canaries page and its run shows "arrived in inbox in N s, SPF pass, DKIM
pass, DMARC pass"; a broken DKIM key makes the next run show the receiver's dkim=fail and
the doctor name canary.auth_failed; mail filed as junk shows as junk."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from postwarden.core.dkim import generate_key, public_key_of, txt_record
from postwarden.core.secrets import Secret
from tests.browser.conftest import Service, log_in, running_service
from tests.dnsd import DnsTestServer
from tests.dovecot import DovecotServer
from tests.mx import MxServer, mx_factory  # noqa: F401 - a fixture

KEY = generate_key(2048)
#: a run: the monitor's next pass (5 s), the worker's send, the first looks (backoff)
RUN_TIMEOUT = 90.0


def _zone(dns: DnsTestServer, key: Secret) -> None:
    record = txt_record("canary", "example.com", public_key_of(key))
    dns.load(
        f"{record.name}. 300 IN TXT " + " ".join(f'"{s}"' for s in record.strings) + "\n"
        'example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"\n'
        '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"\n'
        "localhost. 300 IN A 127.0.0.1\n"
    )


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> DovecotServer:
    return dovecot


@pytest.fixture
def mx(mx_factory: Callable[..., MxServer], mailbox: DovecotServer, dns_server: DnsTestServer) -> MxServer:  # noqa: F811
    _zone(dns_server, KEY)
    return mx_factory(mailbox=mailbox, dns=dns_server)


@pytest.fixture
def sending_service(
    tmp_path_factory: pytest.TempPathFactory, ca_file: Any, dns_server: DnsTestServer, mx: MxServer
) -> Iterator[Service]:
    env = {
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mx.port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "ops@example.com",
        "DKIM_DOMAIN": "example.com",
        "DKIM_SELECTOR": "canary",
        "DKIM_PRIVATE_KEY": KEY.reveal(),
    }
    with running_service(tmp_path_factory, ca_file, dns_server, extra_env=env) as service:
        yield service


def _summary_after_run(page: Any, before: str) -> str:
    """Reload the canary's page until a new run's summary is there (bounded)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        page.reload()
        summary = page.locator("span.summary").inner_text()
        running = page.locator("button:has-text('Run now')").is_disabled()
        if summary != before and not running and not summary.startswith("no run"):
            return str(summary)
        page.wait_for_timeout(1000)
    raise AssertionError(f"no run ended within {RUN_TIMEOUT:.0f} s; the page says {before!r}")


def _run_now(page: Any) -> None:
    """Press Run now and wait for the page its form posts back to: reloading while that
    navigation is under way detaches the page (seen in CI as "Not attached to an active page")."""
    with page.expect_navigation():
        page.click("button:has-text('Run now')")


def test_a_canary_run_end_to_end_in_the_console(
    page: Any, sending_service: Service, mailbox: DovecotServer, mx: MxServer, dns_server: DnsTestServer
) -> None:
    log_in(page, sending_service)
    page.click("nav >> text=Canaries")
    page.fill("#id_name", "home")
    page.fill("#id_address", mailbox.user)
    page.fill("#id_imap_host", mailbox.host)
    page.fill("#id_imap_port", str(mailbox.port))
    page.select_option("#id_imap_security", "none")
    page.fill("#id_imap_user", mailbox.user)
    page.fill("#id_imap_password", mailbox.password)
    page.click("button:has-text('Add canary')")
    page.wait_for_url(re.compile(r"/canaries/\d+/$"))
    canary_url = page.url

    first = _summary_after_run(page, "no run has finished yet")
    assert re.fullmatch(r"arrived in inbox in \d+ s, SPF pass, DKIM pass, DMARC pass", first), first
    assert page.locator("[data-status]").first.inner_text() == "ok"
    assert mailbox.password not in page.content()

    # the DNS now publishes another key than the one the service signs with
    _zone(dns_server, generate_key(2048))
    _run_now(page)
    second = _summary_after_run(page, first)
    assert re.fullmatch(r"arrived in inbox in \d+ s, SPF pass, DKIM fail, DMARC pass", second), second
    assert page.locator("[data-status]").first.get_attribute("data-status") == "auth_failed"
    assert page.locator("[data-status]").first.inner_text() == "authentication failed"
    assert "canary.auth_failed" in page.locator("section[aria-labelledby=status-h]").inner_text()
    page.locator("tr[data-run] details").first.click()
    assert "dkim=fail" in page.locator("tr[data-run] pre.headers").first.inner_text()
    page.goto(sending_service.url + "/doctor/")
    page.click("button:has-text('Run the doctor')")
    page.wait_for_selector("text=canary.auth_failed")

    # fixed, and the receiver now files it as junk
    _zone(dns_server, KEY)
    mx.rule = lambda judged: "Junk"
    page.goto(canary_url)
    _run_now(page)
    third = _summary_after_run(page, second)
    assert re.fullmatch(r"arrived in junk in \d+ s, SPF pass, DKIM pass, DMARC pass", third), third
    assert page.locator("[data-status]").first.inner_text() == "junk"
    assert page.csp_errors == []
