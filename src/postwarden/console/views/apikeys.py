"""API keys (admin only): create (the key is shown once), scopes, revoke, last used."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from postwarden.accounts.models import ApiKey, User
from postwarden.console.forms.admin import ApiKeyForm

log = logging.getLogger("postwarden.console.apikeys")


@never_cache
def apikeys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        creator = request.user if isinstance(request.user, User) else None
        row, plain = ApiKey.issue(form.cleaned_data["name"], list(form.cleaned_data["scopes"]), creator)
        log.info("api key created", extra={"by": request.user.pk, "key": row.prefix, "scopes": row.scopes})
        # Rendered in this response only (never stored, never in a redirect URL or a
        # message in the session): this page is the one chance to copy it.
        created = {"row": row, "plain": plain}
        form = ApiKeyForm()
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
        messages.success(request, f"Revoked {row}. Apps using it get 401 from now on.")
    return redirect("console:apikeys")
