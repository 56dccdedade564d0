"""API keys (admin only): create (the key is shown once), scopes, revoke, last used.

Creating answers with a redirect (post/redirect/get), so a reload shows the list again
instead of creating a second key. The new key crosses the redirect in the server-side
session and is taken out of it by the page that shows it: it is shown once, never put in
a URL, a cookie or a flash message, and gone from the session after that page."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from postwarden.accounts.models import ApiKey, User
from postwarden.console.forms.admin import ApiKeyForm

log = logging.getLogger("postwarden.console.apikeys")


#: the session key that carries a new key from the POST to the page that shows it
CREATED = "postwarden_new_api_key"


@never_cache
def apikeys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        creator = request.user if isinstance(request.user, User) else None
        row, plain = ApiKey.issue(form.cleaned_data["name"], list(form.cleaned_data["scopes"]), creator)
        log.info("api key created", extra={"by": request.user.pk, "key": row.prefix, "scopes": row.scopes})
        request.session[CREATED] = {"pk": row.pk, "plain": plain}
        return redirect("console:apikeys")
    created = None
    handed = request.session.pop(CREATED, None)
    if isinstance(handed, dict) and isinstance(handed.get("pk"), int):
        new = ApiKey.objects.filter(pk=handed["pk"]).first()
        if new is not None:
            # this page is the one chance to copy it
            created = {"row": new, "plain": str(handed.get("plain", ""))}
    keys = ApiKey.objects.select_related("created_by").order_by("revoked_at", "-created_at")
    return render(
        request,
        "console/apikeys.html",
        {"keys": keys, "form": form, "created": created, "now": timezone.now()},
    )


def apikey_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(ApiKey, pk=pk)
    if request.method == "POST" and row.revoked_at is None:
        ApiKey.objects.filter(pk=row.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        log.info("api key revoked", extra={"by": request.user.pk, "key": row.prefix})
        messages.success(request, _("Revoked %(key)s. Apps using it get 401 from now on.") % {"key": row})
    return redirect("console:apikeys")
