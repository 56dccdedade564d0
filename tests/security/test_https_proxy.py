"""``postwarden web`` behind an HTTPS proxy (POSTWARDEN_HTTPS=true, docs/configuration.md:
"behind a proxy that sets X-Forwarded-Proto"): a real waitress process, this test playing
the proxy. The request is seen as HTTPS (HSTS is sent), and a browser's log-in, whose
Origin is the https:// address, is accepted. waitress used to drop X-Forwarded-Proto (it
clears proxy headers from peers it does not trust, and it trusted none), so Django saw
http, sent no HSTS and refused every form with "Origin checking failed" (found here).
X-Forwarded-For stays untrusted: log-in throttling counts the peer's address."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.ports import free_port
from tests.processes import stop_group

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery staple"


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        POSTWARDEN_HTTPS="true",
        POSTWARDEN_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        POSTWARDEN_SECRET_KEY="https-proxy-test-secret-key-0123456789",
        POSTWARDEN_HOST="127.0.0.1",
        POSTWARDEN_PORT=str(port),
    )
    run = [sys.executable, "-m", "postwarden"]
    subprocess.run([*run, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*run, "createadmin", "--email", "a@example.com", "--password-stdin"],
        env=env,
        cwd=tmp_path,
        input=PASSWORD,
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )
    process = subprocess.Popen([*run, "web"], env=env, cwd=tmp_path, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        stop_group(process)


def test_a_browser_behind_the_proxy_logs_in_over_https(web: str) -> None:
    public = "https://" + web.removeprefix("http://")
    proxy = {"X-Forwarded-Proto": "https"}
    page = requests.get(web + "/login/", headers=proxy, timeout=10)
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    token = page.cookies["csrftoken"]
    done = requests.post(
        web + "/login/",
        {"username": "a@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={**proxy, "Origin": public, "Referer": public + "/login/", "Cookie": f"csrftoken={token}"},
        allow_redirects=False,
        timeout=10,
    )
    assert (done.status_code, done.headers.get("Location")) == (302, "/")
    assert "secure" in done.headers["Set-Cookie"].lower()


def test_a_page_from_another_origin_is_still_refused(web: str) -> None:
    page = requests.get(web + "/login/", headers={"X-Forwarded-Proto": "https"}, timeout=10)
    token = page.cookies["csrftoken"]
    refused = requests.post(
        web + "/login/",
        {"username": "a@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={
            "X-Forwarded-Proto": "https",
            "Origin": "https://evil.example",
            "Cookie": f"csrftoken={token}",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 403
