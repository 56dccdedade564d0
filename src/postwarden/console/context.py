"""Template context for every console page: version, the navigation the user may see,
and what the user may change (buttons are hidden, the views check again)."""

from __future__ import annotations

from typing import Any, Final

from django.http import HttpRequest
from django.urls import reverse

import postwarden
from postwarden.accounts.models import Role
from postwarden.console.access import ACCESS, allowed

#: (URL name, label) in menu order
NAVIGATION: Final[tuple[tuple[str, str], ...]] = (
    ("overview", "Overview"),
    ("deliveries", "Deliveries"),
    ("templates", "Templates"),
    ("held", "Held & dead"),
    ("suppressions", "Suppressions"),
    ("bounces", "Bounces"),
    ("captured", "Captured"),
    ("doctor", "Doctor"),
    ("canaries", "Canaries"),
    ("alerts", "Alerts"),
    ("settings", "Email settings"),
    ("people", "People"),
    ("apikeys", "API keys"),
    ("users", "Users"),
    ("logs", "Logs"),
)


def console(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    context: dict[str, Any] = {"postwarden_version": postwarden.__version__}
    if user is None or not user.is_authenticated:
        return context
    current = request.resolver_match.url_name if request.resolver_match else ""
    context["nav"] = [
        {"name": name, "label": label, "url": reverse(f"console:{name}"), "current": name == current}
        for name, label in NAVIGATION
        if allowed(user, ACCESS[name].read)
    ]
    context["can_settings"] = allowed(user, Role.SETTINGS)
    context["can_admin"] = allowed(user, Role.ADMIN)
    return context
