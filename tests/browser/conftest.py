"""Browser tests: Debian's chromium driven by Playwright against a real ``postwarden
serve`` (web console + worker) on a free port with a throwaway data directory.

Chromium missing: skipped locally with the reason, a failure under CI=true
(tests/system.py). ``playwright install`` is never run: the browser is the system's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port
from tests.processes import stop_group
from tests.system import missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "browser-admin-Zq9XkVbN"
#: the user the tests' local SMTP servers take
SMTP_USER = "ops"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
#: seconds the service may take to migrate and start listening
START_TIMEOUT = 60.0


@dataclass
class Service:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _wait_until_up(service: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"postwarden serve exited ({service.process.returncode}):\n{service.tail()}")
        try:
            with urllib.request.urlopen(service.url + "/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"postwarden serve did not answer within {START_TIMEOUT:.0f} s:\n{service.tail()}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, ca_file: Path, dns_zone: Any) -> Iterator[Service]:
    """``postwarden serve --no-relay``: migrate, first admin, web console and a worker."""
    with running_service(tmp_path_factory, ca_file, dns_zone) as svc:
        yield svc


@contextmanager
def running_service(
    tmp_path_factory: pytest.TempPathFactory,
    ca_file: Path,
    dns_zone: Any,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Service]:
    """A service as :func:`service` starts it, with ``extra_env`` on top (a module that
    needs, say, APP_URL set from the start)."""
    data_dir = tmp_path_factory.mktemp("pw-browser")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DKIM_"))}
    env.update(
        {
            "POSTWARDEN_DATA_DIR": str(data_dir),
            "POSTWARDEN_PORT": str(port),
            "POSTWARDEN_HOST": "127.0.0.1",
            "POSTWARDEN_ADMIN_EMAIL": ADMIN_EMAIL,
            "POSTWARDEN_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "POSTWARDEN_SECRET_KEY": "browser-tests-secret-key-0123456789abcdef",
            "POSTWARDEN_DNS_SERVER": dns_zone.address,
            "SSL_CERT_FILE": str(ca_file),
            "DATABASE_URL": f"sqlite:///{data_dir / 'postwarden.sqlite3'}",
            **(extra_env or {}),
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "postwarden", "serve", "--no-relay"],
            env=env,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    svc = Service(f"http://127.0.0.1:{port}", data_dir, process, log)
    try:
        _wait_until_up(svc)
        yield svc
    finally:
        stop_group(process)


@pytest.fixture(scope="module")
def dns_zone() -> Iterator[Any]:
    """A DNS server for the doctor's questions, so they never leave the machine."""
    from tests.dnsd import running_dns_server

    with running_dns_server(
        'example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"\n'
        "example.com. 300 IN MX 10 mx.example.com.\n"
        "mx.example.com. 300 IN A 127.0.0.1\n"
        # the doctor asks this resolver for the SMTP host's address too
        "localhost. 300 IN A 127.0.0.1"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing("chromium", "apt-get install chromium, or run make test as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot named after the test is saved at
    the end (tests/screenshots/ is git-ignored), pass or fail."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    # CSP violations are reported as console errors ("Refused to … because it violates …";
    # chromium 120+ words them "Loading the script '…' violates the following Content
    # Security Policy directive …")
    tab.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and ("Refused" in msg.text or "Content Security Policy" in msg.text)
            else None
        ),
    )
    tab.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400
            and not r.url.endswith("/favicon.ico")
            and r.request.resource_type != "document"
            else None
        ),
    )
    tab.csp_errors = errors
    try:
        yield tab
    finally:
        SCREENSHOTS.mkdir(exist_ok=True)
        name = request.node.name.removeprefix("test_")
        tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()


def log_in(page: Any, service: Service, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    page.goto(service.url + "/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(service.url + "/")


def run_doctor(page: Any, button: str = "Run the doctor") -> None:
    """Press the Doctor page's run button and wait for this run's report. The page may
    already show an earlier run's (#root-cause included): htmx swaps #report whole, so the
    old node leaving the document is what says the new report is in."""
    earlier = page.locator("#report").element_handle()
    page.get_by_role("button", name=button).click()
    page.wait_for_function("e => !e.isConnected", arg=earlier)
    page.wait_for_selector("#root-cause")


def fill_smtp(page: Any, port: int, password: str) -> None:
    """Type a local SMTP server's settings (STARTTLS, user SMTP_USER) into the Email settings
    form, which must be open; the SMTP fields show once "Send through" says smtp."""
    page.select_option("#id_EMAIL_PROVIDER", "smtp")
    page.fill("#id_SMTP_HOST", "localhost")
    page.fill("#id_SMTP_PORT", str(port))
    page.select_option("#id_SMTP_SECURITY", "starttls")
    page.fill("#id_SMTP_USER", SMTP_USER)
    page.fill("#id_SMTP_PASSWORD", password)
    page.fill("#id_SMTP_TIMEOUT", "5")
    page.fill("#id_MAIL_FROM", "ops@example.com")
