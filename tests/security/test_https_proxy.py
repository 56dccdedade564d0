"""``postwarden web`` behind an HTTPS proxy (POSTWARDEN_HTTPS=true, docs/configuration.md:
"behind a proxy that sets X-Forwarded-Proto"): a real waitress process, this test playing
the proxy. The request is seen as HTTPS (HSTS is sent), and a browser's log-in, whose
Origin is the https:// address, is accepted. waitress used to drop X-Forwarded-Proto (it
clears proxy headers from peers it does not trust, and it trusted none), so Django saw
http, sent no HSTS and refused every form with "Origin checking failed" (found here).
X-Forwarded-For is believed only from POSTWARDEN_TRUSTED_PROXIES (test_trusted_proxies.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.security.web_process import PASSWORD, running_web

pytestmark = pytest.mark.slow


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    with running_web(tmp_path, POSTWARDEN_HTTPS="true") as url:
        yield url


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
