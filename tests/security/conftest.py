"""Fixtures of the security suites: every kind of caller (anonymous, a console user of each
role, an API key of each scope) and real objects for the routes that take parameters."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey, Member, MemberGroup, Role, User
from postwarden.canaries import store as canary_store
from postwarden.canaries.models import Canary
from postwarden.configstore import runtime
from postwarden.mailtemplates import store
from postwarden.outbox import suppressions
from postwarden.outbox.attachments import FileIn
from tests.console.conftest import _fresh_settings_cache, clean_env  # noqa: F401 - fixtures
from tests.console.helpers import ATTACHED, capture_one, enqueue_one

#: every kind of caller, in the column order of the authorization table
IDENTITIES: tuple[str, ...] = (
    "anonymous",
    "viewer",
    "settings",
    "admin",
    "key:send",
    "key:read",
    "key:admin",
)
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class World:
    """Real rows for the URL parameters, and a client per identity."""

    clients: dict[str, Client]
    args: dict[str, str]


def _canary() -> Canary:
    return canary_store.create(
        canary_store.CanaryInput(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=9,
            imap_security="none",
            imap_user="canary@example.com",
            imap_password="imap-password-1",
        )
    )


def _user(role: Role) -> User:
    email = f"{role.value}@example.com"
    return User.objects.create_user(username=email, email=email, password=PASSWORD, role=role)


@pytest.fixture
def world(db: None, clean_env: None) -> World:  # noqa: F811 - the imported fixture
    runtime.save({"EMAIL_PROVIDER": "capture", "MAIL_FROM": "ops@example.com"})
    clients = {"anonymous": Client()}
    for role in (Role.VIEWER, Role.SETTINGS, Role.ADMIN):
        client = Client()
        client.force_login(_user(role))
        clients[role.value] = client
    for scope in ("send", "read", "admin"):
        _, plain = ApiKey.issue(f"{scope} key", [scope])
        clients[f"key:{scope}"] = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    victim_key, _ = ApiKey.issue("victim", ["send"])
    victim_user = User.objects.create_user(
        username="victim@example.com", email="victim@example.com", password=PASSWORD
    )
    suppressions.add("gone@example.com", suppressions.MANUAL, detail="test", source="test")
    template = store.save(
        "welcome", store.TemplateDraft("Hi {{ name }}", "Hello {{ name }}"), by="test", create=True
    )
    return World(
        clients=clients,
        args={
            # a message and a captured mail with a file each, so the download routes have one
            "public_id": enqueue_one(files=[FileIn("r.csv", b"a,b\r\n")]).public_id,
            "captured_id": capture_one(ATTACHED),
            "index": "0",
            "member": str(Member.objects.create(email="m@example.com").pk),
            "group": str(MemberGroup.objects.create(name="ops").pk),
            "apikey": str(victim_key.pk),
            "user": str(victim_user.pk),
            "address": "gone@example.com",
            "provider": "mailgun",
            "name": template.template.name,
            "canary_id": str(_canary().pk),
        },
    )
