"""The JSON API (django-ninja): /api/v1/…, schema at /api/openapi.json, docs at /api/docs.

Each resource lives in its own module with its own Router; they are mounted here."""

from __future__ import annotations

import importlib
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema

import postwarden
from postwarden.api.auth import MissingScope
from postwarden.api.errors import document_framework_errors


class PostwardenAPI(NinjaAPI):
    """NinjaAPI whose schema lists the framework's own errors too (api/errors.py)."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_framework_errors(schema)
        return schema


api = PostwardenAPI(
    title="Postwarden API",
    version=postwarden.__version__,
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

#: module -> URL prefix under /api/v1; modules are added as their back ends land
ROUTERS: dict[str, str] = {
    "postwarden.api.suppressions": "/suppressions",
    "postwarden.api.messages": "/messages",
    "postwarden.api.templates": "/templates",
    "postwarden.api.recipients": "/recipients",
    "postwarden.api.doctor": "/doctor",
    "postwarden.api.canaries": "/canaries",
    "postwarden.api.bounces": "/bounces",
}


@api.exception_handler(MissingScope)
def _missing_scope(request: HttpRequest, exc: MissingScope) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc), "scope": exc.scope}, status=403)


for module_name, prefix in ROUTERS.items():
    api.add_router(f"/v1{prefix}", importlib.import_module(module_name).router)
