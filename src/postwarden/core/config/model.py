"""Resolved settings: plain frozen records, with where each value came from.

These are what every other part of Postwarden receives. They are produced only by
:func:`postwarden.core.config.resolve.resolve`; nothing reads ``os.environ`` directly.
Secrets are :class:`~postwarden.core.secrets.Secret` values.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from postwarden.core.i18n import Text
from postwarden.core.secrets import EMPTY, Secret


class Security(enum.StrEnum):
    """What happens on the wire, whatever a product calls it (docs/spec/config.md)."""

    NONE = "none"
    #: implicit TLS from the first byte (usually 465)
    SSL = "ssl"
    #: plain connect, STARTTLS required (usually 587/2525)
    STARTTLS = "starttls"
    #: STARTTLS when offered, else plain (Metabase's "TLS")
    OPPORTUNISTIC = "opportunistic"


class RecipientMode(enum.StrEnum):
    BCC = "bcc"
    CC = "cc"


class Provider(enum.StrEnum):
    SMTP = "smtp"
    SES = "ses"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    POSTMARK = "postmark"
    RESEND = "resend"
    MANDRILL = "mandrill"
    CAPTURE = "capture"


#: the conventional port of each security mode
DEFAULT_PORTS: Mapping[Security, int] = {
    Security.NONE: 25,
    Security.SSL: 465,
    Security.STARTTLS: 587,
    Security.OPPORTUNISTIC: 587,
}


class Origin(enum.StrEnum):
    FLAG = "flag"
    ENV = "env"
    DOTENV = "dotenv"
    STORED = "stored"
    IMPORT = "import"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from: ``Source(Origin.ENV, "SMTP_USERNAME")`` (a synonym),
    ``Source(Origin.IMPORT, "MB_EMAIL_SMTP_HOST")``, ``Source(Origin.DEFAULT, "")``."""

    origin: Origin
    detail: str = ""

    def describe(self) -> Text:
        """Where the value came from, in words (English as a ``str``, translatable)."""
        labels = {
            Origin.FLAG: Text("command-line flag"),
            Origin.ENV: Text("environment"),
            Origin.DOTENV: Text(".env file"),
            Origin.STORED: Text("saved in the console"),
            Origin.IMPORT: Text("imported"),
            Origin.DEFAULT: Text("default"),
        }
        label = labels[self.origin]
        return Text("{label} ({detail})", label=label, detail=self.detail) if self.detail else label

    @property
    def locks_console_field(self) -> bool:
        """A value from the environment wins, so the console shows it read-only."""
        return self.origin in (Origin.ENV, Origin.DOTENV, Origin.FLAG)


class SmtpAuth(enum.StrEnum):
    """How the SMTP session signs in (``SMTP_AUTH``)."""

    PASSWORD = "password"  # noqa: S105 - a method's name, not a password
    OAUTH2 = "oauth2"


class OAuth2Provider(enum.StrEnum):
    MICROSOFT = "microsoft"
    GOOGLE = "google"
    GENERIC = "generic"


#: Microsoft's identity platform; sovereign clouds and test servers set OAUTH2_AUTHORITY
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
#: app-only (client credentials) access to Exchange Online SMTP
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
#: delegated access to a person's mailbox over SMTP
MICROSOFT_DELEGATED_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
#: where a person consents to Google's delegated sign-in (Connect account)
GOOGLE_AUTHORIZATION_URL = "https://accounts.google.com/o/oauth2/v2/auth"
#: the only scope Gmail's SMTP accepts
GOOGLE_SCOPE = "https://mail.google.com/"


