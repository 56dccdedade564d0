"""Every whole number a client can send any route — query parameters and body fields, found
by walking the OpenAPI schema, so a route added later is covered too — has bounds in the
schema, and a number past them is refused with 422 naming that parameter, never 500
(``GET /api/v1/messages?offset=99999999999999999999`` reached SQLite and answered 500)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from postwarden.accounts.models import ApiKey, Scope
from postwarden.api.api import api

pytestmark = pytest.mark.django_db
HUGE = [10**20, -(10**20), 2**63, 2**31]


def _is_integer(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "integer" or any(s.get("type") == "integer" for s in schema.get("anyOf", ()))


def _bounds(schema: dict[str, Any]) -> tuple[Any, Any]:
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") == "integer")
    return schema.get("minimum"), schema.get("maximum")


def integers() -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, path, where, name, schema) of each integer a route takes."""
    document = api.get_openapi_schema()
    components = document.get("components", {}).get("schemas", {})
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                if _is_integer(parameter["schema"]):
                    yield method, path, parameter["in"], parameter["name"], parameter["schema"]
            body = (
                operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            )
            if body and "$ref" in body:
                fields = components[body["$ref"].rpartition("/")[2]].get("properties", {})
                for name, schema in fields.items():
                    if _is_integer(schema):
                        yield method, path, "body", name, schema


FOUND = list(integers())


def test_the_walk_finds_the_integers_there_are() -> None:
    names = {(path, name) for _, path, _, name, _ in FOUND}
    assert {
        ("/api/v1/messages", "offset"),
        ("/api/v1/messages", "limit"),
        ("/api/v1/suppressions", "offset"),
    } <= names


@pytest.mark.parametrize(
    ("method", "path", "where", "name", "schema"), FOUND, ids=[f"{m} {p} {n}" for m, p, _, n, _ in FOUND]
)
def test_every_integer_is_bounded_and_refused_past_its_bounds_by_name(
    client: Client, method: str, path: str, where: str, name: str, schema: dict[str, Any]
) -> None:
    low, high = _bounds(schema)
    assert low is not None, f"{name} of {method.upper()} {path} has no lower bound"
    assert high is not None, f"{name} of {method.upper()} {path} has no upper bound"
    assert high < 2**63  # the databases' largest integer
    _, token = ApiKey.issue("bounds", [Scope.ADMIN])
    url = path.replace("{", "").replace("}", "")  # path parameters: their own names as values
    for value in HUGE:
        if where == "path":
            response = getattr(client, method)(
                path.replace(f"{{{name}}}", str(value)), headers={"Authorization": f"Bearer {token}"}
            )
        elif where == "query":
            response = getattr(client, method)(
                f"{url}?{name}={value}", headers={"Authorization": f"Bearer {token}"}
            )
        else:
            response = getattr(client, method)(
                url,
                json.dumps({name: value}),
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 422, (value, response.status_code, response.content[:300])
        locs = [problem["loc"] for problem in response.json()["detail"]]
        # ninja names a body field after the view's argument too: ["body", "body", "version"]
        assert any(loc[0] == where and loc[-1] == name for loc in locs), locs
