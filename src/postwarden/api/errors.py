"""The API's error bodies, as its OpenAPI schema documents them.

A route states the errors it answers itself: ``response={200: Page, **errors(400)}``.
``HttpError("…")`` answers ``{"detail": "what is wrong"}`` (:class:`Problem`). Three come
from the framework, for any route, and :func:`document_framework_errors` adds them to
every operation of the schema: 401 (no API key, or an unknown or revoked one), 403 (a
valid key without the route's scope; ``scope`` names it), 400 for a body that is not JSON
at all, and 422 (a body or parameter the schema refuses;
``detail`` is then ninja's list of what failed where). Clients and schemathesis
(tests/fuzz) read the schema as the contract: an answer it does not list is a defect.
"""

from __future__ import annotations

from typing import Any, Final

from ninja import Schema


class Problem(Schema):
    #: what is wrong, in words
    detail: str


#: the body of the framework's 401 and 422 answers
_DETAIL_SCHEMA: Final = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_UNAUTHORIZED: Final = {
    "description": "No API key, or an unknown or revoked one",
    "content": {"application/json": {"schema": _DETAIL_SCHEMA}},
}
_FORBIDDEN: Final = {
    "description": "A valid API key without this route's scope (or, where the route says so, "
    "without a scope one of its options needs)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}, "scope": {"type": "string"}},
                "required": ["detail"],
            }
        }
    },
}
_NOT_JSON: Final = {
    "description": "The body is not JSON",
    "content": {"application/json": {"schema": _DETAIL_SCHEMA}},
}
_INVALID: Final = {
    "description": "A body or parameter the schema refuses: detail lists each field and why",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "detail": {
                        "anyOf": [
                            {"type": "string"},
                            {"type": "array", "items": {"type": "object"}},
                        ]
                    }
                },
                "required": ["detail"],
            }
        }
    },
}


def errors(*codes: int) -> dict[int, type[Problem]]:
    """``{code: Problem}`` for a route's ``response=``."""
    return dict.fromkeys(codes, Problem)


def document_framework_errors(schema: dict[str, Any]) -> None:
    """Add the framework's 401 (operations behind an API key), 400 (operations that take a
    body) and 422 (operations that take parameters or a body) to each operation of
    ``schema``, in place. A route's own declaration of the code wins."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            # ninja keys a route's own codes by int; JSON would then carry "400" twice (Swagger
            # UI refuses the schema: "duplicated mapping key") and the route's would not win
            responses = {str(code): answer for code, answer in operation.get("responses", {}).items()}
            operation["responses"] = responses
            if operation.get("security"):
                responses.setdefault("401", _UNAUTHORIZED)
                responses.setdefault("403", _FORBIDDEN)
            if operation.get("requestBody"):
                responses.setdefault("400", _NOT_JSON)
            if operation.get("parameters") or operation.get("requestBody"):
                responses.setdefault("422", _INVALID)
