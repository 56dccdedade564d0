"""api/middleware.py: the cookie-only middleware steps aside for /api/ and only there.

Over the project's whole URL map (postwarden.urls) with a real signed-in console user, so a
session cookie and a CSRF cookie ride along with the API requests."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey, User
from postwarden.configstore import runtime

pytestmark = pytest.mark.django_db

MESSAGE = {"to": ["ann@example.net"], "subject": "Hello", "text": "Hi"}


def signed_in() -> Client:
    """A browser with the console's session and CSRF cookies."""
    user = User.objects.create_user(
        username="admin@example.com", email="admin@example.com", password="x" * 12, role="admin"
    )
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")
    client.force_login(user)
    assert {"csrftoken", "sessionid"} <= set(client.cookies)
    return client


def test_it_answers_the_api_without_touching_cookies_and_with_the_security_headers() -> None:
    runtime.save({"MAIL_FROM": "noreply@example.com"})
    _, plain = ApiKey.issue("billing-app", ["send"])
    client = signed_in()
    response = client.post(
        "/api/v1/messages",
        json.dumps(MESSAGE),
        content_type="application/json",
        headers={"Authorization": f"Bearer {plain}"},
    )
    assert response.status_code == 202
    assert response.cookies == {}
    assert "Vary" not in response  # nothing in an API answer depends on a cookie
    assert (response["X-Frame-Options"], response["X-Content-Type-Options"]) == ("DENY", "nosniff")
    assert response["Content-Security-Policy"].startswith("default-src 'self'")


def test_it_never_lets_a_console_session_stand_in_for_an_api_key() -> None:
    client = signed_in()
    response = client.post("/api/v1/messages", json.dumps(MESSAGE), content_type="application/json")
    # 401 from the key check: not a redirect to the log-in page, not a 403 CSRF refusal
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_it_keeps_sessions_csrf_and_the_login_requirement_outside_the_api() -> None:
    anonymous = Client(enforce_csrf_checks=True)
    login = anonymous.get("/login/")
    assert login.status_code == 200
    assert login.cookies["csrftoken"].value
    assert anonymous.get("/").url.startswith("/login/")  # LoginRequiredMiddleware still guards
    assert anonymous.post("/login/", {"username": "a@example.com", "password": "x"}).status_code == 403
    client = signed_in()
    assert client.get("/").status_code == 200
    assert client.session["_auth_user_id"]
