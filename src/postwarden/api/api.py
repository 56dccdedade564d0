"""The JSON API (django-ninja): /api/v1/…, schema at /api/openapi.json, docs at /api/docs.

Each resource lives in its own module with its own Router; they are mounted here."""

from __future__ import annotations

import importlib

from ninja import NinjaAPI

import postwarden

api = NinjaAPI(
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
    "postwarden.api.recipients": "/recipients",
    "postwarden.api.doctor": "/doctor",
}

for module_name, prefix in ROUTERS.items():
    api.add_router(f"/v1{prefix}", importlib.import_module(module_name).router)
