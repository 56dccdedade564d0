"""Log in (throttled per account and per client address) and log out (POST only)."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from postwarden.console import throttle
from postwarden.core.addresses import redact

log = logging.getLogger("postwarden.console.auth")


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuses to even check the password while the account or the address is over its
    failure budget, so a correct guess during the lock-out gains nothing."""

    def __init__(self, request: HttpRequest | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.throttled_for = 0
        self.error_messages = {
            **self.error_messages,
            "invalid_login": _("The email address or the password is wrong."),
            "throttled": _("Too many failed log-ins. Try again in %(minutes)s minute(s)."),
        }

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username", ""))
        address = throttle.client_address(self.request) if self.request else "unknown"
        verdict = throttle.check(username, address)
        if not verdict.allowed:
            self.throttled_for = verdict.retry_after
            log.warning("log-in refused: throttled", extra={"account": redact(username), "client": address})
            raise forms.ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": max(1, (verdict.retry_after + 59) // 60)},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure(username, address)
            log.info("log-in failed", extra={"account": redact(username), "client": address})
            raise
        throttle.record_success(username)
        return cleaned


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if isinstance(form, ThrottledAuthenticationForm) and form.throttled_for:
            response.status_code = 429
            response.headers["Retry-After"] = str(form.throttled_for)
        return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("console:login")
