"""People and groups, the suggestion mode, and GET /api/v1/recipients/suggest."""

from __future__ import annotations

import pytest
from django.test import Client

from postwarden.accounts import suggestions
from postwarden.accounts.models import ApiKey, Member, MemberGroup

pytestmark = pytest.mark.django_db
SUGGEST = "/api/v1/recipients/suggest"


@pytest.fixture
def directory() -> None:
    ops, sales = MemberGroup.objects.create(name="ops"), MemberGroup.objects.create(name="sales")
    for email, name, groups in (
        ("ann@example.com", "Ann Ops", [ops]),
        ("abe@example.com", "Abe Ops", [ops]),
        ("amy@example.com", "Amy Sales", [sales]),
        ("zed@example.com", "Zed", []),
    ):
        Member.objects.create(email=email, name=name).groups.set(groups)


def key(scope: str = "read") -> str:
    return ApiKey.issue("app", [scope])[1]


def test_it_adds_a_member_with_groups_and_a_group(settings_client: Client) -> None:
    settings_client.post("/people/", {"action": "group", "name": "ops"})
    group = MemberGroup.objects.get()
    settings_client.post(
        "/people/",
        {"action": "member", "email": "New.Person@Example.com", "name": "New", "groups": [group.pk]},
    )
    member = Member.objects.get()
    assert member.email == "new.person@example.com"
    assert list(member.groups.values_list("name", flat=True)) == ["ops"]


def test_it_edits_and_removes_a_member(settings_client: Client, directory: None) -> None:
    ann = Member.objects.get(email="ann@example.com")
    settings_client.post(
        f"/people/members/{ann.pk}/", {"action": "save", "email": "ann@example.com", "name": "Ann"}
    )
    ann.refresh_from_db()
    assert ann.name == "Ann"
    assert not ann.groups.exists()
    settings_client.post(f"/people/members/{ann.pk}/", {"action": "delete"})
    assert not Member.objects.filter(email="ann@example.com").exists()


def test_it_saves_the_suggestion_mode(settings_client: Client) -> None:
    assert suggestions.suggestion_mode() == "all"
    settings_client.post("/people/", {"action": "mode", "mode": "groups"})
    assert suggestions.suggestion_mode() == "groups"


def test_it_searches_members(viewer_client: Client, directory: None) -> None:
    html = viewer_client.get("/people/?q=sales").content.decode()
    assert "amy@example.com" in html
    assert "ann@example.com" not in html


def test_suggest_offers_all_members_matching_in_mode_all(client: Client, directory: None) -> None:
    response = client.get(SUGGEST, {"q": "a", "for": "ann@example.com"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert response.status_code == 200
    assert response.json() == {
        "mode": "all",
        "suggestions": [
            {"email": "abe@example.com", "name": "Abe Ops"},
            {"email": "amy@example.com", "name": "Amy Sales"},
        ],
    }


def test_suggest_offers_only_the_same_groups_in_mode_groups(client: Client, directory: None) -> None:
    suggestions.set_suggestion_mode("groups")
    response = client.get(SUGGEST, {"q": "", "for": "ann@example.com"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert [s["email"] for s in response.json()["suggestions"]] == ["abe@example.com"]
    missing_for = client.get(SUGGEST, {"q": "a"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert missing_for.status_code == 400
    assert "for=<member email>" in missing_for.json()["detail"]


def test_suggest_offers_nobody_in_mode_none(client: Client, directory: None) -> None:
    suggestions.set_suggestion_mode("none")
    response = client.get(SUGGEST, {"q": "a"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert response.json() == {"mode": "none", "suggestions": []}


def test_suggest_needs_a_key_with_the_read_scope(client: Client, directory: None) -> None:
    assert client.get(SUGGEST, {"q": "a"}).status_code == 401
    assert client.get(SUGGEST, {"q": "a"}, HTTP_AUTHORIZATION=f"Bearer {key('send')}").status_code == 403
    assert client.get(SUGGEST, {"q": "a"}, HTTP_AUTHORIZATION=f"Bearer {key('admin')}").status_code == 200


def test_suggest_bounds_the_limit(client: Client, directory: None) -> None:
    refused = client.get(SUGGEST, {"limit": "500"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "limit"]
    response = client.get(SUGGEST, {"limit": "1"}, HTTP_AUTHORIZATION=f"Bearer {key()}")
    assert len(response.json()["suggestions"]) == 1
