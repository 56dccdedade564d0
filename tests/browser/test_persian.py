"""The console in Persian, right to left, in a real browser (issue #20): with
POSTWARDEN_LANGUAGE=fa every page is in Persian with dir="rtl" at laptop and phone size
(screenshots fa-<size>-<page>.png in tests/screenshots/), the top bar mirrored, nothing wider
than a phone, quoted data (raw sources, headers, addresses) still left to right, and no
serious or critical axe violation; a user who picks English sees English; with no instance
default, a browser that asks for Persian gets Persian."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.browser.conftest import ADMIN_EMAIL, SCREENSHOTS, Service, log_in, run_doctor, running_service
from tests.browser.test_accessibility import SIZES, _api, _seed, _violations

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
#: letters of the Persian alphabet (the Arabic block): a page in Persian is mostly these
PERSIAN: Final = re.compile(r"[\u0600-\u06FF]")
LATIN_WORD: Final = re.compile(r"[A-Za-z]{3,}")


@pytest.fixture(scope="module")
def persian(tmp_path_factory: pytest.TempPathFactory, ca_file: Path, dns_zone: Any) -> Iterator[Service]:
    with running_service(tmp_path_factory, ca_file, dns_zone, {"POSTWARDEN_LANGUAGE": "fa"}) as svc:
        yield svc


def _choose_language(page: Any, service: Service, language: str) -> None:
    """The signed-in user's own language on their Account page ("" = the instance default)."""
    page.goto(service.url + "/account/")
    page.select_option("#id_language", language)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(service.url + "/account/")


