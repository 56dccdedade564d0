"""Console test fixtures: one user per role (hc/test.py's personas), logged-in clients,
and distinctive secret values to grep pages for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from postwarden.accounts.bootstrap import create_admin
from postwarden.accounts.models import Role, User

PASSWORD = "correct horse battery staple"
#: values that must never appear in a page, a partial or a log line
DISTINCT_SMTP_PASSWORD = "Sm7p-Pa55-Zq9XkVbN-do-not-leak"
DISTINCT_SENDGRID_KEY = "SG.Zq9XkVbN-sendgrid-key-do-not-leak-4411"
DISTINCT_WEBHOOK_SECRET = "hook:Zq9XkVbN-webhook-secret-do-not-leak"


@pytest.fixture
def admin(db: None) -> User:
    return create_admin("alice@example.com", PASSWORD, Role.ADMIN)


@pytest.fixture
def settings_user(db: None) -> User:
    return create_admin("sam@example.com", PASSWORD, Role.SETTINGS)


@pytest.fixture
def viewer(db: None) -> User:
    return create_admin("vic@example.com", PASSWORD, Role.VIEWER)


def logged_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin: User) -> Client:
    return logged_in(admin)


@pytest.fixture
def settings_client(settings_user: User) -> Client:
    return logged_in(settings_user)


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    return logged_in(viewer)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[None]:
    """No mail settings from the environment or a .env file (the console's own values
    decide), whatever the machine running the tests has set."""
    import os

    from postwarden.core.config.variables import VARIABLES

    for var in VARIABLES:
        if var.storable:
            for name in (var.name, *var.synonyms, f"{var.name}_FILE"):
                monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no .env here
    assert not os.path.exists(".env")
    return


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    """current_settings() caches by the stored rows' version; tests change the
    environment too, which the cache (rightly, in production) does not watch."""
    from django.core.cache import cache

    from postwarden.configstore import runtime

    runtime._cache.clear()
    cache.clear()  # the overview's chart is cached for a few seconds
    yield
    runtime._cache.clear()
