"""Mail bodies are a permission of their own (issue #17): a viewer sees metadata,
recipients, the timeline and the servers' replies, but not a body, a raw source or a file,
anywhere the console shows one, unless an admin grants it on the Users page."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.accounts.models import Role, User
from postwarden.outbox.submission import FileIn
from tests.console.conftest import logged_in
from tests.console.helpers import ATTACHED, capture_one, enqueue_one

pytestmark = pytest.mark.django_db

#: what only a body reader may see: a reset link with its token, in the text and the HTML
TOKEN = "tok-Zq9XkVbN-reset"
RESET = f"http://localhost/reset/{TOKEN}"


def _message() -> str:
    message = enqueue_one(
        "ann@example.com",
        "Reset your password",
        html=f'<p>Hi</p><a href="{RESET}">reset</a>',
        files=[FileIn("secret-report.csv", b"a,b\r\n")],
    )
    return message.public_id


def _body_urls(public_id: str, captured_id: str) -> list[str]:
    return [
        f"/deliveries/{public_id}/html/",
        f"/deliveries/{public_id}/raw/",
        f"/deliveries/{public_id}/attachments/0/",
        f"/captured/{captured_id}/html/",
        f"/captured/{captured_id}/raw/",
        f"/captured/{captured_id}/attachments/0/",
    ]


def test_a_viewer_sees_metadata_and_the_timeline_but_no_body(viewer_client: Client) -> None:
    public_id = _message()
    captured_id = capture_one(ATTACHED)
    page = viewer_client.get(f"/deliveries/{public_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "ann@example.com" in html
    assert "Reset your password" in html
    assert 'id="tl-h"' in html
    assert "<strong>enqueued</strong>" in html.lower()
    assert TOKEN not in html  # neither the body nor the timeline's link warning shows it
    assert "1 link would not work for recipients" in html
    assert "secret-report.csv" not in html
    assert 'id="bodies-hidden"' in html
    assert f"/deliveries/{public_id}/html/" not in html
    for url in (f"/deliveries/{public_id}/?view=text", f"/deliveries/{public_id}/?view=raw"):
        assert TOKEN not in viewer_client.get(url).content.decode(), url
    captured = viewer_client.get(f"/captured/{captured_id}/").content.decode()
    assert "bob@example.com" in captured
    assert 'id="bodies-hidden"' in captured
    assert "see file" not in captured
    assert "r.csv" not in captured
    for url in _body_urls(public_id, captured_id):
        response = viewer_client.get(url)
        assert response.status_code == 403, url
        assert TOKEN.encode() not in response.content, url
        assert b"a,b" not in response.content, url
        assert b"An admin can grant reading bodies" in response.content, url


@pytest.mark.parametrize("who", ["settings", "granted viewer"])
def test_settings_users_and_granted_viewers_read_bodies(who: str, settings_client: Client) -> None:
    if who == "granted viewer":
        client = logged_in(
            User.objects.create_user(
                username="g@example.com",
                email="g@example.com",
                password="x" * 12,
                role=Role.VIEWER,
                read_bodies=True,
            )
        )
    else:
        client = settings_client
    public_id = _message()
    captured_id = capture_one(ATTACHED)
    html = client.get(f"/deliveries/{public_id}/").content.decode()
    assert RESET in html  # the timeline's link warning names it
    assert "secret-report.csv" in html
    assert TOKEN in client.get(f"/deliveries/{public_id}/?view=text").content.decode()
    for url in _body_urls(public_id, captured_id):
        assert client.get(url).status_code == 200, url


def test_an_admin_grants_and_withdraws_reading_bodies_on_the_users_page(admin_client: Client) -> None:
    page = admin_client.get("/users/").content.decode()
    assert "What each role can read and do" in page
    assert "May read mail bodies" in page
    created = admin_client.post(
        "/users/",
        {"email": "v@example.com", "role": "viewer", "password": "long enough pw 1", "read_bodies": "on"},
    )
    assert created.status_code == 302
    viewer = User.objects.get(username="v@example.com")
    assert viewer.read_bodies
    assert viewer.may_read_bodies
    admin_client.post(f"/users/{viewer.pk}/", {"role": "viewer", "active": "on"})
    viewer.refresh_from_db()
    assert not viewer.read_bodies
    assert not viewer.may_read_bodies
    client = logged_in(viewer)
    assert client.get(f"/deliveries/{_message()}/raw/").status_code == 403
    admin_client.post(f"/users/{viewer.pk}/", {"role": "viewer", "active": "on", "read_bodies": "on"})
    assert client.get(f"/deliveries/{_message()}/raw/").status_code == 200


def test_a_disabled_user_with_the_grant_reads_nothing() -> None:
    user = User.objects.create_user(
        username="d@example.com", email="d@example.com", password="x" * 12, role=Role.VIEWER, read_bodies=True
    )
    user.is_active = False
    assert not user.may_read_bodies
