"""Keyboard and screen reader basics on every console page (issue #17): axe-core (the
copy bundled by the axe-playwright-python package, pinned in pyproject) is injected by
Playwright into each page at laptop and at phone size, and any violation axe rates
serious or critical fails the test, named with the elements it found. Screenshots of
every page at both sizes are kept in tests/screenshots/ (a11y-<size>-<page>.png).

Every GET route of the console's access table is either visited here or named in
:data:`NOT_PAGES` with the reason, so a new page cannot skip the check."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from typing import Any, Final

import pytest
from axe_playwright_python.sync_playwright import Axe

from postwarden.console.access import ACCESS
from tests.browser.conftest import SCREENSHOTS, Service, log_in, run_doctor
from tests.reliability.figures import report

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
SIZES: Final = (("laptop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844}))
#: reloads of the captured list while the worker captures the seeded mail (bounded)
CAPTURE_POLLS: Final = 60
#: what fails the test; "moderate" and "minor" are reported by axe but left to judgement
FAILING: Final = frozenset({"serious", "critical"})
#: console routes that are no page of their own
NOT_PAGES: Final = {
    "logout": "POST only",
    "settings_test_connection": "answers a form (htmx partial); a GET redirects to the settings",
    "settings_send_test": "answers a form (htmx partial)",
    "settings_dkim_generate": "a form's action",
    "settings_dkim_check": "answers a form (htmx partial)",
    "settings_oauth2_connect": "a form's action",
    "settings_oauth2_callback": "the identity platform's redirect",
    "message_html": "the mail's own HTML, sandboxed (not the console's markup)",
    "message_raw": "plain text",
    "message_attachment": "a download",
    "captured_html": "the mail's own HTML, sandboxed (not the console's markup)",
    "captured_raw": "plain text",
    "captured_attachment": "a download",
    "template_preview": "answers the editor's form (htmx partial, checked inside the editor)",
    "template_send_test": "a form's action",
    "template_delete": "a form's action",
    "held_action": "a form's action",
    "suppressions_csv": "a CSV download",
    "suppression_remove": "a form's action",
    "doctor_run": "a form's action",
    "apikey_revoke": "a form's action",
    "canary_run": "a form's action",
    "canary_delete": "a form's action",
    "alert_destination_remove": "a form's action",
    "alert_test": "a form's action",
}
HTML = '<h1>Hello</h1><p><a href="http://localhost/reset/abc">Reset</a></p><img src="https://t.example.net/o.gif">'


def _api(service: Service, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        service.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def _seed(page: Any, service: Service) -> dict[str, str]:
    """Something on every page: a message (captured too: nothing is configured), a
    template, a member in a group, a viewer, a doctor run; returns the console page of
    each page the table names, by URL name (several views of one mail by tab)."""
    page.goto(service.url + "/api-keys/")
    page.fill("#id_name", "a11y")
    page.check("input[name=scopes][value=admin]")
    page.get_by_role("button", name="Create key").click()
    key = page.inner_text("#new-key").strip()
    mail = {"to": ["ann@example.com"], "subject": "A11y", "text": "Hi", "html": HTML}
    public_id = _api(service, key, "/api/v1/messages", mail)["id"]
    template = {"name": "welcome", "subject": "Hi {{ name }}", "text": "Hello {{ name }}"}
    _api(service, key, "/api/v1/templates", {**template, "sample_variables": {"name": "Ann"}})
    page.goto(service.url + "/people/")
    page.fill("#group-name", "ops")
    with page.expect_navigation():  # the form's answer, before the next page is asked for
        page.get_by_role("button", name="Add group").click()
    page.fill("#id_email", "member@example.com")
    with page.expect_navigation():  # the form's answer, before the next page is asked for
        page.get_by_role("button", name="Add member").click()
    page.goto(service.url + "/users/")
    page.fill("#id_email", "viewer@example.com")
    page.select_option("#id_role", "viewer")
    page.fill("#id_password", "viewer-password-123")
    with page.expect_navigation():  # the form's answer, before the next page is asked for
        page.get_by_role("button", name="Create user").click()
    page.goto(service.url + "/canaries/")
    page.fill("#id_address", "canary@example.net")
    page.fill("#id_imap_host", "imap.example.net")
    page.fill("#id_imap_user", "canary@example.net")
    page.fill("#id_imap_password", "canary-imap-password")
    page.get_by_role("button", name="Add canary").click()
    page.wait_for_url("**/canaries/*/")
    canary = page.url.removeprefix(service.url)
    page.goto(service.url + "/doctor/")
    run_doctor(page)
    page.goto(service.url + "/captured/")
    captured = page.locator("main table a", has_text="A11y").first
    for _ in range(CAPTURE_POLLS):  # the worker captures it within a few of its polls
        if captured.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    c = str(captured.get_attribute("href"))
    page.goto(service.url + "/people/")
    member = str(page.locator("a[href^='/people/members/']").first.get_attribute("href"))
    group = str(page.locator("a[href^='/people/groups/']").first.get_attribute("href"))
    page.goto(service.url + "/users/")
    user = str(page.locator("tr", has_text="viewer@example.com").locator("a").first.get_attribute("href"))
    pages = {
        "overview": "/",
        "settings": "/settings/",
        "deliveries": "/deliveries/",
        "message": f"/deliveries/{public_id}/",
        "templates": "/templates/",
        "template": "/templates/welcome/",
        "template_diff": "/templates/welcome/diff/",
        "held": "/held/",
        "suppressions": "/suppressions/",
        "doctor": "/doctor/",
        "captured": "/captured/",
        "captured_message": c,
        "people": "/people/",
        "member": member,
        "group": group,
        "apikeys": "/api-keys/",
        "users": "/users/",
        "user": user,
        "logs": "/logs/",
        "bounces": "/bounces/",
        "canaries": "/canaries/",
        "canary": canary,
        "alerts": "/alerts/",
        "account": "/account/",
    }
    for tab in ("source", "text", "headers", "raw", "links"):  # each tab of a mail is a view of its own
        pages[f"captured_message-{tab}"] = f"{c}?view={tab}"
    pages["not-found"] = "/deliveries/m_nope/"
    return pages


def _violations(page: Any, tally: Counter[str] | None = None) -> list[str]:
    """The serious and critical violations on ``page``; ``tally`` counts every violation
    (rule and page) by impact, for the run's figures."""
    # the sandboxed mail frames hold the mail's own markup, not the console's: not checked
    results = Axe().run(page, options={"resultTypes": ["violations"], "iframes": False})
    found = []
    for violation in results.response["violations"]:
        if tally is not None:
            tally[str(violation.get("impact"))] += 1
        if violation.get("impact") in FAILING:
            targets = [", ".join(map(str, node["target"])) for node in violation["nodes"][:5]]
            found.append(f"{violation['impact']} {violation['id']}: {violation['help']} at {targets}")
    return found


