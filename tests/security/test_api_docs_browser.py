"""/api/docs in Debian's chromium under the console's Content-Security-Policy: Swagger UI
comes from this origin (ninja's vendored files) and shows every operation, with no
violation reported. Before, ninja (not an installed app) rendered a page loading Swagger UI
from a CDN with an inline script: the policy blocked both and the page stayed blank."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.browser.conftest import Service, browser, dns_zone, page, service  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_shows_every_api_operation_with_no_policy_violation(page: Any, service: Service) -> None:  # noqa: F811
    loaded: list[str] = []
    page.on("request", lambda r: loaded.append(r.url))
    page.goto(service.url + "/api/docs")
    page.wait_for_selector(".opblock")
    with urllib.request.urlopen(service.url + "/api/openapi.json", timeout=30) as answer:
        schema = json.load(answer)
    operations = sum(len(methods) for methods in schema["paths"].values())
    assert operations >= 17  # messages, suppressions, doctor, suggestions, templates …
    assert page.locator(".opblock").count() == operations
    assert page.csp_errors == []
    assert loaded
    assert all(url.startswith(service.url) for url in loaded), loaded
