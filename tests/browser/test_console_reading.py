"""Issue #17 in a real browser: the captured inbox (Mailpit's tabs, the HTML at phone
width, the link check against APP_URL, the blocked remote images, a new capture showing up
without a reload), mail bodies as a permission of their own, tables as cards on a phone,
post/redirect/get, the console's own 404 and 403 and /favicon.ico. Each test leaves
screenshots at laptop and phone size in tests/screenshots/."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Service, log_in, running_service

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
APP_URL = "https://app.example.com"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWER, VIEWER_PASSWORD = "reader@example.com", "reader-password-123"
HTML = (
    '<h1>Welcome</h1><p><a href="https://app.example.com/start">Start</a> · '
    '<a href="http://localhost:8000/reset/tok-Zq9XkVbN">Reset</a> · '
    '<a href="https://elsewhere.example.net/x">Elsewhere</a></p>'
    '<img src="https://tracker.example.net/open.gif" alt="">'
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, ca_file: Path, dns_zone: Any) -> Iterator[Service]:
    """The console with APP_URL set, nothing else: mail goes to the capture inbox."""
    with running_service(tmp_path_factory, ca_file, dns_zone, {"APP_URL": APP_URL}) as svc:
        yield svc


@pytest.fixture(scope="module")
def api_key(browser: Any, service: Service) -> str:
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    log_in(page, service)
    page.goto(service.url + "/api-keys/")
    page.fill("#id_name", "reading tests")
    page.check("input[name=scopes][value=send]")
    page.get_by_role("button", name="Create key").click()
    key = str(page.inner_text("#new-key")).strip()
    context.close()
    return key


def send(service: Service, key: str, subject: str, html: str = HTML) -> str:
    body = {
        "to": ["ann@example.com"],
        "subject": subject,
        "text": "Start at https://app.example.com/start",
        "html": html,
    }
    request = urllib.request.Request(
        service.url + "/api/v1/messages",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["id"])


def shot(page: Any, name: str) -> None:
    """Screenshots of the page as it is, at laptop and at phone size. Chromium leaves a
    sandboxed frame below the first screen blank in a full-page capture, so the mail's
    previews get a capture of their own (scrolled into view): <size>-<name>-preview.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for label, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{label}-{name}.png"), full_page=True)
        previews = page.locator(".preview-widths")
        if previews.count():
            previews.first.screenshot(path=str(SCREENSHOTS / f"{label}-{name}-preview.png"))
    page.set_viewport_size(LAPTOP)


def open_tab(page: Any, key: str) -> None:
    page.locator(f"nav.tabs a[data-tab={key}]").click()
    page.wait_for_url(f"**/?view={key}#mail")
    page.locator(f"nav.tabs a[data-tab={key}][aria-current=page]").wait_for()