#: the pages visited besides those of the access table: by URL name
VISITED: Final = frozenset(
    {
        "login", "overview", "settings", "deliveries", "message", "templates", "template", "template_diff",
        "held", "suppressions", "doctor", "captured", "captured_message", "people", "member", "group",
        "apikeys", "users", "user", "logs", "bounces", "canaries", "canary", "alerts", "account",
    }
)  # fmt: skip


def test_every_console_route_is_checked_or_named_as_no_page() -> None:
    assert set(ACCESS) == VISITED | set(NOT_PAGES), (
        "a new console route: visit it in _seed and add it to VISITED, or say in NOT_PAGES why it is no page"
    )
    assert not VISITED & set(NOT_PAGES)


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    browser: Any, service: Service, request: pytest.FixtureRequest
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    problems: dict[str, list[str]] = {}
    tally: Counter[str] = Counter()
    visits = 0
    pages: dict[str, str] = {}
    for size, viewport in SIZES:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(service.url + "/login/")
        checked = {"login": _violations(page, tally)}
        page.screenshot(path=str(SCREENSHOTS / f"a11y-{size}-login.png"), full_page=True)
        log_in(page, service)
        pages = pages or _seed(page, service)
        assert {name for name in pages if name in ACCESS} | {"login"} == VISITED
        for name, url in pages.items():
            page.goto(service.url + url)
            page.screenshot(path=str(SCREENSHOTS / f"a11y-{size}-{name}.png"), full_page=True)
            checked[name] = _violations(page, tally)
        # a viewer's view of a message: the body withheld, the refusal page
        viewer = browser.new_context(viewport=viewport).new_page()
        log_in(viewer, service, "viewer@example.com", "viewer-password-123")
        for name, url in (("message-viewer", pages["message"]), ("forbidden", "/settings/")):
            viewer.goto(service.url + url)
            viewer.screenshot(path=str(SCREENSHOTS / f"a11y-{size}-{name}.png"), full_page=True)
            checked[name] = _violations(viewer, tally)
        viewer.context.close()
        context.close()
        problems.update({f"{size} {name}": found for name, found in checked.items() if found})
        visits += len(checked)
    report(request, "accessibility (axe-core, issue #17)", page_visits=visits, **dict(tally))
    assert problems == {}, json.dumps(problems, indent=1)


def _focused(page: Any) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
            return {tag: e.tagName, id: e.id, text: (e.innerText || e.value || '').trim().slice(0, 40),
                    outline: s.outlineStyle, width: s.outlineWidth}; }"""
        )
    )


def test_the_keyboard_reaches_the_phone_menu_and_every_focus_is_visible(
    browser: Any, service: Service
) -> None:
    context = browser.new_context(viewport=dict(SIZES)["phone"])
    page = context.new_page()
    log_in(page, service)
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Postwarden"
    page.keyboard.press("Tab")
    toggle = _focused(page)
    assert toggle["id"] == "menu-toggle"
    assert page.locator("label.menu-button").evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert not page.locator("nav.nav").is_visible()
    page.keyboard.press("Space")
    assert page.locator("nav.nav").is_visible()
    seen = []
    for _ in range(6):  # into the menu: each entry shows where the focus is
        page.keyboard.press("Tab")
        focused = _focused(page)
        assert focused["outline"] == "solid", focused
        assert focused["width"] == "3px", focused
        seen.append(focused["text"])
    assert seen[:3] == ["Overview", "Deliveries", "Templates"]
    page.screenshot(path=str(SCREENSHOTS / "a11y-phone-menu-by-keyboard.png"), full_page=True)
    context.close()