def _state(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
              const main = document.querySelector('main');
              return {
                lang: document.documentElement.lang,
                dir: document.documentElement.dir,
                direction: getComputedStyle(document.body).direction,
                overflow: document.documentElement.scrollWidth - window.innerWidth,
                // the page's own words: text outside quoted data (addresses, codes, sources:
                // the elements tests/console/test_pseudo_locale.py leaves out too)
                text: main ? (() => {
                  const quoted = 'code, pre, kbd, samp, bdi, textarea, .mono, [dir=ltr], [lang]:not(html)';
                  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
                  const words = [];
                  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                    const shown = n.parentElement.checkVisibility();
                    if (shown && !n.parentElement.closest(quoted)) words.push(n.data);
                  }
                  return words.join(' ');
                })() : '',
                flips: [...document.querySelectorAll('.flip')].map(e => getComputedStyle(e).transform),
              };
            }"""
        )
    )


def _persian_share(text: str) -> float:
    """Persian letters against Latin ones; names in capitals (SMTP, UTC, POSTWARDEN_LANGUAGE)
    stay Latin in Persian and are not counted."""
    letters = len(PERSIAN.findall(text))
    latin = sum(len(w) for w in LATIN_WORD.findall(text) if not w.isupper())
    return letters / max(1, letters + latin)


def test_every_page_is_persian_and_right_to_left_at_laptop_and_phone_size(
    browser: Any, persian: Service
) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    setup = browser.new_context(viewport={"width": 1280, "height": 900})
    setup.set_default_timeout(20_000)
    seeding = setup.new_page()
    log_in(seeding, persian)
    _choose_language(seeding, persian, "en")  # the seeding clicks buttons by their English names
    pages = _seed(seeding, persian)
    _choose_language(seeding, persian, "")  # back to the instance default: Persian
    setup.close()
    problems: dict[str, list[str]] = {}
    for size, viewport in SIZES:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(persian.url + "/login/")
        assert _state(page)["dir"] == "rtl"
        page.screenshot(path=str(SCREENSHOTS / f"fa-{size}-login.png"), full_page=True)
        log_in(page, persian)
        for name, url in pages.items():
            page.goto(persian.url + url)
            page.screenshot(path=str(SCREENSHOTS / f"fa-{size}-{name}.png"), full_page=True)
            state = _state(page)
            found = []
            if (state["lang"], state["dir"], state["direction"]) != ("fa", "rtl", "rtl"):
                found.append(f"lang={state['lang']} dir={state['dir']} direction={state['direction']}")
            # the page's own words are Persian (technical names such as SMTP or UTC stay Latin)
            if _persian_share(state["text"]) < 0.8:
                found.append(
                    f"mostly not Persian: {[w for w in LATIN_WORD.findall(state['text']) if not w.isupper()]}"
                )
            # a "back" arrow points where the reader goes back to: mirrored
            found += [f"arrow not mirrored: {t}" for t in state["flips"] if not t.startswith("matrix(-1")]
            if size == "phone" and state["overflow"] > 0:
                found.append(f"{state['overflow']} px wider than the phone")
            found += _violations(page)
            if found:
                problems[f"{size} {name}"] = found
        context.close()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)


def test_the_top_bar_is_mirrored_and_quoted_data_stays_left_to_right(browser: Any, persian: Service) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    log_in(page, persian)
    width = 1280
    brand = page.locator(".brand").bounding_box()
    first, last = page.locator(".nav a").first.bounding_box(), page.locator(".nav a").last.bounding_box()
    logout = page.locator(".logout").bounding_box()
    # right to left: the product's name at the right edge, the menu running leftwards, log out at the left
    assert brand["x"] + brand["width"] > width * 0.9, brand
    assert first["x"] > last["x"], (first, last)
    assert logout["x"] < brand["x"], logout
    assert logout["x"] < width * 0.5, logout
    # a quoted address and code keep their own direction inside the right-to-left page
    page.goto(persian.url + "/users/")
    address = page.locator("main table bdi", has_text=ADMIN_EMAIL).first
    assert address.evaluate("e => getComputedStyle(e).unicodeBidi") == "isolate"
    assert address.evaluate("e => getComputedStyle(e).direction") == "ltr"
    page.goto(persian.url + "/settings/")
    code = page.locator("main small.mono", has_text="SMTP_HOST").first
    assert code.evaluate("e => getComputedStyle(e).direction") == "ltr"
    # the doctor's evidence (the server's words) reads left to right
    page.goto(persian.url + "/doctor/")
    run_doctor(page, "اجرای پزشک")
    evidence = page.locator("pre").first
    assert evidence.evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert evidence.evaluate("e => getComputedStyle(e).textAlign") in ("start", "left")
    page.screenshot(path=str(SCREENSHOTS / "fa-doctor-run.png"), full_page=True)
    context.close()


def test_a_persian_font_renders_the_page(browser: Any, persian: Service) -> None:
    """Chromium draws the Persian words with a real font on this machine (no tofu boxes):
    the platform fonts it used for the heading, as the browser's own inspector reports them."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(persian.url + "/login/")
    session = context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument")["root"]["nodeId"]
    heading = session.send("DOM.querySelector", {"nodeId": root, "selector": "main h1"})["nodeId"]
    fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": heading})["fonts"]
    assert fonts, "no platform font drew the heading"
    assert sum(f["glyphCount"] for f in fonts) >= len("ورود"), fonts
    assert all(f["familyName"] for f in fonts), fonts
    context.close()


def test_a_user_who_picks_english_sees_english(browser: Any, persian: Service) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, persian)
    _choose_language(page, persian, "en")
    page.goto(persian.url + "/")
    state = _state(page)
    assert (state["lang"], state["dir"]) == ("en", "ltr")
    assert page.locator("main h1").inner_text() == "Overview"
    page.screenshot(path=str(SCREENSHOTS / "fa-instance-english-user.png"), full_page=True)
    _choose_language(page, persian, "")
    context.close()


def test_a_browser_asking_for_persian_gets_persian_when_nothing_else_is_set(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, ca_file: Path, dns_zone: Any
) -> None:
    with running_service(tmp_path_factory, ca_file, dns_zone) as english:
        for locale, expected in (("fa-IR", ("fa", "rtl")), ("en-US", ("en", "ltr"))):
            context = browser.new_context(locale=locale)
            page = context.new_page()
            page.goto(english.url + "/login/")
            state = _state(page)
            assert (state["lang"], state["dir"]) == expected, locale
            context.close()