def fits_the_phone(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1


def test_a_new_capture_appears_without_a_reload_and_opens_in_tabs(
    page: Any, service: Service, api_key: str
) -> None:
    log_in(page, service)
    page.goto(service.url + "/captured/")
    page.evaluate("window.__same_document = true")  # gone if the page were reloaded
    send(service, api_key, "Live capture")
    row = page.locator("#captured-rows a", has_text="Live capture")
    row.wait_for()
    assert page.evaluate("window.__same_document === true")
    assert "captured" in page.inner_text("#captured-total")
    shot(page, "captured-live")
    row.click()
    page.wait_for_url("**/captured/*/")
    tabs = page.locator("nav.tabs a")
    tabs.first.wait_for()
    assert tabs.all_inner_texts()[:5] == ["HTML", "HTML source", "Text", "Headers", "Raw"]
    # the HTML at laptop and at phone width, each in a sandboxed frame
    phone = page.locator(".preview-phone iframe")
    assert phone.get_attribute("sandbox") == ""
    assert page.locator(".preview-phone .preview-viewport").bounding_box()["width"] == 375  # type: ignore[index]
    assert page.frame_locator(".preview-phone iframe").locator("h1").inner_text() == "Welcome"
    assert "1 remote image or style sheet blocked" in page.inner_text("#remote-blocked")
    assert "3 links would not work" in page.inner_text("#link-warning")
    shot(page, "captured-html")
    open_tab(page, "source")
    assert "<h1>Welcome</h1>" in page.inner_text(".tab-panel pre")
    open_tab(page, "text")
    assert "Start at https://app.example.com/start" in page.inner_text(".tab-panel pre")
    open_tab(page, "headers")
    assert "Live capture" in page.inner_text("table.headers")
    open_tab(page, "raw")
    assert "Content-Type: multipart/alternative" in page.inner_text(".tab-panel pre")
    open_tab(page, "links")
    rows = {
        r.locator("[data-label=Link]").inner_text(): r.get_attribute("class")
        for r in page.locator("#link-check tbody tr").all()
    }
    assert rows["https://app.example.com/start"] == "good"
    assert rows["http://localhost:8000/reset/tok-Zq9XkVbN"] == "bad"
    assert rows["https://elsewhere.example.net/x"] == "bad"
    assert "not APP_URL's host app.example.com" in page.inner_text("#link-check")
    shot(page, "captured-links")
    page.set_viewport_size(PHONE)
    assert fits_the_phone(page, "#link-check tbody tr.bad [data-label=Verdict] .badge")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # the only policy violations are the mail's own remote image, blocked in its frame
    blocked = [e for e in page.csp_errors if "tracker.example.net" in e and '"img-src data:"' in e]
    assert blocked
    assert [e for e in page.csp_errors if e not in blocked] == []


def test_a_viewer_reads_metadata_and_the_timeline_but_a_body_only_when_granted(
    browser: Any, page: Any, service: Service, api_key: str
) -> None:
    public_id = send(service, api_key, "Reset your password")
    log_in(page, service)
    page.goto(service.url + "/users/")
    assert "Only when granted" in page.inner_text("#role-table")
    page.fill("#id_email", VIEWER)
    page.select_option("#id_role", "viewer")
    page.fill("#id_password", VIEWER_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    shot(page, "users")
    reader = browser.new_context(viewport=LAPTOP).new_page()
    log_in(reader, service, VIEWER, VIEWER_PASSWORD)
    reader.goto(f"{service.url}/deliveries/{public_id}/")
    assert "ann@example.com" in reader.inner_text("#rcpt-h + .table-wrap")
    assert reader.locator("ol.timeline li").count() >= 1
    assert "not shown to your account" in reader.inner_text("#bodies-hidden")
    assert reader.locator("iframe").count() == 0
    assert "tok-Zq9XkVbN" not in reader.content()
    shot(reader, "message-viewer")
    for suffix in ("html/", "raw/"):
        response = reader.goto(f"{service.url}/deliveries/{public_id}/{suffix}")
        assert response is not None
        assert response.status == 403
        assert "An admin can grant reading bodies" in reader.inner_text("main")
    shot(reader, "forbidden-body")
    # the admin grants it: the same viewer now reads the body
    page.goto(service.url + "/users/")
    page.get_by_role("link", name=f"Edit {VIEWER}").click()
    page.check("#id_read_bodies")
    page.get_by_role("button", name="Save").click()
    assert "reads them" in page.locator("tr", has_text=VIEWER).inner_text()
    reader.goto(f"{service.url}/deliveries/{public_id}/")
    assert reader.locator("#bodies-hidden").count() == 0
    assert reader.frame_locator(".preview-laptop iframe").locator("h1").inner_text() == "Welcome"
    reader.context.close()


def test_tables_become_cards_on_a_phone_with_the_actions_in_reach(
    page: Any, service: Service, api_key: str
) -> None:
    send(service, api_key, "Shown as a card")
    log_in(page, service)
    page.goto(service.url + "/captured/")
    page.locator("#captured-rows a", has_text="Shown as a card").wait_for()  # the list follows by itself
    page.on("dialog", lambda dialog: dialog.dismiss())
    page.goto(service.url + "/suppressions/")
    page.fill("#id_address", "gone@example.com")
    page.fill("#id_detail", "asked us to stop, in a long sentence that would widen the column on a phone")
    page.get_by_role("button", name="Suppress", exact=True).click()
    page.set_viewport_size(PHONE)
    checks = {
        "/suppressions/": (
            "tr:has-text('gone@example.com') .badge",
            "tr:has-text('gone@example.com') button",
        ),
        "/api-keys/": ("tr:has-text('reading tests') button:has-text('Revoke')",),
        "/users/": ("a:has-text('Edit')",),
        "/captured/": ("main table a[href^='/captured/']",),
        "/deliveries/": ("tbody tr a",),
    }
    for path, selectors in checks.items():
        page.goto(service.url + path)
        for selector in selectors:
            assert fits_the_phone(page, selector), (path, selector)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        # no table scrolls sideways inside its card
        assert page.evaluate(
            "[...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth + 1)"
        ), path
        page.screenshot(
            path=str(SCREENSHOTS / f"phone-cards{path.replace('/', '-').rstrip('-')}.png"), full_page=True
        )


def test_reloading_after_creating_a_key_does_not_create_it_again(page: Any, service: Service) -> None:
    log_in(page, service)
    page.goto(service.url + "/api-keys/")
    page.fill("#id_name", "reload me")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Create key").click()
    response = navigation.value
    assert response.request.method == "GET"
    assert response.request.redirected_from.method == "POST"
    assert page.inner_text("#new-key").startswith("pw_")
    page.reload()
    assert page.locator("tr", has_text="reload me").count() == 1
    assert page.locator("#new-key").count() == 0  # shown once
    shot(page, "apikeys")


def test_unknown_ids_and_forbidden_pages_get_the_consoles_pages(page: Any, service: Service) -> None:
    favicon = page.request.get(service.url + "/favicon.ico")
    assert favicon.status == 200
    assert favicon.body()[:4] == b"\x00\x00\x01\x00"
    log_in(page, service)
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/console/favicon.svg"
    for path in ("/deliveries/m_nope/", "/captured/20260101T000000000000-x-abcdef/", "/nowhere/"):
        response = page.goto(service.url + path)
        assert response is not None
        assert response.status == 404
        assert page.inner_text("h1") == "Not found"
        assert page.locator("nav.nav a").count() > 3  # the console's menu is there
    shot(page, "not-found")
    page.get_by_role("link", name="Back to the overview").click()
    page.wait_for_url(service.url + "/")
    api = page.request.get(service.url + "/api/v1/nowhere")
    assert api.status == 404
    assert api.json() == {"detail": "Not Found"}
