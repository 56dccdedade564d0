"""The template editor in a real browser: a "password-reset" template with {{ reset_url }}
and a logo by cid: is created in the console, its live preview follows the typing,
names a missing variable, and shows the mail at phone width (a screenshot is kept);
"Send test" queues it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Service, log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

HTML = (
    '<img src="cid:logo" alt="Example logo" width="120">\n'
    "<h1>Hello {{ name }}</h1>\n"
    '<p><a href="{{ reset_url }}">Choose a new password</a></p>\n'
    "<p>This link stops working in one hour.</p>"
)
SAMPLE = {"name": "Ann", "reset_url": "https://app.example.com/reset/abc"}


def test_a_template_is_written_with_a_live_preview_and_shown_at_phone_width(
    browser: Any, service: Service
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "Failed to load" not in msg.text else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None
        ),
    )
    try:
        log_in(page, service)
        page.goto(service.url + "/templates/")
        page.fill("#t-name", "password-reset")
        page.fill("#t-subject", "Reset your password, {{ name }}")
        page.fill("#t-html", HTML)
        page.fill("#t-sample", json.dumps({"name": "Ann"}))
        # the preview follows the form: without reset_url it names the variable and line
        page.wait_for_selector("[data-preview-error] >> text=variable 'reset_url' is missing")
        assert "html line 3" in page.inner_text("[data-preview-error]")
        page.fill("#t-sample", json.dumps(SAMPLE))
        page.wait_for_selector("[data-preview-subject] >> text=Reset your password, Ann")
        page.get_by_role("button", name="Create").click()
        page.wait_for_url(service.url + "/templates/password-reset/")
        assert "Template password-reset saved as version 1." in page.inner_text("main")

        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        phone = page.locator("iframe[data-width='375']")
        phone.scroll_into_view_if_needed()
        link = page.frame_locator("iframe[data-width='375']").get_by_role(
            "link", name="Choose a new password"
        )
        assert link.get_attribute("href") == SAMPLE["reset_url"]
        box = phone.bounding_box()
        assert box is not None
        assert box["width"] <= 390  # the phone preview fits a phone's screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "template-editor-phone.png"), full_page=True)
        phone.screenshot(path=str(SCREENSHOTS / "template-preview-phone.png"))

        page.get_by_role("button", name="Send test").click()
        page.wait_for_selector("text=Test of password-reset version 1 queued for")
        assert errors == [], errors
    finally:
        context.close()
