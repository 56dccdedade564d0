"""The Email settings form, built from the settings table (core/config/variables.py), so a
new variable appears in the console without touching this file.

Rules (docs/spec/config.md):
- a field whose value comes from the environment, the ``.env`` file or a flag is
  read-only and says so (the environment wins, as in Metabase);
- secrets are never pre-filled: an empty secret field keeps the stored value, and an
  explicit "clear" box removes it;
- a field left empty (or a switch left at its default) removes the saved value, so the
  default applies and the page says "default" again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from django import forms
from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from postwarden.configstore.runtime import stored_values
from postwarden.console.forms.admin import LanguageSelect
from postwarden.core import i18n
from postwarden.core.config.model import Origin, Source
from postwarden.core.config.parse import parse_bool
from postwarden.core.config.resolve import Layer, Reader, env_layers
from postwarden.core.config.variables import VARIABLES, Kind, Section, Variable
from postwarden.core.secrets import Secret

#: the sections the page edits, in page order, with their headings
SECTIONS: Final[tuple[tuple[Section, Promise], ...]] = (
    (Section.SENDING, _("Sending")),
    (Section.SMTP, _("SMTP server")),
    (Section.OAUTH2, _("Signing in with OAuth2 (Microsoft 365, Google Workspace)")),
    (Section.PROVIDER, _("Email provider (API)")),
    (Section.SIGNING, _("DKIM signing")),
    (Section.WEBHOOKS, _("Provider webhooks")),
    (Section.DELIVERY, _("Delivery")),
    (Section.BOUNCES, _("Bounces (SMTP senders)")),
    (Section.CONSOLE, _("Console language and dates")),
)
EDITED_SECTIONS: Final = frozenset(section for section, _heading in SECTIONS)

LABELS: Final[dict[str, Promise]] = {
    "BOUNCE_DOMAIN": _("Bounce domain"),
    "BOUNCE_IMAP_HOST": _("Bounce mailbox IMAP host"),
    "BOUNCE_IMAP_PORT": _("IMAP port"),
    "BOUNCE_IMAP_SECURITY": _("IMAP security"),
    "BOUNCE_IMAP_USER": _("IMAP user"),
    "BOUNCE_IMAP_PASSWORD": _("IMAP password"),
    "BOUNCE_IMAP_FOLDER": _("Folder"),
    "BOUNCE_IMAP_PROCESSED": _("Processed mail is"),
    "BOUNCE_IMAP_INTERVAL": _("Read every (seconds)"),
    "EMAIL_PROVIDER": _("Send through"),
    "EMAIL_ENABLED": _("Sending enabled"),
    "MAIL_FROM": _("From address"),
    "MAIL_FROM_NAME": _("From name"),
    "MAIL_REPLY_TO": _("Reply-To address"),
    "MAIL_RECIPIENT_MODE": _("Recipients in"),
    "MAIL_ALLOWED_DOMAINS": _("Approved domains"),
    "APP_URL": _("Application URL"),
    "TEST_EMAIL": _("Test address"),
    "POSTWARDEN_LANGUAGE": _("Language"),
    "POSTWARDEN_CALENDAR": _("Calendar"),
    "SMTP_HOST": _("Host"),
    "SMTP_PORT": _("Port"),
    "SMTP_SECURITY": _("Security"),
    "SMTP_USER": _("Username"),
    "SMTP_PASSWORD": _("Password"),
    "SMTP_TIMEOUT": _("Timeout (seconds)"),
    "SMTP_REQUIRE_ENCRYPTION": _("Require encryption"),
    "SMTP_EHLO_NAME": _("EHLO name"),
    "SMTP_TLS_VERIFY": _("Verify certificate"),
    "SMTP_AUTH": _("Sign in with"),
    "OAUTH2_PROVIDER": _("Identity platform"),
    "OAUTH2_TENANT_ID": _("Tenant ID"),
    "OAUTH2_CLIENT_ID": _("Client ID"),
    "OAUTH2_CLIENT_SECRET": _("Client secret"),
    "OAUTH2_CLIENT_CERT": _("Client certificate and key (PEM)"),
    "OAUTH2_SERVICE_ACCOUNT": _("Service account key (JSON)"),
    "OAUTH2_REFRESH_TOKEN": _("Refresh token"),
    "OAUTH2_TOKEN_URL": _("Token URL"),
    "OAUTH2_AUTHORIZATION_URL": _("Authorization URL"),
    "OAUTH2_SCOPE": _("Scope"),
    "OAUTH2_AUTHORITY": _("Authority"),
    "AWS_ACCESS_KEY_ID": _("Amazon SES access key ID"),
    "AWS_SECRET_ACCESS_KEY": _("Amazon SES secret access key"),
    "AWS_REGION": _("Amazon SES region"),
    "AWS_ENDPOINT_URL": _("Amazon SES endpoint"),
    "SENDGRID_API_KEY": _("SendGrid API key"),
    "SENDGRID_API_URL": _("SendGrid API URL"),
    "MAILGUN_API_KEY": _("Mailgun API key"),
    "MAILGUN_DOMAIN": _("Mailgun domain"),
    "MAILGUN_API_URL": _("Mailgun API URL"),
    "POSTMARK_SERVER_TOKEN": _("Postmark server token"),
    "POSTMARK_MESSAGE_STREAM": _("Postmark message stream"),
    "POSTMARK_API_URL": _("Postmark API URL"),
    "RESEND_API_KEY": _("Resend API key"),
    "RESEND_API_URL": _("Resend API URL"),
    "MANDRILL_API_KEY": _("Mandrill API key"),
    "MANDRILL_API_URL": _("Mandrill API URL"),
    "DKIM_DOMAIN": _("Signing domain (d=)"),
    "DKIM_SELECTOR": _("Selector (s=)"),
    "DKIM_PRIVATE_KEY": _("Private key (PEM)"),
    "POSTWARDEN_WEBHOOK_SECRET": _("Webhook basic auth"),
    "MAILGUN_WEBHOOK_SIGNING_KEY": _("Mailgun signing key"),
    "SENDGRID_WEBHOOK_VERIFICATION_KEY": _("SendGrid verification key"),
    "RESEND_WEBHOOK_SECRET": _("Resend signing secret"),
    "MANDRILL_WEBHOOK_KEY": _("Mandrill webhook key"),
    "POSTWARDEN_PUBLIC_URL": _("Public URL of Postwarden"),
    "POSTWARDEN_MAX_MESSAGE_BYTES": _("Largest message (bytes)"),
    "POSTWARDEN_MAX_ATTEMPTS": _("Attempts per recipient"),
    "POSTWARDEN_MAX_AGE": _("Give up after (seconds)"),
    "POSTWARDEN_SEND_RATE": _("Messages per second"),
    "POSTWARDEN_SMTP_CONNECTIONS": _("SMTP connections per worker"),
    "POSTWARDEN_WORKER_TIMEOUT": _("Worker timeout (seconds)"),
    "MAIL_MAX_RECIPIENTS_PER_MESSAGE": _("Recipients per transaction"),
    "LINKS_ALLOWED_HOSTS": _("Other hosts links may go to"),
    "LINKS_REFUSE": _("Refuse mail whose links fail the check"),
    "POSTWARDEN_MAX_ATTACHMENT_BYTES": _("Largest attachment (bytes)"),
    "POSTWARDEN_RETENTION_BODY_DAYS": _("Keep mail bodies for (days)"),
    "POSTWARDEN_RETENTION_DAYS": _("Keep messages for (days)"),
    "POSTWARDEN_WEBHOOK_TOLERANCE": _("Webhook clock tolerance (seconds)"),
    "SES_WEBHOOK_TOPIC_ARN": _("SES webhook topic ARNs"),
}
CHOICE_LABELS: Final[dict[str, Promise]] = {
    "none": _("none (plain)"),
    "ssl": _("ssl (implicit TLS, usually 465)"),
    "starttls": _("starttls (required, usually 587)"),
    "opportunistic": _("opportunistic (STARTTLS when offered)"),
    "bcc": _("Bcc (recipients hidden from each other)"),
    "cc": _("Cc (recipients see each other)"),
    "password": _("password (Username and Password)"),
    "oauth2": _("OAuth2 token (Microsoft 365, Google Workspace, …)"),
    "microsoft": _("Microsoft Entra ID (Microsoft 365)"),
    "google": _("Google (Workspace service account, or a person's Gmail)"),
    "generic": _("another token endpoint (Token URL)"),
    "gregorian": _("Gregorian"),
    "smtp": _("SMTP server"),
    "ses": _("Amazon SES (API)"),
    "sendgrid": _("SendGrid (API)"),
    "mailgun": _("Mailgun (API)"),
    "postmark": _("Postmark (API)"),
    "resend": _("Resend (API)"),
    "mandrill": _("Mandrill (API)"),
    "capture": _("capture (keep mail here, send nothing)"),
    "delete": _("deleted"),
    "flag": _("flagged and left there"),
    "persian": _("Solar Hijri (Persian)"),
}
#: secrets that are a PEM block, typed into a text area
MULTILINE: Final = frozenset({"DKIM_PRIVATE_KEY", "OAUTH2_CLIENT_CERT", "OAUTH2_SERVICE_ACCOUNT"})
#: an OAuth2 credential goes to the token endpoint, and the token it buys to the SMTP server
_OAUTH2_DESTINATIONS: Final = (
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_SECURITY",
    "SMTP_TLS_VERIFY",
    "OAUTH2_PROVIDER",
    "OAUTH2_AUTHORITY",
    "OAUTH2_TOKEN_URL",
)
#: where each outgoing secret is sent. With the secret field left empty the saved secret
#: applies, so changing one of these would hand it to a server the person just chose (a
#: "settings" user, who may not see the secret, could read it off their own server): the
#: secret must be typed again, as Jenkins and Grafana ask when a credential's URL changes
DESTINATIONS: Final[dict[str, tuple[str, ...]]] = {
    "SMTP_PASSWORD": ("SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_TLS_VERIFY"),
    "SENDGRID_API_KEY": ("SENDGRID_API_URL",),
    "MAILGUN_API_KEY": ("MAILGUN_API_URL",),
    "POSTMARK_SERVER_TOKEN": ("POSTMARK_API_URL",),
    "RESEND_API_KEY": ("RESEND_API_URL",),
    "MANDRILL_API_KEY": ("MANDRILL_API_URL",),
    "AWS_SECRET_ACCESS_KEY": ("AWS_ENDPOINT_URL",),
    **dict.fromkeys(
        ("OAUTH2_CLIENT_SECRET", "OAUTH2_CLIENT_CERT", "OAUTH2_SERVICE_ACCOUNT", "OAUTH2_REFRESH_TOKEN"),
        _OAUTH2_DESTINATIONS,
    ),
}


#: the API providers' settings, by name prefix
PROVIDER_PREFIXES: Final[dict[str, str]] = {
    "AWS_": "ses",
    "SENDGRID_": "sendgrid",
    "MAILGUN_": "mailgun",
    "POSTMARK_": "postmark",
    "RESEND_": "resend",
    "MANDRILL_": "mandrill",
}
PROVIDER_HEADINGS: Final[dict[str, Promise]] = {
    "ses": _("Amazon SES (API)"),
    "sendgrid": _("SendGrid (API)"),
    "mailgun": _("Mailgun (API)"),
    "postmark": _("Postmark (API)"),
    "resend": _("Resend (API)"),
    "mandrill": _("Mandrill (API)"),
}
#: the first card: where mail goes and who it is from (about what Metabase shows first)
FIRST: Final = ("EMAIL_PROVIDER", "EMAIL_ENABLED", "MAIL_FROM", "MAIL_FROM_NAME", "MAIL_REPLY_TO")
#: fields most never change, behind "More options" in their card
MORE: Final = frozenset(
    {
        "SMTP_REQUIRE_ENCRYPTION",
        "SMTP_EHLO_NAME",
        "AWS_ENDPOINT_URL",
        "SENDGRID_API_URL",
        "MAILGUN_API_URL",
        "POSTMARK_API_URL",
        "RESEND_API_URL",
        "MANDRILL_API_URL",
        "OAUTH2_AUTHORITY",
        "OAUTH2_SCOPE",
    }
)
#: the advanced sections, each a card of its own, closed until opened
ADVANCED: Final[dict[Section, tuple[str, Promise]]] = {
    Section.SENDING: ("recipients", _("Recipients, links and the test address")),
    Section.SIGNING: ("dkim", _("DKIM signing")),
    Section.WEBHOOKS: ("webhooks", _("Provider webhooks")),
    Section.DELIVERY: ("delivery", _("Delivery tuning")),
    Section.PROVIDER: ("provider", _("Email provider (API)")),
    Section.BOUNCES: ("bounces", _("Bounces for SMTP senders (VERP return paths, bounce mailbox)")),
    Section.CONSOLE: ("console", _("Console language and dates")),
}


@dataclass(frozen=True, slots=True)
class Group:
    """One card of the page: its fields, and when it shows."""

    key: str
    heading: object
    rows: list[dict[str, Any]]
    #: shown only while "Send through" is this transport ("" = always)
    provider: str = ""
    #: shown only while "Sign in with" is this
    auth: str = ""
    #: an advanced section (closed until opened)
    advanced: bool = False
    #: shown now (the chosen transport's, or holding an error)
    shown: bool = True
    #: one of its fields has an error
    erred: bool = False

    @property
    def main_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["var"].name not in MORE]

    @property
    def more_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["var"].name in MORE]


def group_of(var: Variable) -> tuple[str, object, str, str, bool]:
    """(key, heading, provider, auth, advanced) of the card a variable is on."""
    if var.name in FIRST:
        return "sending", _("Send through"), "", "", False
    if var.section is Section.SMTP:
        return "smtp", _("SMTP server"), "smtp", "", False
    if var.section is Section.OAUTH2:
        return (
            "oauth2",
            _("Signing in with OAuth2 (Microsoft 365, Google Workspace)"),
            "smtp",
            "oauth2",
            False,
        )
    if var.section is Section.PROVIDER:
        for prefix, provider in PROVIDER_PREFIXES.items():
            if var.name.startswith(prefix):
                return provider, PROVIDER_HEADINGS[provider], provider, "", False
    key, heading = ADVANCED.get(var.section, ("other", _("Other settings")))
    return key, heading, "", "", True


def editable_variables() -> tuple[Variable, ...]:
    return tuple(v for v in VARIABLES if v.section in EDITED_SECTIONS and v.storable)


@dataclass(frozen=True, slots=True)
class Current:
    """What a field shows now: its source, and its value as a person may see it."""

    source: Source
    #: the non-secret value; for secrets "" (never shown)
    value: str
    #: for secrets: "••••" plus at most the last four characters, or "" when unset
    masked: str = ""

    @property
    def locked(self) -> bool:
        return self.source.locks_console_field


def current_values(stored: Mapping[str, str] | None = None) -> dict[str, Current]:
    """Each editable variable's source and display value, without building settings
    (so a bad value elsewhere never makes the page unusable)."""
    layers = [
        Layer(Origin.FLAG, {}),
        *env_layers(),
        Layer(Origin.STORED, stored_values() if stored is None else stored),
    ]
    reader = Reader(layers)
    found: dict[str, Current] = {}
    for var in editable_variables():
        raw = reader.raw(var.name)
        if raw is None:
            found[var.name] = Current(Source(Origin.DEFAULT), "")
        elif var.secret:
            found[var.name] = Current(raw[1], "", Secret(raw[0]).masked())
        else:
            found[var.name] = Current(raw[1], raw[0].strip())
    return found


def clear_name(name: str) -> str:
    return f"clear_{name}"


class EmailSettingsForm(forms.Form):
    """Fields named as the variables (``SMTP_HOST`` …). ``values()`` gives what to save;
    ``overrides()`` what to test with."""

    def __init__(self, *args: Any, current: Mapping[str, Current], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = current
        for var in editable_variables():
            state = current[var.name]
            self.fields[var.name] = _field(var, state)
            if var.secret:
                self.fields[clear_name(var.name)] = forms.BooleanField(
                    required=False, label=_("clear"), disabled=state.locked or not state.masked
                )

    def sections(self) -> Iterator[tuple[Promise, list[dict[str, Any]]]]:
        """(heading, rows) for the template; each row has the bound field and its state."""
        for section, heading in SECTIONS:
            rows = [self._row(var) for var in editable_variables() if var.section is section]
            yield heading, rows

    def _row(self, var: Variable) -> dict[str, Any]:
        return {
            "var": var,
            "field": self[var.name],
            "state": self.current[var.name],
            "clear": self[clear_name(var.name)] if var.secret else None,
            "label": LABELS.get(var.name, var.name),
            "help": var.help,
        }

    @staticmethod
    def default_of(name: str) -> str:
        return next(v.default for v in editable_variables() if v.name == name)

    def chosen(self, name: str) -> str:
        """A choice field's value as the page shows it now (the default when empty;
        EMAIL_PROVIDER's is capture, or smtp when SMTP_HOST is set, as the resolver has it)."""
        value = str(self[name].value() or "").strip().lower()
        if value:
            return value
        if name == "EMAIL_PROVIDER":
            return "smtp" if str(self["SMTP_HOST"].value() or "").strip() else "capture"
        return self.default_of(name)

    def groups(self) -> list[Group]:
        """The page's cards in order: "Send through" first, then one per transport (only
        the chosen one shown), then the advanced sections."""
        found: dict[str, Group] = {}
        for var in editable_variables():
            key, heading, provider, auth, advanced = group_of(var)
            group = found.setdefault(key, Group(key, heading, [], provider, auth, advanced))
            group.rows.append(self._row(var))
        provider, auth = self.chosen("EMAIL_PROVIDER"), self.chosen("SMTP_AUTH")
        groups = []
        for group in found.values():
            wanted = (not group.provider or group.provider == provider) and (
                not group.auth or group.auth == auth
            )
            erred = any(self.errors.get(r["var"].name) for r in group.rows) if self.is_bound else False
            groups.append(replace(group, shown=wanted or erred, erred=erred))
        return sorted(groups, key=lambda g: (g.advanced, g.key != "sending"))

    def values(self) -> dict[str, str]:
        """Values to save: unlocked fields only; secrets only when typed or cleared."""
        data = self.cleaned_data
        values: dict[str, str] = {}
        for var in editable_variables():
            if self.current[var.name].locked:
                continue
            if var.secret:
                if data.get(clear_name(var.name)):
                    values[var.name] = ""
                elif data.get(var.name):
                    values[var.name] = str(data[var.name])
                continue
            values[var.name] = _to_text(var, data.get(var.name))
        return values

    def clean(self) -> dict[str, Any]:
        """Refuses a new destination for a saved secret that was not typed again
        (:data:`DESTINATIONS`); one from the environment cannot be, so its destination
        must change there too."""
        data = super().clean() or {}
        for secret, destinations in DESTINATIONS.items():
            state = self.current.get(secret)
            if state is None or not state.masked or data.get(secret) or data.get(clear_name(secret)):
                continue
            moved = [name for name in destinations if name in data and self._changed(name, data[name])]
            if not moved:
                continue
            if state.locked:
                for name in moved:
                    self.add_error(
                        name,
                        gettext("%(secret)s is set by the environment: change %(name)s there too.")
                        % {"secret": secret, "name": name},
                    )
            else:
                label = str(LABELS.get(secret, secret)).lower()
                self.add_error(
                    secret,
                    gettext("Type the %(label)s again to use it with the new %(names)s.")
                    % {"label": label, "names": ", ".join(moved)},
                )
        return data

    def _changed(self, name: str, value: object) -> bool:
        var = next(v for v in editable_variables() if v.name == name)
        return _meaning(var, _to_text(var, value)) != _meaning(var, self.current[name].value)

    def overrides(self) -> dict[str, str]:
        """The form's values as a settings layer for "Test connection": like ``values()``,
        but a secret left empty is simply absent, so the stored one applies."""
        return self.values()


