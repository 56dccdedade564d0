"""SMTP presets for the Email settings page: host, port and security of the services
operators most often use, each with the note that saves them an hour.

Data, not code: the page renders this table into ``<option data-…>`` attributes (a
static script fills the fields) and the server applies it too, so the page works
without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from postwarden.core.config.model import Security


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    label: Promise
    #: ``{region}`` is replaced by the region picked next to the preset (Amazon SES)
    host: str
    port: int
    security: Security
    note: Promise
    #: a fixed SMTP username, when the service has one
    user: str = ""
    #: SMTP_AUTH: "" (password, the default) or "oauth2"
    auth: str = ""
    #: OAUTH2_PROVIDER, for the OAuth2 presets
    oauth2_provider: str = ""

    @property
    def needs_region(self) -> bool:
        return "{region}" in self.host

    def host_for(self, region: str = "") -> str:
        return self.host.replace("{region}", region or SES_REGIONS[0])


PRESETS: Final[tuple[Preset, ...]] = (
    Preset(
        "gmail",
        _("Gmail"),
        "smtp.gmail.com",
        587,
        Security.STARTTLS,
        _(
            "Needs an App Password (Google account → Security → 2-Step Verification → App passwords); "
            "the normal password is refused with 535 5.7.8. The From address must be the account "
            "or one of its verified aliases."
        ),
    ),
    Preset(
        "google_relay",
        _("Google Workspace SMTP relay"),
        "smtp-relay.gmail.com",
        587,
        Security.STARTTLS,
        _(
            "Configure the relay in the Admin console (Apps → Google Workspace → Gmail → Routing → "
            "SMTP relay service): allow this server's IP address or require SMTP authentication."
        ),
    ),
    Preset(
        "ses",
        _("Amazon SES (SMTP)"),
        "email-smtp.{region}.amazonaws.com",
        587,
        Security.STARTTLS,
        _(
            "Use SMTP credentials created in the SES console (not your AWS access key), in the region "
            "where the sender identity is verified. New accounts are in the sandbox: they may only "
            "send to verified addresses."
        ),
    ),
    Preset(
        "office365",
        _("Microsoft 365"),
        "smtp.office365.com",
        587,
        Security.STARTTLS,
        _(
            "SMTP AUTH must be enabled for the mailbox (Microsoft 365 admin center → user → Mail → "
            "Manage email apps → Authenticated SMTP); security defaults turn it off."
        ),
    ),
    Preset(
        "office365_oauth2",
        _("Microsoft 365 (OAuth2)"),
        "smtp.office365.com",
        587,
        Security.STARTTLS,
        _(
            "Signs in with an app token instead of a password (Exchange Online ends password SMTP AUTH "
            "in December 2026). Register an app in Microsoft Entra ID with the application permission "
            "SMTP.SendAsApp (admin consent), register its service principal in Exchange Online for the "
            "mailbox, then fill in the tenant ID, client ID and client secret below; Username is the mailbox."
        ),
        auth="oauth2",
        oauth2_provider="microsoft",
    ),
    Preset(
        "google_oauth2",
        _("Google Workspace (OAuth2)"),
        "smtp.gmail.com",
        587,
        Security.STARTTLS,
        _(
            "Signs in with a service account token, no password: allow the service account's client ID "
            "domain-wide delegation with the scope https://mail.google.com/ (Admin console → Security → "
            "API controls), paste its JSON key below; Username is the mailbox to send as."
        ),
        auth="oauth2",
        oauth2_provider="google",
    ),
    Preset(
        "outlook",
        _("Outlook.com"),
        "smtp-mail.outlook.com",
        587,
        Security.STARTTLS,
        _("Personal Outlook.com accounts with two-step verification need an app password."),
    ),
    Preset(
        "mailgun",
        _("Mailgun (SMTP, US)"),
        "smtp.mailgun.org",
        587,
        Security.STARTTLS,
        _(
            "Use the SMTP credentials of the sending domain (Sending → Domain settings → SMTP "
            "credentials), e.g. postmaster@mg.example.com."
        ),
    ),
    Preset(
        "mailgun_eu",
        _("Mailgun (SMTP, EU)"),
        "smtp.eu.mailgun.org",
        587,
        Security.STARTTLS,
        _("For domains created in Mailgun's EU region; US credentials are refused here."),
    ),
    Preset(
        "sendgrid",
        _("SendGrid (SMTP)"),
        "smtp.sendgrid.net",
        587,
        Security.STARTTLS,
        _(
            'The username is literally "apikey"; the password is an API key with Mail Send '
            "permission. The From address must be a verified sender."
        ),
        user="apikey",
    ),
    Preset(
        "postmark",
        _("Postmark (SMTP)"),
        "smtp.postmarkapp.com",
        587,
        Security.STARTTLS,
        _(
            "Username and password are both the Server API token; the From address must be a "
            "confirmed sender signature."
        ),
    ),
    Preset(
        "mandrill",
        _("Mandrill (SMTP)"),
        "smtp.mandrillapp.com",
        587,
        Security.STARTTLS,
        _("The username is any string (e.g. your account name); the password is a Mandrill API key."),
    ),
    Preset(
        "postfix",
        _("Local Postfix"),
        "localhost",
        25,
        Security.NONE,
        _(
            "A mail server on this machine; no credentials. Check that it relays for 127.0.0.1 "
            "(mynetworks) and that its own outbound mail works."
        ),
    ),
)

BY_KEY: Final[dict[str, Preset]] = {p.key: p for p in PRESETS}

#: regions with an SES SMTP endpoint (AWS "Amazon SES endpoints and quotas")
SES_REGIONS: Final[tuple[str, ...]] = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "il-central-1",
    "me-south-1",
    "af-south-1",
)
