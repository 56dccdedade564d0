from __future__ import annotations

from django.urls import URLPattern, path

from postwarden.console import views

app_name = "console"

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="overview"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
]
