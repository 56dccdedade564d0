"""People and groups: the application's members (exempt from the approved domains) and
their groups, and the recipient-suggestion mode served by /api/v1/recipients/suggest."""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from postwarden.accounts import suggestions
from postwarden.accounts.models import Member, MemberGroup
from postwarden.console.forms.admin import GroupForm, MemberForm, SuggestionModeForm

log = logging.getLogger("postwarden.console.people")
PAGE_SIZE = 50


def people(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _post(request)
    query = request.GET.get("q", "").strip()
    members = Member.objects.prefetch_related("groups").order_by("email")
    if query:
        members = members.filter(Q(email__icontains=query) | Q(name__icontains=query))
    # members are people, not messages: thousands at most, so numbered pages are fine here
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": query,
        "groups": MemberGroup.objects.annotate(n=Count("members")).order_by("name"),
        "member_form": MemberForm(),
        "group_form": GroupForm(),
        "mode_form": SuggestionModeForm(initial={"mode": suggestions.suggestion_mode()}),
    }
    return render(request, "console/people.html", context)


def _post(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action")
    if action == "mode":
        mode_form = SuggestionModeForm(request.POST)
        if mode_form.is_valid():
            suggestions.set_suggestion_mode(mode_form.cleaned_data["mode"])
            messages.success(request, _("Recipient suggestions saved."))
    elif action == "member":
        form = MemberForm(request.POST)
        if form.is_valid():
            member = Member.objects.create(email=form.cleaned_data["email"], name=form.cleaned_data["name"])
            member.groups.set(form.cleaned_data["groups"])
            messages.success(request, _("Added %(email)s.") % {"email": member.email})
        else:
            messages.error(request, _errors(form))
    elif action == "group":
        group_form = GroupForm(request.POST)
        if group_form.is_valid():
            MemberGroup.objects.create(name=group_form.cleaned_data["name"])
            messages.success(
                request, _("Added the group %(name)s.") % {"name": group_form.cleaned_data["name"]}
            )
        else:
            messages.error(request, _errors(group_form))
    return redirect("console:people")


def _errors(form: forms.Form) -> SafeString:
    """The form's errors for a flash: each field by its label in the page's language, each
    error kept as it is (an address validator's words come isolated: console/quoting.py)."""
    parts = []
    for field, errors in form.errors.items():
        said = format_html_join(" ", "{}", ((error,) for error in errors))
        label = form.fields[field].label if field in form.fields else None
        parts.append(format_html("{}: {}", label, said) if label else said)
    return format_html_join(" ", "{}", ((part,) for part in parts))


def member(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Member, pk=pk)
    if request.method == "POST" and request.POST.get("action") == "delete":
        row.delete()
        messages.success(request, _("Removed %(email)s.") % {"email": row.email})
        return redirect("console:people")
    initial = {"email": row.email, "name": row.name, "groups": list(row.groups.all())}
    form = MemberForm(request.POST or None, instance=row, initial=initial)
    if request.method == "POST" and form.is_valid():
        row.email, row.name = form.cleaned_data["email"], form.cleaned_data["name"]
        row.save()
        row.groups.set(form.cleaned_data["groups"])
        messages.success(request, _("Saved %(email)s.") % {"email": row.email})
        return redirect("console:people")
    return render(request, "console/member.html", {"member": row, "form": form})


def group(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(MemberGroup, pk=pk)
    if request.method == "POST" and request.POST.get("action") == "delete":
        row.delete()
        messages.success(request, _("Removed the group %(name)s; its members stay.") % {"name": row.name})
        return redirect("console:people")
    members = row.members.order_by("email")[:500]
    return render(request, "console/group.html", {"group": row, "members": members})
