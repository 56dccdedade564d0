"""The canary mailbox form: the fields of ``POST /api/v1/canaries``; the rules are the
store's (canaries/store.py), whose errors land on the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postwarden.canaries import store
from postwarden.canaries.models import Canary, MailboxSecurity


class CanaryForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        required=False,
        label=_("Name"),
        help_text=_("A label for the list and /metrics; empty: the address's domain."),
    )
    address = forms.CharField(
        max_length=320, label=_("Address"), help_text=_("The mailbox the canary mail is sent to.")
    )
    imap_host = forms.CharField(max_length=255, label=_("IMAP host"))
    imap_port = forms.IntegerField(
        min_value=1,
        max_value=65535,
        required=False,
        label=_("IMAP port"),
        help_text=_("Empty: 993 for ssl, 143 otherwise."),
    )
    imap_security = forms.ChoiceField(
        choices=[
            (MailboxSecurity.NONE, _("none (plain)")),
            (MailboxSecurity.SSL, _("ssl (implicit TLS, usually 993)")),
            (MailboxSecurity.STARTTLS, _("starttls (usually 143)")),
        ],
        initial=MailboxSecurity.SSL,
        label=_("IMAP security"),
    )
    imap_user = forms.CharField(max_length=320, label=_("IMAP user"))
    imap_password = forms.CharField(
        max_length=1000,
        required=False,
        label=_("IMAP password"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    interval_minutes = forms.IntegerField(
        min_value=store.MIN_INTERVAL,
        max_value=store.MAX_INTERVAL,
        initial=store.DEFAULT_INTERVAL,
        label=_("Every (minutes)"),
    )
    deadline_minutes = forms.IntegerField(
        min_value=1,
        max_value=store.MAX_DEADLINE,
        initial=store.DEFAULT_DEADLINE,
        label=_("Missing after (minutes)"),
    )
    slow_seconds = forms.IntegerField(
        min_value=1,
        max_value=store.MAX_DEADLINE * 60,
        initial=store.DEFAULT_SLOW_SECONDS,
        label=_("Slow after (seconds)"),
    )
    delete_found = forms.BooleanField(
        required=False, initial=True, label=_("Delete the canary mail once found")
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    def __init__(self, *args: Any, canary: Canary | None = None, **kwargs: Any) -> None:
        if canary is not None:
            kwargs.setdefault(
                "initial",
                {
                    field: getattr(canary, field)
                    for field in self.base_fields
                    if field != "imap_password" and hasattr(canary, field)
                },
            )
        super().__init__(*args, **kwargs)
        self.canary = canary
        if canary is not None:
            self.fields["imap_password"].help_text = _("Stored (sealed). Leave empty to keep it.")

    def data_in(self) -> store.CanaryInput:
        data = self.cleaned_data
        password = data["imap_password"] or None
        if password is None and self.canary is None:
            password = ""  # the store says it is required, on the field
        return store.CanaryInput(
            address=data["address"],
            imap_host=data["imap_host"],
            imap_port=data["imap_port"],
            imap_security=data["imap_security"],
            imap_user=data["imap_user"],
            imap_password=password,
            interval_minutes=data["interval_minutes"],
            name=data["name"],
            deadline_minutes=data["deadline_minutes"],
            slow_seconds=data["slow_seconds"],
            delete_found=data["delete_found"],
            enabled=data["enabled"],
        )

    def save(self) -> Canary | None:
        """Create or change the canary; None (with the error on its field) when refused."""
        try:
            if self.canary is None:
                return store.create(self.data_in())
            return store.update(self.canary, self.data_in())
        except store.InvalidCanary as invalid:
            self.add_error(invalid.field if invalid.field in self.fields else None, invalid.message)
            return None
