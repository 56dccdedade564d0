"""Who sends mail for the From domain, and what they publish in DNS: data, not code.

The DNS stage asks two things of the sending service: which SPF include authorizes its
servers, and under which DKIM selectors it publishes keys. Both are per provider (API)
or per SMTP host (matched by host-name suffix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from postwarden.core.addresses import InvalidAddress, domain_of
from postwarden.core.config.model import Provider, Settings


@dataclass(frozen=True, slots=True)
class Sender:
    """A sending service: its name, the SPF include that covers its servers, the DKIM
    selectors it signs with (empty: per-account selectors that DNS alone cannot find)."""

    name: str
    spf_include: str | None
    dkim_selectors: tuple[str, ...] = ()


#: provider (API) -> sender. Resend sends through Amazon SES; its SPF sits on the
#: "send." return-path subdomain with include:amazonses.com.
PROVIDERS: Final[Mapping[Provider, Sender]] = {
    Provider.SES: Sender("Amazon SES", "amazonses.com"),  # Easy DKIM: per-domain token selectors
    Provider.SENDGRID: Sender("SendGrid", "sendgrid.net", ("s1", "s2")),
    Provider.MAILGUN: Sender("Mailgun", "mailgun.org", ("smtp", "mailo", "k1", "krs", "pic", "mg")),
    Provider.POSTMARK: Sender("Postmark", "spf.mtasv.net"),  # selectors like "20240101pm"
    Provider.RESEND: Sender("Resend", "amazonses.com", ("resend",)),
    Provider.MANDRILL: Sender("Mandrill", "spf.mandrillapp.com", ("mandrill",)),
}

#: SMTP host suffix -> sender, most specific first
SMTP_HOSTS: Final[tuple[tuple[str, Sender], ...]] = (
    ("smtp-relay.gmail.com", Sender("Google Workspace", "_spf.google.com", ("google",))),
    ("smtp.gmail.com", Sender("Google", "_spf.google.com", ("google",))),
    ("amazonaws.com", Sender("Amazon SES", "amazonses.com")),
    ("smtp.sendgrid.net", PROVIDERS[Provider.SENDGRID]),
    ("mailgun.org", PROVIDERS[Provider.MAILGUN]),
    ("smtp.postmarkapp.com", PROVIDERS[Provider.POSTMARK]),
    ("smtp.resend.com", PROVIDERS[Provider.RESEND]),
    ("smtp.mandrillapp.com", PROVIDERS[Provider.MANDRILL]),
    ("office365.com", Sender("Microsoft 365", "spf.protection.outlook.com", ("selector1", "selector2"))),
    ("outlook.com", Sender("Microsoft 365", "spf.protection.outlook.com", ("selector1", "selector2"))),
    ("zoho.com", Sender("Zoho Mail", "zoho.com", ("zmail",))),
    ("zoho.eu", Sender("Zoho Mail", "zoho.eu", ("zmail",))),
    ("fastmail.com", Sender("Fastmail", "spf.messagingengine.com", ("fm1", "fm2", "fm3"))),
    ("mailjet.com", Sender("Mailjet", "spf.mailjet.com", ("mailjet",))),
    ("sparkpostmail.com", Sender("SparkPost", "sparkpostmail.com", ("scph0123",))),
    ("brevo.com", Sender("Brevo", "spf.brevo.com", ("mail",))),
    ("sendinblue.com", Sender("Brevo", "spf.sendinblue.com", ("mail",))),
)


def sender_for(settings: Settings) -> Sender | None:
    """The known service mail goes through, or None (a self-hosted server: judged by
    its IP addresses)."""
    provider = settings.sending.provider
    if provider is not Provider.SMTP:
        return PROVIDERS.get(provider)
    host = (settings.smtp.host or "").lower().rstrip(".")
    for suffix, sender in SMTP_HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return sender
    return None


def mail_domain(address: str | None) -> str:
    """The lower-case IDNA domain of ``address`` ("Ops <ops@Example.com>" -> "example.com"),
    or "" when there is none or it is not an address (config.invalid_address says so)."""
    if not address:
        return ""
    try:
        return domain_of(address)
    except InvalidAddress:
        return ""
