"""API keys (shown once, revoke, last used), users and roles, logs."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey, Role, User
from postwarden.api.auth import lookup
from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_shows_a_new_key_once_and_stores_only_its_hash(admin_client: Client) -> None:
    """Created by POST, then redirected (post/redirect/get): the page after the redirect
    shows the key; the session that carried it across no longer holds it."""
    posted = admin_client.post("/api-keys/", {"name": "billing", "scopes": ["send", "read"]})
    assert (posted.status_code, posted["Location"]) == (302, "/api-keys/")
    assert b"pw_" not in posted.content
    response = admin_client.get(posted["Location"])
    html = response.content.decode()
    plain = re.search(r'id="new-key">(pw_[A-Za-z0-9_-]+)<', html).group(1)  # type: ignore[union-attr]
    row = ApiKey.objects.get()
    assert row.scopes == ["read", "send"]
    assert plain not in row.key_hash
    assert lookup(plain) == row
    assert response["Cache-Control"].startswith("max-age=0")
    again = admin_client.get("/api-keys/").content.decode()
    assert plain not in again
    assert f"pw_{row.prefix}_…" in again
    assert plain not in str(dict(admin_client.session))
    assert ApiKey.objects.count() == 1


def test_it_revokes_a_key_which_then_stops_working(admin_client: Client) -> None:
    row, plain = ApiKey.issue("old", ["send"])
    admin_client.post(f"/api-keys/{row.pk}/revoke/")
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert lookup(plain) is None
    assert "revoked" in admin_client.get("/api-keys/").content.decode()


def test_it_creates_a_user_with_a_role_who_can_log_in(admin_client: Client) -> None:
    admin_client.post(
        "/users/", {"email": "new@example.com", "role": "viewer", "password": "long enough pw 1"}
    )
    user = User.objects.get(username="new@example.com")
    assert user.role == Role.VIEWER
    assert (
        Client().post("/login/", {"username": "new@example.com", "password": "long enough pw 1"}).status_code
        == 302
    )


def test_it_refuses_a_short_password(admin_client: Client) -> None:
    response = admin_client.post(
        "/users/", {"email": "new@example.com", "role": "viewer", "password": "short"}
    )
    assert "This password is too short: it must have at least 10 characters." in response.content.decode()
    assert not User.objects.filter(username="new@example.com").exists()


def test_it_disables_a_user_and_changes_a_role(admin_client: Client, viewer: User) -> None:
    admin_client.post(f"/users/{viewer.pk}/", {"role": "settings", "active": ""})
    viewer.refresh_from_db()
    assert viewer.role == Role.SETTINGS
    assert not viewer.is_active
    assert Client().post("/login/", {"username": viewer.username, "password": PASSWORD}).status_code == 200


def test_it_will_not_demote_the_last_admin(admin_client: Client, admin: User) -> None:
    response = admin_client.post(f"/users/{admin.pk}/", {"role": "viewer", "active": "on"}, follow=True)
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    assert "last active admin" in response.content.decode()


def test_it_filters_the_recent_log_lines(viewer_client: Client) -> None:
    log = logging.getLogger("postwarden.console.testlogs")
    log.warning("disk nearly full", extra={"free_mb": 12})
    log.info("routine line")
    html = viewer_client.get("/logs/?level=warning&logger=postwarden.console.testlogs").content.decode()
    assert "disk nearly full" in html
    assert "free_mb=12" in html
    assert "routine line" not in html
    assert "routine line" in viewer_client.get("/logs/?q=routine").content.decode()
