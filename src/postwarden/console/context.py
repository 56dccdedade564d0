"""Template context for every console page: version, the navigation the user may see,
and what the user may change (buttons are hidden, the views check again)."""

from __future__ import annotations

from typing import Any, Final

from django.http import HttpRequest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

import postwarden
from postwarden.accounts.models import Role
from postwarden.console.access import ACCESS, allowed
from postwarden.core import i18n

#: (URL name, label) in menu order
NAVIGATION: Final[tuple[tuple[str, Any], ...]] = (
    ("overview", _("Overview")),
    ("deliveries", _("Deliveries")),
    ("templates", _("Templates")),
    ("held", _("Held & dead")),
    ("suppressions", _("Suppressions")),
    ("bounces", _("Bounces")),
    ("captured", _("Captured")),
    ("doctor", _("Doctor")),
    ("canaries", _("Canaries")),
    ("alerts", _("Alerts")),
    ("settings", _("Email settings")),
    ("people", _("People")),
    ("apikeys", _("API keys")),
    ("users", _("Users")),
    ("logs", _("Logs")),
)


def console(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    language = translation.get_language() or "en"
    context: dict[str, Any] = {
        "postwarden_version": postwarden.__version__,
        "html_lang": language,
        "html_dir": i18n.text_direction(language),
        "js_strings": js_strings(),
    }
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


def js_strings() -> dict[str, str]:
    """The words console.js writes into the page, in the page's language (the page carries
    them in a JSON block: no script catalog to load, nothing inline for the CSP to refuse).
    {n}, {label}, {left}, {overall}, {error} are filled in by the script."""
    return {
        "copied": gettext("Copied"),
        "waiting": gettext("waiting"),
        "testing": gettext("Testing…"),
        "testing_overall": gettext("Testing… at most {overall} s more"),
        "testing_stage": gettext(
            "Testing: {label}, {left} s left before it times out (the whole test stops within {overall} s)"
        ),
        "running_left": gettext("running, {left} s left"),
        "running": gettext("running"),
        "ok_ms": gettext("ok · {ms} ms"),
        "failed_ms": gettext("failed · {ms} ms"),
        "could_not_finish": gettext("The test could not finish: {error}"),
        "server_answered": gettext("the server answered {status}"),
        "tested_in": gettext("Tested in {seconds} s"),
        "not_reached": gettext("not reached"),
    }