@dataclass(frozen=True, slots=True)
class OAuth2Settings:
    """Where the SMTP session gets its access token (``SMTP_AUTH=oauth2``).

    Exactly how is decided by which credentials are set: a refresh token means a
    person's mailbox (delegated); otherwise the app signs in as itself (client
    credentials, a certificate, or a Google service account with domain-wide delegation).
    """

    provider: OAuth2Provider = OAuth2Provider.GENERIC
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: Secret = EMPTY
    #: PEM certificate and private key (Microsoft), instead of a secret
    client_cert: Secret = EMPTY
    #: Google service account key, JSON
    service_account: Secret = EMPTY
    refresh_token: Secret = EMPTY
    token_url: str | None = None
    #: where a person signs in for delegated access (Google's by default; generic: required)
    authorization_url: str | None = None
    #: space-separated; None = the provider's default
    scope: str | None = None
    authority: str = MICROSOFT_AUTHORITY

    @property
    def delegated(self) -> bool:
        return self.refresh_token.is_set


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str | None = None
    port: int = 587
    security: Security = Security.STARTTLS
    user: str | None = None
    password: Secret = EMPTY
    #: seconds for the connect and for each reply
    timeout: float = 20.0
    require_encryption: bool = False
    #: the name sent in EHLO; None = this machine's FQDN
    ehlo_name: str | None = None
    #: False only when the operator explicitly turned verification off
    verify_certificate: bool = True
    auth: SmtpAuth = SmtpAuth.PASSWORD
    #: set when ``auth`` is oauth2
    oauth2: OAuth2Settings | None = None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.user) or self.password.is_set or self.oauth2 is not None


@dataclass(frozen=True, slots=True)
class SendingSettings:
    provider: Provider = Provider.CAPTURE
    enabled: bool = True
    from_address: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    recipient_mode: RecipientMode = RecipientMode.BCC
    #: lower-case IDNA (ASCII) domains; empty allows every domain
    allowed_domains: tuple[str, ...] = ()
    app_url: str | None = None
    #: lower-case hosts besides APP_URL's that API mail may link to (".example.com": subdomains too)
    link_hosts: tuple[str, ...] = ()
    #: refuse API mail whose links fail the check, instead of a warning on its timeline
    refuse_bad_links: bool = False
    #: TEST_EMAIL, else the From address
    test_email: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """The email provider's settings. ``secrets`` and ``options`` are keyed by the
    variable names of docs/spec/config.md (``SENDGRID_API_KEY``, ``MAILGUN_DOMAIN`` …)."""

    name: Provider = Provider.CAPTURE
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    #: ``<PROVIDER>_API_URL`` or, for SES, ``AWS_ENDPOINT_URL``
    api_url: str | None = None

    def secret(self, name: str) -> Secret:
        return self.secrets.get(name, EMPTY)

    def option(self, name: str) -> str | None:
        return self.options.get(name)