def _meaning(var: Variable, text: str) -> str:
    """A field's value as it acts: empty is the default, choices and switches in one spelling."""
    text = text.strip() or (var.default if var.kind in (Kind.BOOL, Kind.CHOICE) else "")
    if var.kind is Kind.BOOL and _is_bool(text):
        return str(parse_bool(text))
    return text.lower() if var.kind is Kind.CHOICE else text


def _to_text(var: Variable, value: object) -> str:
    if var.kind is Kind.BOOL:
        chosen = bool(value)
        default = parse_bool(var.default) if var.default else False
        return "" if chosen == default else ("true" if chosen else "false")
    return str(value or "").strip()


def _field(var: Variable, state: Current) -> forms.Field:
    common: dict[str, Any] = {
        "required": False,
        "label": LABELS.get(var.name, var.name),
        "help_text": i18n.localize(var.help),
        "disabled": state.locked,
    }
    if var.kind is Kind.SECRET:
        widget: forms.Widget = (
            forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
            if var.name in MULTILINE
            else forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        )
        # never the secret itself, not even as the initial value of a disabled field
        return forms.CharField(widget=widget, strip=False, initial="", **common)
    if var.kind is Kind.BOOL:
        default = parse_bool(var.default) if var.default else False
        initial = parse_bool(state.value) if _is_bool(state.value) else default
        return forms.BooleanField(initial=initial, **common)
    if var.kind is Kind.CHOICE:
        choices: list[tuple[str, object]] = [
            (
                "",
                gettext("default (%(value)s)") % {"value": i18n.localize(var.default)}
                if var.default
                else gettext("— not set —"),
            )
        ]
        # a language is named in its own words, so a reader who cannot read this page finds theirs
        names = {**CHOICE_LABELS, **dict(settings.LANGUAGES)}
        choices += [(c, names.get(c, c)) for c in var.choices]
        choice_widget = LanguageSelect() if var.name == "POSTWARDEN_LANGUAGE" else forms.Select()
        return forms.ChoiceField(choices=choices, initial=state.value.lower(), widget=choice_widget, **common)
    attrs = {"placeholder": i18n.localize(var.default)} if var.default else {}
    if var.default and not isinstance(var.default, i18n.Text):
        attrs["dir"] = "ltr"  # the default is a value (a port, a folder): written as it is
    if var.kind in (Kind.INT, Kind.FLOAT):
        attrs["inputmode"] = "numeric" if var.kind is Kind.INT else "decimal"
    return forms.CharField(initial=state.value, widget=forms.TextInput(attrs=attrs), **common)


def _is_bool(text: str) -> bool:
    try:
        parse_bool(text)
    except ValueError:
        return False
    return True
