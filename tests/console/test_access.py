"""Every console route, every role: the central table (console.access.ACCESS) is what
the views enforce. Issue #8's authorization matrix builds on this."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, get_resolver, reverse

from postwarden.accounts.models import ApiKey, Member, MemberGroup, Role, User
from postwarden.canaries import store as canary_store
from postwarden.console.access import ACCESS
from postwarden.mailtemplates import store as templates
from postwarden.outbox.submission import FileIn
from tests.console.conftest import logged_in
from tests.console.helpers import ATTACHED, capture_one, enqueue_one

pytestmark = pytest.mark.django_db
RANK = {Role.VIEWER: 0, Role.SETTINGS: 1, Role.ADMIN: 2}


def console_route_names() -> set[str]:
    resolver = get_resolver()
    console = resolver.namespace_dict["console"][1]
    return {p.name for p in console.url_patterns if isinstance(p, URLPattern) and p.name}


def test_it_has_a_rule_for_every_console_route_and_no_rule_without_a_route() -> None:
    assert console_route_names() == set(ACCESS)


@pytest.fixture
def url_args(admin: User) -> dict[str, dict[str, object]]:
    message = enqueue_one(files=[FileIn("report.csv", b"a,b\r\n")])
    captured = capture_one(ATTACHED)
    templates.save(
        "welcome", templates.TemplateDraft("Hi {{ name }}", "Hello {{ name }}", None, {"name": "A"}), by="t"
    )
    group = MemberGroup.objects.create(name="ops")
    member = Member.objects.create(email="m@example.com")
    key, _ = ApiKey.issue("app", ["send"])
    args: dict[str, dict[str, object]] = {
        "message": {"public_id": message.public_id},
        "message_html": {"public_id": message.public_id},
        "message_raw": {"public_id": message.public_id},
        "captured_message": {"captured_id": captured},
        "captured_html": {"captured_id": captured},
        "captured_raw": {"captured_id": captured},
        "message_attachment": {"public_id": message.public_id, "index": 0},
        "captured_attachment": {"captured_id": captured, "index": 0},
        "template": {"name": "welcome"},
        "template_diff": {"name": "welcome"},
        "template_send_test": {"name": "welcome"},
        "template_delete": {"name": "welcome"},
        "member": {"pk": member.pk},
        "group": {"pk": group.pk},
        "apikey_revoke": {"pk": key.pk},
        "user": {"pk": admin.pk},
    }
    canary = canary_store.create(
        canary_store.CanaryInput(
            address="canary@example.com",
            imap_host="127.0.0.1",
            imap_port=9,
            imap_security="none",
            imap_user="canary@example.com",
            imap_password="imap-password-1",
        )
    )
    for name in ("canary", "canary_run", "canary_delete"):
        args[name] = {"pk": canary.pk}
    return args


def _allowed(rule_role: Role | None, role: Role) -> bool:
    return rule_role is None or RANK[role] >= RANK[rule_role]


@pytest.mark.parametrize(
    ("role", "read_bodies"),
    [(Role.VIEWER, False), (Role.VIEWER, True), (Role.SETTINGS, False), (Role.ADMIN, False)],
)
def test_it_enforces_the_read_rule_of_every_route_for_every_role(
    role: Role, read_bodies: bool, url_args: dict[str, dict[str, object]], clean_env: None
) -> None:
    """A route that shows a mail's body needs the body permission besides the role: a
    viewer has it only when an admin granted it."""
    client = logged_in(
        User.objects.create_user(
            username=f"{role}@example.com",
            email=f"{role}@example.com",
            password="x" * 12,
            role=role,
            read_bodies=read_bodies,
        )
    )
    seen = []
    for name, rule in ACCESS.items():
        if name == "logout":
            continue
        response = client.get(reverse(f"console:{name}", kwargs=url_args.get(name)))
        bodies_ok = not rule.bodies or read_bodies or RANK[role] >= RANK[Role.SETTINGS]
        expected_ok = _allowed(rule.read, role) and bodies_ok
        assert (response.status_code != 403) is expected_ok, (name, role, response.status_code)
        if expected_ok:
            assert response.status_code in (200, 302), (name, response.status_code)
        seen.append(name)
    assert len(seen) == len(ACCESS) - 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SETTINGS])
def test_it_refuses_every_write_above_the_role_with_403_and_changes_nothing(
    role: Role, url_args: dict[str, dict[str, object]], clean_env: None
) -> None:
    client = logged_in(
        User.objects.create_user(
            username=f"{role}@example.com", email=f"{role}@example.com", password="x" * 12, role=role
        )
    )
    refused = []
    for name, rule in ACCESS.items():
        if rule.write is None or _allowed(rule.write, role):
            continue
        response = client.post(reverse(f"console:{name}", kwargs=url_args.get(name)), {"action": "delete"})
        assert response.status_code == 403, (name, role, response.status_code)
        refused.append(name)
    assert refused  # a viewer and a settings user are each refused something
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0
    assert Member.objects.count() == 1
    assert MemberGroup.objects.count() == 1


def test_it_answers_405_to_a_write_on_a_read_only_route(viewer_client: Client) -> None:
    read_only = [name for name, rule in ACCESS.items() if rule.write is None and rule.read is not None]
    assert "overview" in read_only
    for name in ("overview", "deliveries", "logs"):
        assert viewer_client.post(reverse(f"console:{name}")).status_code == 405


def test_it_sends_anonymous_visitors_to_the_login_page(url_args: dict[str, dict[str, object]]) -> None:
    anonymous = Client()
    for name, rule in ACCESS.items():
        if rule.public:
            continue
        response = anonymous.get(reverse(f"console:{name}", kwargs=url_args.get(name)))
        assert response.status_code == 302, name
        assert response["Location"].startswith("/login/"), name


def test_it_hides_the_menu_entries_a_viewer_cannot_open(viewer_client: Client) -> None:
    html = viewer_client.get(reverse("console:overview")).content.decode()
    assert 'href="/deliveries/"' in html
    assert 'href="/settings/"' not in html
    assert 'href="/api-keys/"' not in html
    assert 'href="/users/"' not in html


def test_every_write_needs_the_csrf_token(admin: User, url_args: dict[str, dict[str, object]]) -> None:
    client = logged_in(admin, csrf=True)
    for name, rule in ACCESS.items():
        if rule.write is None and not rule.public:
            continue
        response = client.post(reverse(f"console:{name}", kwargs=url_args.get(name)), {"action": "delete"})
        assert response.status_code == 403, name
        assert b"CSRF" in response.content, name
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0


def test_cookies_are_secure_behind_https(admin: User, settings: object) -> None:
    settings.SESSION_COOKIE_SECURE = True  # type: ignore[attr-defined]  # what POSTWARDEN_HTTPS=true sets
    settings.CSRF_COOKIE_SECURE = True  # type: ignore[attr-defined]
    client = Client()
    client.get("/login/")
    assert client.cookies["csrftoken"]["secure"] is True
    client.post("/login/", {"username": "alice@example.com", "password": "correct horse battery staple"})
    session = client.cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