@dataclass(frozen=True, slots=True)
class SigningSettings:
    domain: str | None = None
    selector: str | None = None
    private_key: Secret = EMPTY

    @property
    def enabled(self) -> bool:
        return self.private_key.is_set and bool(self.selector)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How the worker paces, retries and gives up."""

    #: largest accepted message (API and relay), bytes
    max_message_bytes: int = 10 * 1024 * 1024
    #: largest accepted attachment of an API message, decoded bytes
    max_attachment_bytes: int = 5 * 1024 * 1024
    #: attempts per recipient before it is dead
    max_attempts: int = 8
    #: a recipient older than this (seconds since enqueue) is dead after its next failure
    max_age_seconds: float = 2 * 86400
    #: messages per second across all workers for the active transport; 0 = unlimited
    rate_per_second: float = 0.0
    #: SMTP connections a worker keeps open at once
    smtp_connections: int = 8
    #: seconds a worker's claim lasts without a renewal (its heartbeat renews it)
    worker_timeout: float = 30.0
    #: recipients per transaction; 0 = the provider's own limit (SES: 50)
    max_recipients_per_message: int = 0
    #: days a finished message keeps its body, raw source and attachments; 0 = for ever
    retention_body_days: int = 30
    #: days a finished message keeps its row, recipients and timeline; 0 = for ever
    retention_days: int = 180


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """The SMTP submission listener that apps send through (issue #6)."""

    #: implicit-TLS listener ("host:port"), off when None
    smtps_listen: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    #: CIDR networks that may send without AUTH
    trusted_networks: tuple[str, ...] = ()
    #: AUTH needs TLS from loopback too (elsewhere it always does)
    auth_require_tls: bool = False
    #: connections one client address may hold at once
    max_connections_per_client: int = 50
    #: seconds from connecting within which a client that must AUTH has to
    preauth_timeout: int = 30


@dataclass(frozen=True, slots=True)
class BounceSettings:
    """Bounce processing for SMTP senders (issue #15): VERP return paths under ``domain``,
    received by a listener (``listen``) and/or read from an IMAP mailbox (``imap_*``)."""

    #: lower-case IDNA domain of the return paths; None: no VERP, the envelope sender is MAIL_FROM
    domain: str | None = None
    #: ``(host, port)`` of the bounce listener, or None
    listen: tuple[str, int] | None = None
    imap_host: str | None = None
    imap_port: int = 993
    #: "ssl", "starttls" or "none"
    imap_security: str = "ssl"
    imap_user: str | None = None
    imap_password: Secret = EMPTY
    imap_folder: str = "INBOX"
    #: "delete" or "flag"
    imap_processed: str = "delete"
    imap_interval: int = 60

    @property
    def imap(self) -> bool:
        """Whether a bounce mailbox is configured."""
        return bool(self.imap_host and self.imap_user)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Secrets that authenticate provider webhooks. Each list allows rotation."""

    #: "user:password" pairs for HTTP basic auth on every webhook URL
    basic_auth: tuple[Secret, ...] = ()
    mailgun_signing_key: Secret = EMPTY
    sendgrid_verification_key: Secret = EMPTY
    resend_signing_secret: Secret = EMPTY
    mandrill_webhook_key: Secret = EMPTY
    #: the public URL providers call (Mandrill signs it)
    public_url: str | None = None
    #: seconds a signed timestamp (Mailgun, SendGrid) may be from our clock, either way
    tolerance: int = 300
    #: SNS topics the SES webhook accepts; empty: any topic SNS signs
    ses_topic_arns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """Where alerts go and how often (issue #14; postwarden.alerts)."""

    #: apprise URLs (POSTWARDEN_ALERT_URLS): each holds its service's token
    urls: tuple[Secret, ...] = ()
    #: alerts sent per hour at most; more are kept in the history as held back
    max_per_hour: int = 20
    #: seconds before the first retry of an alert its endpoint refused (doubling, at most 15 min)
    retry_seconds: int = 30
    #: minutes between scheduled runs of the whole doctor
    doctor_interval_minutes: int = 60
    #: percent of accepted recipients that bounced or complained, above which queue.bounce_rate
    bounce_rate_percent: float = 5.0
    #: hours the bounce rate looks back
    bounce_window_hours: int = 24


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    database_url: str = ""
    data_dir: Path = Path("data")
    secret_key: Secret = EMPTY
    host: str = "127.0.0.1"
    port: int = 8025
    smtp_listen_host: str = "127.0.0.1"
    smtp_listen_port: int = 2525
    admin_email: str | None = None
    admin_password: Secret = EMPTY
    #: ``host`` or ``host:port``; None = the system resolver
    dns_server: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    https: bool = False
    #: networks of reverse proxies whose X-Forwarded-For names the client; empty: none
    trusted_proxies: tuple[str, ...] = ()
    #: the instance's default language (core/i18n.py LANGUAGES) and calendar (CALENDARS)
    language: str = "en"
    calendar: str = "gregorian"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything Postwarden knows about where mail goes, with provenance."""

    sending: SendingSettings = field(default_factory=SendingSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    #: variable name (canonical) -> where its value came from
    sources: Mapping[str, Source] = field(default_factory=dict)
    #: variable name -> the value as a person may see it (secrets masked)
    values: Mapping[str, str] = field(default_factory=dict)
    #: decisions the resolver made that a human should see, e.g.
    #: "SMTP_SECURITY=tls on port 465 was read as ssl (implicit TLS)"
    notes: tuple[str, ...] = ()

    def source(self, name: str) -> Source:
        return self.sources.get(name, Source(Origin.DEFAULT))
