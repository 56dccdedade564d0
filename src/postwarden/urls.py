"""URL map. Each app owns its routes; they are mounted here."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("postwarden.api.urls")),
    path("", include("postwarden.webhooks.urls")),
    path("", include("postwarden.outbox.urls")),
    path("", include("postwarden.console.urls")),
]

# the console's pages for an unknown address and a refusal (JSON under /api/)
handler404 = "postwarden.console.views.errors.not_found"
handler403 = "postwarden.console.views.errors.permission_denied"
