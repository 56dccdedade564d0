"""Users and roles (admin only): create, disable, set roles, reset a password."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from postwarden.accounts.bootstrap import create_admin
from postwarden.accounts.models import Role, User
from postwarden.console.forms.admin import UserCreateForm, UserEditForm

log = logging.getLogger("postwarden.console.users")


def users(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        create_admin(data["email"], data["password"], Role(data["role"]), read_bodies=data["read_bodies"])
        log.info(
            "user created",
            extra={"by": request.user.pk, "role": data["role"], "read_bodies": data["read_bodies"]},
        )
        messages.success(
            request,
            _("Created %(email)s (%(role)s).") % {"email": data["email"], "role": Role(data["role"]).label},
        )
        return redirect("console:users")
    rows = User.objects.order_by("username").only(
        "username", "email", "role", "read_bodies", "is_active", "last_login"
    )
    return render(request, "console/users.html", {"users": rows, "form": form, "roles": Role})


def user(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    initial = {"role": target.role, "read_bodies": target.read_bodies, "active": target.is_active}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        problem = _refusal(request, target, form.cleaned_data)
        if problem:
            messages.error(request, problem)
        else:
            _apply(request, target, form.cleaned_data)
            messages.success(request, _("Saved %(email)s.") % {"email": target.email})
            return redirect("console:users")
    return render(request, "console/user.html", {"target": target, "form": form})


def _refusal(request: HttpRequest, target: User, data: dict[str, object]) -> str:
    """Why this change would lock everyone out, or ""."""
    demoted = data["role"] != Role.ADMIN or not data["active"]
    if target.role == Role.ADMIN and target.is_active and demoted:
        others = User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=target.pk)
        if not others.exists():
            return _("This is the last active admin: make someone else admin first.")
    return ""


@transaction.atomic
def _apply(request: HttpRequest, target: User, data: dict[str, object]) -> None:
    target.role = str(data["role"])
    target.read_bodies = bool(data["read_bodies"])
    target.is_staff = target.role == Role.ADMIN
    target.is_active = bool(data["active"])
    if data.get("password"):
        target.set_password(str(data["password"]))
    target.save()
    if target.pk == request.user.pk and data.get("password"):
        update_session_auth_hash(request, target)  # changing one's own password keeps the session
    log.info(
        "user changed",
        extra={
            "by": request.user.pk,
            "user": target.pk,
            "role": target.role,
            "read_bodies": target.read_bodies,
            "active": target.is_active,
        },
    )