def test_the_live_connection_test_writes_its_progress_in_persian(browser: Any, persian: Service) -> None:
    """console.js writes the words the page gave it (base.html's JSON block): the clock, the
    stage badges and the result, in Persian digits where it counts."""
    from tests.ports import free_port

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    log_in(page, persian)
    page.goto(persian.url + "/settings/")
    page.select_option("#id_EMAIL_PROVIDER", "smtp")
    page.fill("#id_SMTP_HOST", "127.0.0.1")
    page.fill("#id_SMTP_PORT", str(free_port()))  # nothing listens: refused at once
    page.locator("#test-connection").click()
    page.wait_for_selector("#test-outcome")
    page.wait_for_function("document.getElementById('test-clock').textContent.startsWith('آزمایش در')")
    clock = page.inner_text("#test-clock")
    assert re.fullmatch(r"آزمایش در [۰-۹٫]+ ثانیه انجام شد", clock), clock  # in Persian digits
    badges = page.locator("#test-progress .badge").all_inner_texts()
    assert badges, "no stage was shown"
    assert all(PERSIAN.search(b) for b in badges), badges
    outcome = page.inner_text("#test-outcome")
    assert PERSIAN.search(outcome), outcome
    page.screenshot(path=str(SCREENSHOTS / "fa-settings-test-connection.png"), full_page=True)
    context.close()


def test_a_messages_stored_sentences_are_persian_with_the_addresses_left_to_right(
    browser: Any, tmp_path_factory: pytest.TempPathFactory, ca_file: Path, dns_zone: Any
) -> None:
    """Sending switched off holds a message (the policy's sentence); a person cancels one
    recipient and releases the other: the message's page says all of it in Persian
    (screenshots fa-<size>-message-held.png), nothing is left marked as English, and the
    addresses and the setting's name inside the sentences read left to right."""
    extra = {"POSTWARDEN_LANGUAGE": "fa", "EMAIL_ENABLED": "false"}
    with running_service(tmp_path_factory, ca_file, dns_zone, extra) as service:
        context = browser.new_context(viewport=dict(SIZES)["laptop"])
        context.set_default_timeout(20_000)
        page = context.new_page()
        log_in(page, service)
        _choose_language(page, service, "en")  # the key is made by the button's English name
        page.goto(service.url + "/api-keys/")
        page.fill("#id_name", "held")
        page.get_by_role("button", name="Create key").click()
        key = page.inner_text("#new-key").strip()
        _choose_language(page, service, "")
        mail = {"to": ["ann@example.com", "bob@example.com"], "subject": "Held", "text": "Hi"}
        public_id = _api(service, key, "/api/v1/messages", mail)["id"]
        page.goto(service.url + "/held/")
        page.locator("tr", has_text="bob@example.com").locator("input[name=ids]").check()
        page.once("dialog", lambda dialog: dialog.accept())
        with page.expect_navigation():  # cancelled before the message's page is asked for
            page.locator("button[name=action][value=cancel]").click()
        page.goto(f"{service.url}/deliveries/{public_id}/")
        page.locator("button[name=action][value=release_message]").click()
        page.wait_for_url(f"**/deliveries/{public_id}/")
        marked = page.locator("main [lang=en]")
        assert marked.count() == 0, marked.all_inner_texts()
        text = page.inner_text("main ol.timeline")
        assert "رها شد" in text  # released by the admin
        assert "لغو شد" in text  # cancelled
        assert "EMAIL_ENABLED" in text  # the hold's reason, its setting's name as written
        isolated = page.locator("main ol.timeline bdi[dir=ltr]", has_text="bob@example.com")
        assert isolated.count() >= 1
        assert isolated.first.evaluate("e => getComputedStyle(e).direction") == "ltr"
        state = _state(page)
        assert _persian_share(state["text"]) >= 0.8, LATIN_WORD.findall(state["text"])
        for size, viewport in SIZES:
            page.set_viewport_size(viewport)
            page.screenshot(path=str(SCREENSHOTS / f"fa-{size}-message-held.png"), full_page=True)
        context.close()
