"""The Alerts page's form: one apprise URL to add. The URL holds a token, so the field is
a password field (never rendered back) and an error never repeats the value."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from postwarden.alerts.destinations import InvalidUrl, check
from postwarden.console.quoting import said_by
from postwarden.core.config.builders import alert_urls


class AlertUrlForm(forms.Form):
    url = forms.CharField(
        label=_("Apprise URL"),
        max_length=2000,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_(
            "mmost://host/token, slack://…, msteams://…, tgram://…, ntfy://…, mailtos://…, "
            "json://host/path … (one URL; it holds the service's token and is stored sealed)"
        ),
    )

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        if len(url.split()) != 1:
            raise forms.ValidationError(_("One URL, without spaces."))
        try:
            alert_urls(url)
            check(url)
        except (ValueError, InvalidUrl) as exc:
            # the reader's language around the validator's own words, which stay as they came
            raise forms.ValidationError(said_by(exc)) from None
        return url
