"""The signed-in user's own page: the language and the calendar the console uses for them."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _

from postwarden.accounts.models import User
from postwarden.console.forms.admin import PreferencesForm
from postwarden.console.language import choose

log = logging.getLogger("postwarden.console.account")


def account(request: HttpRequest) -> HttpResponse:
    me = request.user
    assert isinstance(me, User)
    form = PreferencesForm(request.POST or None, initial={"language": me.language, "calendar": me.calendar})
    if request.method == "POST" and form.is_valid():
        me.language = form.cleaned_data["language"]
        me.calendar = form.cleaned_data["calendar"]
        me.save(update_fields=["language", "calendar"])
        log.info(
            "preferences changed", extra={"user": me.pk, "language": me.language, "calendar": me.calendar}
        )
        # the next page is in the new language, and so is what it says about the change
        with translation.override(choose(request)[0]):
            messages.success(request, _("Saved your preferences."))
        return redirect("console:account")
    return render(request, "console/account.html", {"form": form})
