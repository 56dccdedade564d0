"""The template editor in a real browser: a "password-reset" template with {{ reset_url }}
and a logo by cid: is created in the console, its live preview follows the typing,
names a missing variable, and shows the mail at phone width and, on a phone's screen, the
laptop-width page scaled down (not squeezed; screenshots of both are kept);
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
        # the laptop preview on the phone: still a laptop-wide page, scaled down, not squeezed
        laptop = page.locator("iframe[data-width='1024']")
        laptop.scroll_into_view_if_needed()
        page.wait_for_function(
            "() => { const f = document.querySelector(\"iframe[data-width='1024']\");"
            " return f.getBoundingClientRect().right <= document.documentElement.clientWidth; }"
        )
        laptop_frame = laptop.element_handle().content_frame()
        assert laptop_frame is not None
        inner = laptop_frame.evaluate("document.documentElement.clientWidth")
        assert inner == laptop.evaluate("f => f.clientWidth") >= 1000  # laid out at 1024 px
        laptop_box = laptop.bounding_box()
        assert laptop_box is not None
        assert laptop_box["width"] <= 390
        scale = laptop_box["width"] / laptop.evaluate("f => f.offsetWidth")
        assert 0.2 < scale < 0.5
        # the frame's box is as tall as the scaled page: nothing cut off, no gap below
        viewport = page.locator(".preview-laptop .preview-viewport").bounding_box()
        assert viewport is not None
        assert abs(viewport["height"] - laptop_box["height"]) <= 1
        link_box = (
            page.frame_locator("iframe[data-width='1024']")
            .get_by_role("link", name="Choose a new password")
            .bounding_box()
        )
        assert link_box is not None
        assert laptop_box["x"] <= link_box["x"] <= laptop_box["x"] + laptop_box["width"]
        # and the phone preview keeps its own 375 px page
        phone_frame = phone.element_handle().content_frame()
        assert phone_frame is not None
        phone_inner = phone_frame.evaluate("document.documentElement.clientWidth")
        assert phone_inner == phone.evaluate("f => f.clientWidth") >= 370
        assert "{#" not in page.inner_text("main")
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "template-editor-phone.png"), full_page=True)
        phone.screenshot(path=str(SCREENSHOTS / "template-preview-phone.png"))
        laptop.screenshot(path=str(SCREENSHOTS / "template-preview-laptop-on-phone.png"))

        page.get_by_role("button", name="Send test").click()
        page.wait_for_selector("text=Test of password-reset version 1 queued for")
        assert errors == [], errors
    finally:
        context.close()
