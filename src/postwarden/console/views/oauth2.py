""" "Connect account": a person's Microsoft 365 mailbox signed in through the browser
(authorization code with PKCE, core/oauth/delegated.py), its refresh token saved sealed as
OAUTH2_REFRESH_TOKEN. Uses the saved settings (save the app registration first).

The flow (its PKCE verifier and state) waits in the session between the two requests and
is removed at the callback, used or not; it is no credential by itself (it needs the
code the platform gives only to the signed-in person's browser)."""

from __future__ import annotations

import logging
from typing import Final

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from postwarden.configstore.runtime import current_settings, save
from postwarden.core import i18n
from postwarden.core.config.model import OAuth2Settings, Settings
from postwarden.core.config.resolve import ConfigError
from postwarden.core.oauth import delegated
from postwarden.core.oauth.errors import TokenError

log = logging.getLogger("postwarden.console.oauth2")
_FLOW: Final = "oauth2_flow"


def _oauth2(request: HttpRequest) -> tuple[Settings, OAuth2Settings] | None:
    try:
        settings = current_settings()
    except ConfigError as exc:
        messages.error(
            request,
            _("The saved settings cannot be used: %(problem)s")
            % {"problem": i18n.localize(exc.problems[0].said())},
        )
        return None
    if settings.smtp.oauth2 is None:
        messages.error(request, _("Save SMTP_AUTH=oauth2 with the app registration first, then connect."))
        return None
    if settings.source("OAUTH2_REFRESH_TOKEN").locks_console_field:
        messages.error(
            request, _("OAUTH2_REFRESH_TOKEN is set in the environment: remove it there to connect here.")
        )
        return None
    return settings, settings.smtp.oauth2


def connect(request: HttpRequest) -> HttpResponse:
    """POST: send the browser to the identity platform's sign-in page."""
    found = _oauth2(request) if request.method == "POST" else None
    if found is None:
        return redirect("console:settings")
    settings, oauth2 = found
    callback = request.build_absolute_uri(reverse("console:settings_oauth2_callback"))
    try:
        url, flow = delegated.start_authorization(
            oauth2, redirect_uri=callback, login_hint=settings.smtp.user, timeout=settings.smtp.timeout
        )
    except (ValueError, TokenError) as exc:
        messages.error(request, _("Cannot connect: %(error)s") % {"error": exc})
        return redirect("console:settings")
    request.session[_FLOW] = flow
    return redirect(url)


def callback(request: HttpRequest) -> HttpResponse:
    """GET: the platform sends the browser back here with a code (or an error)."""
    flow = request.session.pop(_FLOW, None)
    found = _oauth2(request)
    if found is None:
        return redirect("console:settings")
    settings, oauth2 = found
    if not isinstance(flow, dict):
        messages.error(
            request, _("No sign-in was started from this browser session: press Connect account again.")
        )
        return redirect("console:settings")
    answer = {k: str(v) for k, v in request.GET.items()}
    try:
        refresh = delegated.finish_authorization(oauth2, flow, answer, timeout=settings.smtp.timeout)
    except TokenError as exc:
        messages.error(request, _("Not connected: %(error)s") % {"error": exc})
        return redirect("console:settings")
    save({"OAUTH2_REFRESH_TOKEN": refresh.reveal()}, request.user)
    log.info("oauth2 account connected", extra={"mailbox": settings.smtp.user or ""})
    messages.success(
        request,
        _(
            "Connected: the mailbox's refresh token is saved (sealed). Postwarden signs in as "
            "%(mailbox)s from now on; use Test connection to see the token step."
        )
        % {"mailbox": settings.smtp.user},
    )
    return redirect("console:settings")
