"""Small forms: users, API keys, members and groups, suppressions, the suggestion mode."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_email

from postwarden.accounts.models import Member, MemberGroup, Role, Scope, User
from postwarden.core.addresses import InvalidAddress, parse_address


def _address(value: str) -> str:
    try:
        return parse_address(value.strip(), allow_display_name=False).addr_spec.lower()
    except InvalidAddress as exc:
        raise forms.ValidationError(str(exc)) from None


READ_BODIES_HELP = (
    "Text, HTML, raw source and attachments of sent and captured mail (password-reset links "
    "included). Settings and admins read them anyway."
)


class UserCreateForm(forms.Form):
    email = forms.CharField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    read_bodies = forms.BooleanField(required=False, label="May read mail bodies", help_text=READ_BODIES_HELP)
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        help_text="At least 10 characters.",
    )

    def clean_email(self) -> str:
        # Django's validator, not parse_address: console users may be admin@localhost
        email = str(self.cleaned_data["email"]).strip().lower()
        validate_email(email)
        if User.objects.filter(username=email).exists():
            raise forms.ValidationError("A user with this email address exists already.")
        return email

    def clean_password(self) -> str:
        password = str(self.cleaned_data["password"])
        validate_password(password)
        return password


class UserEditForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
    read_bodies = forms.BooleanField(required=False, label="May read mail bodies", help_text=READ_BODIES_HELP)
    active = forms.BooleanField(required=False, label="Can log in")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        required=False,
        help_text="Leave empty to keep the current password.",
    )

    def clean_password(self) -> str:
        password = str(self.cleaned_data.get("password") or "")
        if password:
            validate_password(password)
        return password


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “billing app (production)”.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.SEND],
        help_text=(
            "send: submit mail (API and SMTP relay) · read: message status, suggestions · admin: everything"
        ),
    )


class MemberForm(forms.Form):
    email = forms.CharField(max_length=320)
    name = forms.CharField(max_length=200, required=False)
    groups = forms.ModelMultipleChoiceField(
        queryset=MemberGroup.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, instance: Member | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = instance

    def clean_email(self) -> str:
        email = _address(self.cleaned_data["email"])
        others = Member.objects.filter(email=email)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError("This member exists already.")
        return email


class GroupForm(forms.Form):
    name = forms.CharField(max_length=100)

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if MemberGroup.objects.filter(name=name).exists():
            raise forms.ValidationError("A group with this name exists already.")
        return name


class SuggestionModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Recipient suggestions",
        choices=(("all", "All members"), ("groups", "Members of the same groups only"), ("none", "None")),
        help_text="What apps may suggest when someone types a recipient (as Metabase offers it).",
    )


class SuppressionForm(forms.Form):
    address = forms.CharField(max_length=320)
    detail = forms.CharField(max_length=500, required=False, label="Why (optional)")

    def clean_address(self) -> str:
        return _address(self.cleaned_data["address"])
