"""Provider webhooks: ``/webhooks/<provider>/tracking/`` (views.HOOKS lists the providers)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from postwarden.webhooks import views

app_name = "webhooks"

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhooks/<str:provider>/tracking/", views.tracking, name="tracking"),
]
