from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, path

from postwarden.api.api import api


def _key_authenticated(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    # The API authenticates with API keys (api/auth.py), not console sessions: exempt its
    # views from LoginRequiredMiddleware, which would redirect them to the login page.
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _key_authenticated(pattern.url_patterns)
        else:
            pattern.callback = login_not_required(pattern.callback)
    return patterns


# Not ``app_name`` at module level: include("postwarden.api.urls") would read it and nest
# ninja's own "api" namespace inside a "ninja" one, and ninja reverses "api:…" to find the
# schema's root (/api/openapi.json and /api/docs answered 500 under the project's URL map).
_patterns, _app_name, _namespace = api.urls
urlpatterns: list[URLPattern | URLResolver] = [
    path("api/", (_key_authenticated(_patterns), _app_name, _namespace))
]
