"""The captured inbox: the capture transport's mails, each with its HTML sandboxed."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.console.helpers import capture_one

pytestmark = pytest.mark.django_db


def test_it_lists_captured_mail_and_opens_one(settings_client: Client) -> None:
    captured_id = capture_one(subject="Welcome aboard")
    html = settings_client.get("/captured/").content.decode()
    assert "Welcome aboard" in html
    assert f'href="/captured/{captured_id}/"' in html
    page = settings_client.get(f"/captured/{captured_id}/").content.decode()
    assert "bob@example.com" in page
    assert f'src="/captured/{captured_id}/html/"' in page
    assert 'sandbox=""' in page
    assert "<script>alert(1)</script>" not in page  # the HTML part is never inlined


def test_it_serves_the_html_part_sandboxed_and_the_raw_source(settings_client: Client) -> None:
    captured_id = capture_one()
    html = settings_client.get(f"/captured/{captured_id}/html/")
    assert html["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    raw = settings_client.get(f"/captured/{captured_id}/raw/")
    assert raw["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Subject: Captured hello" in raw.content


def test_it_answers_404_for_an_id_that_is_not_a_captured_mail(viewer_client: Client) -> None:
    assert viewer_client.get("/captured/..%2F..%2Fsecret_key/").status_code == 404
    assert viewer_client.get("/captured/20260101T000000000000-x-abcdef/").status_code == 404
