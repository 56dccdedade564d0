"""A stored mail's page (captured inbox and message page, issue #17; Mailpit is the
anchor): tabs for HTML, HTML source, Text, Headers, Raw and the link check; the HTML at
laptop and phone width in sandboxed frames; each link judged against APP_URL; a note
for the remote images the sandbox blocked; the captured list polls for new mail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from postwarden.configstore import runtime
from postwarden.transports.capture import count_captured
from tests.console.helpers import capture_one, enqueue_one

pytestmark = pytest.mark.django_db

MAIL = (
    b"From: ops@example.com\r\nTo: bob@example.com\r\nSubject: Tabs\r\nMessage-ID: <t1@example.com>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words https://app.example.com/welcome\r\n"
    b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b'<p>Hi</p><a href="https://app.example.com/ok">ok</a> <a href="http://app.example.com/plain">plain</a>'
    b' <a href="https://evil.example.net/x">other</a><img src="https://tracker.example.net/open.gif">'
    b'<div style="background:url(\'https://cdn.example.net/bg.png\')"></div><img src="cid:logo">\r\n'
    b"--b--\r\n"
)


@pytest.fixture(autouse=True)
def _app_url(clean_env: None) -> None:
    runtime.save({"MAIL_FROM": "ops@example.com", "APP_URL": "https://app.example.com"})


def _tabs(html: str) -> list[str]:
    return re.findall(r'data-tab="(\w+)"', html)


def test_the_captured_page_has_mailpits_tabs_and_shows_the_html_at_both_widths(
    settings_client: Client,
) -> None:
    captured_id = capture_one(MAIL)
    page = settings_client.get(f"/captured/{captured_id}/").content.decode()
    assert _tabs(page) == ["html", "source", "text", "headers", "raw", "links"]
    assert 'data-tab="html" aria-current="page"' in page
    frames = re.findall(r"<iframe [^>]*>", page)
    assert len(frames) == 2
    assert all('sandbox=""' in f and f'src="/captured/{captured_id}/html/"' in f for f in frames)
    assert 'data-fit="375"' in page
    assert 'data-fit="1024"' in page
    assert "<script" not in page.split("<main>")[1]
    source = settings_client.get(f"/captured/{captured_id}/?view=source").content.decode()
    assert "&lt;a href=&quot;https://evil.example.net/x&quot;&gt;" in source  # escaped, never inlined
    assert "<iframe" not in source
    text = settings_client.get(f"/captured/{captured_id}/?view=text").content.decode()
    assert "Plain words https://app.example.com/welcome" in text
    headers = settings_client.get(f"/captured/{captured_id}/?view=headers").content.decode()
    assert '<th scope="row" class="mono">Message-ID</th>' in headers
    raw = settings_client.get(f"/captured/{captured_id}/?view=raw").content.decode()
    assert "Content-Type: multipart/alternative" in raw
    assert f'href="/captured/{captured_id}/raw/"' in raw
    # an unknown tab is the default one, not an error
    assert (
        'data-tab="html" aria-current="page"'
        in settings_client.get(f"/captured/{captured_id}/?view=x").content.decode()
    )


def test_the_link_check_judges_each_link_against_app_url(settings_client: Client) -> None:
    captured_id = capture_one(MAIL)
    page = settings_client.get(f"/captured/{captured_id}/?view=links").content.decode()
    table = page[page.index('id="link-check"') :]
    rows = re.findall(r"<tr class=\"(good|bad)\">(.*?)</tr>", table, re.S)
    verdicts = {re.search(r'data-label="Link"[^>]*>([^<]+)<', row).group(1): kind for kind, row in rows}  # type: ignore[union-attr]
    assert verdicts["https://app.example.com/ok"] == "good"
    assert verdicts["https://app.example.com/welcome"] == "good"
    assert verdicts["http://app.example.com/plain"] == "bad"
    assert verdicts["https://evil.example.net/x"] == "bad"
    assert "uses http:// while APP_URL is https://" in table
    assert "points at evil.example.net, not APP_URL&#x27;s host app.example.com" in table
    # the HTML tab points at it and the tab carries the count
    html_tab = settings_client.get(f"/captured/{captured_id}/").content.decode()
    assert 'id="link-warning"' in html_tab
    assert re.search(r'data-tab="links"[^>]*>Link check <span class="badge warn">4</span>', html_tab)


def test_it_says_which_remote_images_the_sandbox_blocked(settings_client: Client) -> None:
    captured_id = capture_one(MAIL)
    page = settings_client.get(f"/captured/{captured_id}/").content.decode()
    note = re.search(r'<p class="preset-note" id="remote-blocked">(.*?)</p>', page, re.S)
    assert note is not None
    assert "2 remote images or style sheets blocked" in note.group(1)
    assert "https://tracker.example.net/open.gif" in note.group(1)
    plain = capture_one(subject="No remote content")
    assert 'id="remote-blocked"' not in settings_client.get(f"/captured/{plain}/").content.decode()


def test_the_message_page_has_the_same_tabs(settings_client: Client) -> None:
    message = enqueue_one("ann@example.com", "Hello", html='<p>Hi <img src="http://t.example.net/p.gif"></p>')
    page = settings_client.get(f"/deliveries/{message.public_id}/").content.decode()
    assert _tabs(page) == ["html", "source", "text", "headers", "raw", "links"]
    assert 'id="remote-blocked"' in page
    assert f'src="/deliveries/{message.public_id}/html/"' in page


def test_the_captured_list_answers_its_poll_with_204_until_something_new_arrives(
    settings_client: Client, settings: Any, tmp_path: Path
) -> None:
    # a data directory of its own: the list's newest mail must be this test's (a worker left
    # running by an earlier test in this process may still be capturing into the shared one)
    settings.DATA_DIR = str(tmp_path)
    first = capture_one(subject="First")
    page = settings_client.get("/captured/").content.decode()
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every 3s"', page)
    assert poll is not None
    url = poll.group(1).replace("&amp;", "&")
    assert url.endswith(f"shown={first}")
    assert settings_client.get(url, HTTP_HX_REQUEST="true").status_code == 204
    capture_one(subject="Second, while the list is open")
    fresh = settings_client.get(url, HTTP_HX_REQUEST="true")
    assert fresh.status_code == 200
    rows = fresh.content.decode()
    assert rows.lstrip().startswith("<tbody")
    assert rows.index("Second, while the list is open") < rows.index("First")
    assert (
        f'<span id="captured-total" hx-swap-oob="true" role="status">{count_captured()} captured</span>'
        in rows
    )
    # an older page does not poll
    assert "hx-trigger" not in settings_client.get("/captured/?page=2").content.decode()
