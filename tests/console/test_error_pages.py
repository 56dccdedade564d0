"""An unknown address, a refusal and a form without its token get the console's own
pages (its frame, a way back, no detail of the failure); the API keeps its JSON errors;
/favicon.ico is served (issue #17)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.console.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/deliveries/m_nope/",
        "/captured/20260101T000000000000-x-abcdef/",
        "/no/such/page/",
        "/templates/nope/",
    ],
)
def test_an_unknown_id_or_page_gets_the_consoles_404(viewer_client: Client, url: str) -> None:
    response = viewer_client.get(url)
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="brand"' in html
    assert 'nav class="nav"' in html
    assert '<h1 id="nf-h">Not found</h1>' in html
    assert 'href="/">Back to the overview</a>' in html
    assert "pruned: only the newest are kept" not in html  # the exception's words stay inside


def test_an_anonymous_visitor_gets_the_404_with_a_way_to_log_in() -> None:
    html = Client().get("/no/such/page/").content.decode()
    assert 'href="/login/">Log in</a>' in html
    assert 'nav class="nav"' not in html


def test_the_api_keeps_its_json_errors() -> None:
    response = Client().get("/api/v1/no-such-route")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}


def test_a_refused_page_and_a_missing_csrf_token_get_the_consoles_403(
    viewer_client: Client, admin: object
) -> None:
    refused = viewer_client.get("/settings/")
    assert refused.status_code == 403
    assert b'class="brand"' in refused.content
    assert b"Back to the overview" in refused.content
    client = logged_in(admin, csrf=True)  # type: ignore[arg-type]
    stale = client.post("/suppressions/", {"address": "x@example.com"})
    assert stale.status_code == 403
    assert b'class="brand"' in stale.content
    assert b"security token (CSRF)" in stale.content
    assert b"Reason given for failure" not in stale.content  # Django's bare page


def test_favicon_is_served_and_linked(viewer_client: Client) -> None:
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 200
    data = b"".join(icon.streaming_content)  # type: ignore[attr-defined]
    assert data[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert 'rel="icon" href="/static/console/favicon.svg"' in viewer_client.get("/").content.decode()
    assert Client().get("/static/console/favicon.svg").status_code == 200
