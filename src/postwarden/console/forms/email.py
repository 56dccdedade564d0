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

from postwarden.configstore.runtime import stored_values
from postwarden.core.config.model import Origin, Source
from postwarden.core.config.parse import parse_bool
from postwarden.core.config.resolve import Layer, Reader, env_layers
from postwarden.core.config.variables import VARIABLES, Kind, Section, Variable
from postwarden.core.secrets import Secret

#: the sections the page edits, in page order, with their headings
SECTIONS: Final[tuple[tuple[Section, str], ...]] = (
    (Section.SENDING, "Sending"),
    (Section.SMTP, "SMTP server"),
    (Section.OAUTH2, "Signing in with OAuth2 (Microsoft 365, Google Workspace)"),
    (Section.PROVIDER, "Email provider (API)"),
    (Section.SIGNING, "DKIM signing"),
    (Section.WEBHOOKS, "Provider webhooks"),
    (Section.DELIVERY, "Delivery"),
    (Section.BOUNCES, "Bounces (SMTP senders)"),
)
EDITED_SECTIONS: Final = frozenset(s for s, _ in SECTIONS)

LABELS: Final[dict[str, str]] = {
    "BOUNCE_DOMAIN": "Bounce domain",
    "BOUNCE_IMAP_HOST": "Bounce mailbox IMAP host",
    "BOUNCE_IMAP_PORT": "IMAP port",
    "BOUNCE_IMAP_SECURITY": "IMAP security",
    "BOUNCE_IMAP_USER": "IMAP user",
    "BOUNCE_IMAP_PASSWORD": "IMAP password",
    "BOUNCE_IMAP_FOLDER": "Folder",
    "BOUNCE_IMAP_PROCESSED": "Processed mail is",
    "BOUNCE_IMAP_INTERVAL": "Read every (seconds)",
    "EMAIL_PROVIDER": "Send through",
    "EMAIL_ENABLED": "Sending enabled",
    "MAIL_FROM": "From address",
    "MAIL_FROM_NAME": "From name",
    "MAIL_REPLY_TO": "Reply-To address",
    "MAIL_RECIPIENT_MODE": "Recipients in",
    "MAIL_ALLOWED_DOMAINS": "Approved domains",
    "APP_URL": "Application URL",
    "TEST_EMAIL": "Test address",
    "SMTP_HOST": "Host",
    "SMTP_PORT": "Port",
    "SMTP_SECURITY": "Security",
    "SMTP_USER": "Username",
    "SMTP_PASSWORD": "Password",
    "SMTP_TIMEOUT": "Timeout (seconds)",
    "SMTP_REQUIRE_ENCRYPTION": "Require encryption",
    "SMTP_EHLO_NAME": "EHLO name",
    "SMTP_TLS_VERIFY": "Verify certificate",
    "SMTP_AUTH": "Sign in with",
    "OAUTH2_PROVIDER": "Identity platform",
    "OAUTH2_TENANT_ID": "Tenant ID",
    "OAUTH2_CLIENT_ID": "Client ID",
    "OAUTH2_CLIENT_SECRET": "Client secret",
    "OAUTH2_CLIENT_CERT": "Client certificate and key (PEM)",
    "OAUTH2_SERVICE_ACCOUNT": "Service account key (JSON)",
    "OAUTH2_REFRESH_TOKEN": "Refresh token",
    "OAUTH2_TOKEN_URL": "Token URL",
    "OAUTH2_AUTHORIZATION_URL": "Authorization URL",
    "OAUTH2_SCOPE": "Scope",
    "OAUTH2_AUTHORITY": "Authority",
    "AWS_ACCESS_KEY_ID": "Amazon SES access key ID",
    "AWS_SECRET_ACCESS_KEY": "Amazon SES secret access key",
    "AWS_REGION": "Amazon SES region",
    "AWS_ENDPOINT_URL": "Amazon SES endpoint",
    "SENDGRID_API_KEY": "SendGrid API key",
    "SENDGRID_API_URL": "SendGrid API URL",
    "MAILGUN_API_KEY": "Mailgun API key",
    "MAILGUN_DOMAIN": "Mailgun domain",
    "MAILGUN_API_URL": "Mailgun API URL",
    "POSTMARK_SERVER_TOKEN": "Postmark server token",
    "POSTMARK_MESSAGE_STREAM": "Postmark message stream",
    "POSTMARK_API_URL": "Postmark API URL",
    "RESEND_API_KEY": "Resend API key",
    "RESEND_API_URL": "Resend API URL",
    "MANDRILL_API_KEY": "Mandrill API key",
    "MANDRILL_API_URL": "Mandrill API URL",
    "DKIM_DOMAIN": "Signing domain (d=)",
    "DKIM_SELECTOR": "Selector (s=)",
    "DKIM_PRIVATE_KEY": "Private key (PEM)",
    "POSTWARDEN_WEBHOOK_SECRET": "Webhook basic auth",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "Mailgun signing key",
    "SENDGRID_WEBHOOK_VERIFICATION_KEY": "SendGrid verification key",
    "RESEND_WEBHOOK_SECRET": "Resend signing secret",
    "MANDRILL_WEBHOOK_KEY": "Mandrill webhook key",
    "POSTWARDEN_PUBLIC_URL": "Public URL of Postwarden",
    "POSTWARDEN_MAX_MESSAGE_BYTES": "Largest message (bytes)",
    "POSTWARDEN_MAX_ATTEMPTS": "Attempts per recipient",
    "POSTWARDEN_MAX_AGE": "Give up after (seconds)",
    "POSTWARDEN_SEND_RATE": "Messages per second",
    "POSTWARDEN_SMTP_CONNECTIONS": "SMTP connections per worker",
    "POSTWARDEN_WORKER_TIMEOUT": "Worker timeout (seconds)",
    "MAIL_MAX_RECIPIENTS_PER_MESSAGE": "Recipients per transaction",
}
CHOICE_LABELS: Final[dict[str, str]] = {
    "none": "none (plain)",
    "ssl": "ssl (implicit TLS, usually 465)",
    "starttls": "starttls (required, usually 587)",
    "opportunistic": "opportunistic (STARTTLS when offered)",
    "bcc": "Bcc (recipients hidden from each other)",
    "cc": "Cc (recipients see each other)",
    "password": "password (Username and Password)",
    "oauth2": "OAuth2 token (Microsoft 365, Google Workspace, …)",
    "microsoft": "Microsoft Entra ID (Microsoft 365)",
    "google": "Google (Workspace service account, or a person's Gmail)",
    "generic": "another token endpoint (Token URL)",
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
PROVIDER_HEADINGS: Final[dict[str, str]] = {
    "ses": "Amazon SES (API)",
    "sendgrid": "SendGrid (API)",
    "mailgun": "Mailgun (API)",
    "postmark": "Postmark (API)",
    "resend": "Resend (API)",
    "mandrill": "Mandrill (API)",
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
ADVANCED: Final[dict[Section, tuple[str, str]]] = {
    Section.SENDING: ("recipients", "Recipients, links and the test address"),
    Section.SIGNING: ("dkim", "DKIM signing"),
    Section.WEBHOOKS: ("webhooks", "Provider webhooks"),
    Section.DELIVERY: ("delivery", "Delivery tuning"),
    Section.PROVIDER: ("provider", "Email provider (API)"),
    Section.BOUNCES: ("bounces", "Bounces for SMTP senders (VERP return paths, bounce mailbox)"),
}


@dataclass(frozen=True, slots=True)
class Group:
    """One card of the page: its fields, and when it shows."""

    key: str
    heading: str
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


def group_of(var: Variable) -> tuple[str, str, str, str, bool]:
    """(key, heading, provider, auth, advanced) of the card a variable is on."""
    if var.name in FIRST:
        return "sending", "Send through", "", "", False
    if var.section is Section.SMTP:
        return "smtp", "SMTP server", "smtp", "", False
    if var.section is Section.OAUTH2:
        return "oauth2", "Signing in with OAuth2 (Microsoft 365, Google Workspace)", "smtp", "oauth2", False
    if var.section is Section.PROVIDER:
        for prefix, provider in PROVIDER_PREFIXES.items():
            if var.name.startswith(prefix):
                return provider, PROVIDER_HEADINGS[provider], provider, "", False
    key, heading = ADVANCED.get(var.section, ("other", "Other settings"))
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
                    required=False, label="clear", disabled=state.locked or not state.masked
                )

    def sections(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
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
                    self.add_error(name, f"{secret} is set by the environment: change {name} there too.")
            else:
                label = LABELS.get(secret, secret).lower()
                self.add_error(secret, f"Type the {label} again to use it with the new {', '.join(moved)}.")
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
        "help_text": var.help,
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
        choices = [("", f"default ({var.default})" if var.default else "— not set —")]
        choices += [(c, CHOICE_LABELS.get(c, c)) for c in var.choices]
        return forms.ChoiceField(choices=choices, initial=state.value.lower(), **common)
    attrs = {"placeholder": var.default} if var.default else {}
    if var.kind in (Kind.INT, Kind.FLOAT):
        attrs["inputmode"] = "numeric" if var.kind is Kind.INT else "decimal"
    return forms.CharField(initial=state.value, widget=forms.TextInput(attrs=attrs), **common)


def _is_bool(text: str) -> bool:
    try:
        parse_bool(text)
    except ValueError:
        return False
    return True
