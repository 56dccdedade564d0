"""Walking every route of the API router: a valid key without the route's scope is answered
403 (not 401, which stays for no key or an unknown or revoked one) with a JSON body naming
the scope it lacks, by either header, and the OpenAPI document lists that 403."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from postwarden.accounts.models import ApiKey, Scope
from postwarden.api.api import api

pytestmark = pytest.mark.django_db


def routes() -> Iterator[tuple[str, str, str]]:
    """(method, URL path, scope) of every operation behind an API key."""
    for prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                scopes = {getattr(callback, "scope", None) for callback in operation.auth_callbacks}
                assert len(scopes) == 1, (path, scopes)  # every route names one scope
                [scope] = scopes
                for method in operation.methods:
                    url = "/api" + (prefix + path).replace("{", "").replace("}", "")
                    yield method, url.rstrip("/") if url != "/api/" else url, str(scope)


ROUTES = list(routes())


def test_the_walk_finds_every_route() -> None:
    assert ("POST", "/api/v1/messages", "send") in ROUTES
    assert ("GET", "/api/v1/suppressions", "read") in ROUTES
    assert len(ROUTES) >= 11


@pytest.mark.parametrize(("method", "url", "scope"), ROUTES, ids=[f"{m} {u}" for m, u, _ in ROUTES])
@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
def test_a_key_without_the_routes_scope_gets_403_naming_it(
    client: Client, method: str, url: str, scope: str, header: str
) -> None:
    other = next(s for s in (Scope.SEND, Scope.READ) if s != scope)
    _, token = ApiKey.issue("narrow", [other])
    value = f"Bearer {token}" if header == "Authorization" else token
    response = client.generic(method, url, "{}", content_type="application/json", headers={header: value})
    assert response.status_code == 403, (response.status_code, response.content)
    body: dict[str, Any] = response.json()
    assert body == {"detail": f"this API key lacks the scope {scope!r} this route needs", "scope": scope}


@pytest.mark.parametrize(("method", "url", "scope"), ROUTES, ids=[f"{m} {u}" for m, u, _ in ROUTES])
def test_no_key_or_a_revoked_one_is_still_401(client: Client, method: str, url: str, scope: str) -> None:
    row, token = ApiKey.issue("gone", [scope])
    ApiKey.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
    for headers in ({}, {"Authorization": f"Bearer {token}"}, {"Authorization": "Bearer pw_nope_nope"}):
        assert (
            client.generic(method, url, "{}", content_type="application/json", headers=headers).status_code
            == 401
        )


def test_the_schema_lists_the_403_for_every_operation_behind_a_key() -> None:
    document = api.get_openapi_schema()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                assert "403" in operation["responses"], (method, path)
