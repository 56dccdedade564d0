"""Small forms: users, API keys, members and groups, suppressions, the suggestion mode."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from postwarden.accounts.models import Calendar, Member, MemberGroup, Role, Scope, User
from postwarden.console.quoting import said_by
from postwarden.core.addresses import InvalidAddress, parse_address


def _address(value: str) -> str:
    try:
        return parse_address(value.strip(), allow_display_name=False).addr_spec.lower()
    except InvalidAddress as exc:
        # the reader's language around the validator's own words, which stay as they came
        raise forms.ValidationError(said_by(exc)) from None


READ_BODIES_HELP = _(
    "Text, HTML, raw source and attachments of sent and captured mail (password-reset links "
    "included). Settings and admins read them anyway."
)


class UserCreateForm(forms.Form):
    email = forms.CharField(max_length=254, label=_("Email"))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER, label=_("Role"))
    read_bodies = forms.BooleanField(
        required=False, label=_("May read mail bodies"), help_text=READ_BODIES_HELP
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        label=_("Password"),
        help_text=_("At least 10 characters."),
    )

    def clean_email(self) -> str:
        # Django's validator, not parse_address: console users may be admin@localhost
        email = str(self.cleaned_data["email"]).strip().lower()
        validate_email(email)
        if User.objects.filter(username=email).exists():
            raise forms.ValidationError(_("A user with this email address exists already."))
        return email

    def clean_password(self) -> str:
        password = str(self.cleaned_data["password"])
        validate_password(password)
        return password


class UserEditForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, label=_("Role"))
    read_bodies = forms.BooleanField(
        required=False, label=_("May read mail bodies"), help_text=READ_BODIES_HELP
    )
    active = forms.BooleanField(required=False, label=_("Can log in"))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
        required=False,
        label=_("Password"),
        help_text=_("Leave empty to keep the current password."),
    )

    def clean_password(self) -> str:
        password = str(self.cleaned_data.get("password") or "")
        if password:
            validate_password(password)
        return password


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label=_("Name"), help_text=_("What uses it, e.g. “billing app (production)”.")
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.SEND],
        label=_("Scopes"),
        help_text=_(
            "send: submit mail (API and SMTP relay) · read: message status, suggestions · admin: everything"
        ),
    )


class MemberForm(forms.Form):
    email = forms.CharField(max_length=320, label=_("Email"))
    name = forms.CharField(max_length=200, required=False, label=_("Name"))
    groups = forms.ModelMultipleChoiceField(
        queryset=MemberGroup.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Groups"),
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
            raise forms.ValidationError(_("This member exists already."))
        return email


class GroupForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if MemberGroup.objects.filter(name=name).exists():
            raise forms.ValidationError(_("A group with this name exists already."))
        return name


class SuggestionModeForm(forms.Form):
    mode = forms.ChoiceField(
        label=_("Recipient suggestions"),
        choices=(
            ("all", _("All members")),
            ("groups", _("Members of the same groups only")),
            ("none", _("None")),
        ),
        help_text=_("What apps may suggest when someone types a recipient (as Metabase offers it)."),
    )


class SuppressionForm(forms.Form):
    address = forms.CharField(max_length=320, label=_("Address"))
    detail = forms.CharField(max_length=500, required=False, label=_("Why (optional)"))

    def clean_address(self) -> str:
        return _address(self.cleaned_data["address"])


class LanguageSelect(forms.Select):
    """Each language in its own name, marked as written in that language (screen readers
    say it right; the pseudo-locale check knows it is not the page's language)."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["lang"] = str(value)
        return option


class PreferencesForm(forms.Form):
    """The signed-in user's own language and calendar."""

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        widget=LanguageSelect,
        help_text=_("Empty: the instance's language (POSTWARDEN_LANGUAGE), else your browser's."),
    )
    calendar = forms.ChoiceField(
        label=_("Calendar"),
        required=False,
        choices=[("", _("Instance default")), *Calendar.choices],
        help_text=_(
            "Empty: the instance's calendar (POSTWARDEN_CALENDAR). "
            "Solar Hijri dates are used when the console is in Persian."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)
        # each language in its own name, so a person who cannot read the current one finds theirs
        language.choices = [("", _("Instance default")), *settings.LANGUAGES]
