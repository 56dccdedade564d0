"""Every setting Postwarden reads: one table (docs/spec/config.md), consulted by the resolver,
the console's settings form, the docs and the doctor's settings block."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from postwarden.core.i18n import CALENDARS, LANGUAGES, Text


class Kind(enum.StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    CHOICE = "choice"
    SECRET = "secret"  # noqa: S105 - a kind of value, not a secret
    LIST = "list"


class Section(enum.StrEnum):
    SENDING = "sending"
    SMTP = "smtp"
    OAUTH2 = "oauth2"
    PROVIDER = "provider"
    WEBHOOKS = "webhooks"
    SIGNING = "signing"
    DELIVERY = "delivery"
    RELAY = "relay"
    BOUNCES = "bounces"
    ALERTS = "alerts"
    CONSOLE = "console"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    kind: Kind
    section: Section
    help: str
    default: str = ""
    synonyms: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    #: may be saved in the console; infrastructure settings must come from the environment
    #: because they are needed before the database can be read
    storable: bool = True
    #: integer bounds (inclusive), where they apply
    minimum: float | None = None
    maximum: float | None = None

    @property
    def secret(self) -> bool:
        return self.kind is Kind.SECRET


def _v(name: str, kind: Kind, section: Section, help_: str, **kw: object) -> Variable:
    return Variable(name, kind, section, help_, **kw)  # type: ignore[arg-type]


S, K = Section, Kind
PROVIDER_CHOICES = ("smtp", "ses", "sendgrid", "mailgun", "postmark", "resend", "mandrill", "capture")

VARIABLES: tuple[Variable, ...] = (
    # Sending
    _v(
        "EMAIL_PROVIDER",
        K.CHOICE,
        S.SENDING,
        Text("Where mail is sent: an SMTP server, a provider's API, or captured locally"),
        choices=PROVIDER_CHOICES,
        default=Text("capture, or smtp when SMTP_HOST is set"),
    ),
    _v(
        "EMAIL_ENABLED",
        K.BOOL,
        S.SENDING,
        Text("Master switch; false holds mail until it is released"),
        default="true",
    ),
    _v("MAIL_FROM", K.STR, S.SENDING, Text("From address"), synonyms=("MAIL_FROM_ADDRESS", "EMAIL_FROM")),
    _v("MAIL_FROM_NAME", K.STR, S.SENDING, Text("From display name")),
    _v("MAIL_REPLY_TO", K.STR, S.SENDING, Text("Reply-To address")),
    _v(
        "MAIL_RECIPIENT_MODE",
        K.CHOICE,
        S.SENDING,
        Text("bcc hides recipients from each other; cc lists them"),
        choices=("bcc", "cc"),
        default="bcc",
    ),
    _v(
        "MAIL_ALLOWED_DOMAINS",
        K.LIST,
        S.SENDING,
        Text("Approved recipient domains, comma-separated; empty allows all"),
    ),
    _v("APP_URL", K.STR, S.SENDING, Text("Public base URL of the application whose links the mails carry")),
    _v(
        "LINKS_ALLOWED_HOSTS",
        K.LIST,
        S.SENDING,
        Text(
            "Hosts besides APP_URL's that API mail may link to, comma-separated "
            "(a leading dot allows subdomains)"
        ),
    ),
    _v(
        "LINKS_REFUSE",
        K.BOOL,
        S.SENDING,
        Text(
            "Refuse API mail whose links fail the links check (localhost, private address, http:, "
            "other host) instead of only warning"
        ),
        default="false",
    ),
    _v(
        "TEST_EMAIL",
        K.STR,
        S.SENDING,
        Text("Default recipient of test mails and doctor probes"),
        default=Text("the From address"),
    ),
    # SMTP
    _v("SMTP_HOST", K.STR, S.SMTP, Text("SMTP server host name or IP")),
    _v(
        "SMTP_PORT",
        K.INT,
        S.SMTP,
        Text("SMTP server port"),
        default=Text("25 none, 465 ssl, 587 starttls"),
        minimum=1,
        maximum=65535,
    ),
    _v(
        "SMTP_SECURITY",
        K.CHOICE,
        S.SMTP,
        Text("none, ssl (implicit TLS), starttls (required) or opportunistic (STARTTLS when offered)"),
        choices=("none", "ssl", "starttls", "opportunistic"),
        default="starttls",
    ),
    _v(
        "SMTP_USER",
        K.STR,
        S.SMTP,
        Text("SMTP username; empty with an empty password means no AUTH"),
        synonyms=("SMTP_USERNAME",),
    ),
    _v("SMTP_PASSWORD", K.SECRET, S.SMTP, Text("SMTP password")),
    _v(
        "SMTP_TIMEOUT",
        K.FLOAT,
        S.SMTP,
        Text("Seconds for the connect and for each reply"),
        default="20",
        minimum=0.1,
        maximum=600,
    ),
    _v("SMTP_REQUIRE_ENCRYPTION", K.BOOL, S.SMTP, Text("Refuse security none"), default="false"),
    _v(
        "SMTP_EHLO_NAME",
        K.STR,
        S.SMTP,
        Text("Name sent in EHLO (some servers want a fully-qualified name)"),
        default=Text("this machine's FQDN"),
    ),
    _v(
        "SMTP_TLS_VERIFY",
        K.BOOL,
        S.SMTP,
        Text("Verify the server's certificate (turn off only for a self-signed server you trust)"),
        default="true",
    ),
    # SMTP sign-in with OAuth2 (issue #12): Microsoft 365, Google Workspace, any other
    _v(
        "SMTP_AUTH",
        K.CHOICE,
        S.SMTP,
        Text(
            "How Postwarden signs in to the SMTP server: password (SMTP_USER and SMTP_PASSWORD) "
            "or oauth2 (a token from OAUTH2_PROVIDER, for the mailbox in SMTP_USER)"
        ),
        choices=("password", "oauth2"),
        default="password",
    ),
    _v(
        "OAUTH2_PROVIDER",
        K.CHOICE,
        S.OAUTH2,
        Text("Who issues the token: microsoft (Entra ID), google, or generic (OAUTH2_TOKEN_URL)"),
        choices=("microsoft", "google", "generic"),
        default=Text("by SMTP_HOST: microsoft for office365.com/outlook.com, google for gmail.com"),
    ),
    _v("OAUTH2_TENANT_ID", K.STR, S.OAUTH2, Text("Microsoft Entra tenant id (directory id) or domain")),
    _v("OAUTH2_CLIENT_ID", K.STR, S.OAUTH2, Text("Application (client) id of the app registration")),
    _v(
        "OAUTH2_CLIENT_SECRET",
        K.SECRET,
        S.OAUTH2,
        Text("Client secret of the app registration (the secret's value, not its id)"),
    ),
    _v(
        "OAUTH2_CLIENT_CERT",
        K.SECRET,
        S.OAUTH2,
        Text(
            "PEM certificate and private key the app signs in with, instead of a secret "
            "(OAUTH2_CLIENT_CERT_FILE: a file holding them)"
        ),
    ),
    _v(
        "OAUTH2_SERVICE_ACCOUNT",
        K.SECRET,
        S.OAUTH2,
        Text(
            "Google service account key (JSON) with domain-wide delegation "
            "(OAUTH2_SERVICE_ACCOUNT_FILE: the downloaded key file)"
        ),
    ),
    _v(
        "OAUTH2_REFRESH_TOKEN",
        K.SECRET,
        S.OAUTH2,
        Text(
            "Refresh token of a person's mailbox (delegated sign-in; set by Connect account or "
            "postwarden oauth2 connect)"
        ),
    ),
    _v(
        "OAUTH2_TOKEN_URL",
        K.STR,
        S.OAUTH2,
        Text("Token endpoint (generic; overrides Google's)"),
        default=Text("microsoft: from OAUTH2_AUTHORITY; google: https://oauth2.googleapis.com/token"),
    ),
    _v(
        "OAUTH2_AUTHORIZATION_URL",
        K.STR,
        S.OAUTH2,
        Text(
            "Authorization endpoint where a person signs in for Connect account / postwarden oauth2 "
            "connect (generic; overrides Google's)"
        ),
        default=Text(
            "google: https://accounts.google.com/o/oauth2/v2/auth; microsoft: from OAUTH2_AUTHORITY"
        ),
    ),
    _v(
        "OAUTH2_SCOPE",
        K.STR,
        S.OAUTH2,
        Text("Scope(s) asked for, space-separated"),
        default=Text("microsoft: https://outlook.office365.com/.default; google: https://mail.google.com/"),
    ),
    _v(
        "OAUTH2_AUTHORITY",
        K.STR,
        S.OAUTH2,
        Text("Microsoft identity platform base URL (a sovereign cloud, or a test identity server)"),
        default="https://login.microsoftonline.com",
    ),
    # Providers
    _v("AWS_ACCESS_KEY_ID", K.STR, S.PROVIDER, Text("Amazon SES access key id")),
    _v("AWS_SECRET_ACCESS_KEY", K.SECRET, S.PROVIDER, Text("Amazon SES secret access key")),
    _v("AWS_REGION", K.STR, S.PROVIDER, Text("Amazon SES region"), synonyms=("AWS_DEFAULT_REGION",)),
    _v(
        "AWS_ENDPOINT_URL",
        K.STR,
        S.PROVIDER,
        Text("Another SES endpoint (tests, private gateways)"),
        synonyms=("SES_API_URL",),
    ),
    _v("SENDGRID_API_KEY", K.SECRET, S.PROVIDER, Text("SendGrid API key")),
    _v("SENDGRID_API_URL", K.STR, S.PROVIDER, Text("Another SendGrid API endpoint")),
    _v("MAILGUN_API_KEY", K.SECRET, S.PROVIDER, Text("Mailgun API key")),
    _v("MAILGUN_DOMAIN", K.STR, S.PROVIDER, Text("Mailgun sending domain")),
    _v(
        "MAILGUN_API_URL",
        K.STR,
        S.PROVIDER,
        Text("Mailgun API endpoint (https://api.eu.mailgun.net/v3 for EU)"),
    ),
    _v("POSTMARK_SERVER_TOKEN", K.SECRET, S.PROVIDER, Text("Postmark server token")),
    _v("POSTMARK_MESSAGE_STREAM", K.STR, S.PROVIDER, Text("Postmark message stream"), default="outbound"),
    _v("POSTMARK_API_URL", K.STR, S.PROVIDER, Text("Another Postmark API endpoint")),
    _v("RESEND_API_KEY", K.SECRET, S.PROVIDER, Text("Resend API key")),
    _v("RESEND_API_URL", K.STR, S.PROVIDER, Text("Another Resend API endpoint")),
    _v("MANDRILL_API_KEY", K.SECRET, S.PROVIDER, Text("Mandrill API key")),
    _v("MANDRILL_API_URL", K.STR, S.PROVIDER, Text("Another Mandrill API endpoint")),
    # Signing
    _v("DKIM_DOMAIN", K.STR, S.SIGNING, Text("DKIM d= domain"), default=Text("the From domain")),
    _v("DKIM_SELECTOR", K.STR, S.SIGNING, Text("DKIM s= selector")),
    _v(
        "DKIM_PRIVATE_KEY",
        K.SECRET,
        S.SIGNING,
        Text("PEM private key; signing is on when set (also DKIM_PRIVATE_KEY_FILE)"),
    ),
    # Delivery
    _v(
        "POSTWARDEN_MAX_MESSAGE_BYTES",
        K.INT,
        S.DELIVERY,
        Text("Largest accepted message in bytes"),
        default="10485760",
        minimum=1024,
        maximum=200 * 1024 * 1024,
    ),
    _v(
        "POSTWARDEN_MAX_ATTACHMENT_BYTES",
        K.INT,
        S.DELIVERY,
        Text(
            "Largest accepted attachment (decoded) in bytes; a message's total is "
            "POSTWARDEN_MAX_MESSAGE_BYTES"
        ),
        default="5242880",
        minimum=1,
        maximum=200 * 1024 * 1024,
    ),
    _v(
        "POSTWARDEN_MAX_ATTEMPTS",
        K.INT,
        S.DELIVERY,
        Text("Attempts per recipient before it is dead"),
        default="8",
        minimum=1,
        maximum=100,
    ),
    _v(
        "POSTWARDEN_MAX_AGE",
        K.FLOAT,
        S.DELIVERY,
        Text("Seconds after enqueue when a failing recipient is dead"),
        default="172800",
        minimum=1,
        maximum=30 * 86400,
    ),
    _v(
        "POSTWARDEN_SEND_RATE",
        K.FLOAT,
        S.DELIVERY,
        Text("Messages per second across all workers; 0 = unlimited"),
        default="0",
        minimum=0,
        maximum=1e6,
    ),
    _v(
        "POSTWARDEN_SMTP_CONNECTIONS",
        K.INT,
        S.DELIVERY,
        Text("SMTP connections per worker"),
        default="8",
        minimum=1,
        maximum=64,
    ),
    _v(
        "POSTWARDEN_WORKER_TIMEOUT",
        K.FLOAT,
        S.DELIVERY,
        Text(
            "Seconds a worker's claim on the mail it is sending outlives its last heartbeat; then "
            "other workers take that mail back (a running worker renews its claim every few seconds, "
            "and what a worker that died on the same machine held comes back at once)"
        ),
        default="30",
        minimum=3,
        maximum=3600,
    ),
    _v(
        "POSTWARDEN_RETENTION_BODY_DAYS",
        K.INT,
        S.DELIVERY,
        Text(
            "Days a finished message keeps its body, raw source and attachments (timeline and "
            "replies stay); 0 keeps them for ever"
        ),
        default="30",
        minimum=0,
        maximum=36500,
    ),
    _v(
        "POSTWARDEN_RETENTION_DAYS",
        K.INT,
        S.DELIVERY,
        Text(
            "Days a finished message keeps its row, recipients and timeline (and canary runs and sent "
            "alerts their history); 0 keeps them for ever. Suppressions are not deleted by age"
        ),
        default="180",
        minimum=0,
        maximum=36500,
    ),
    _v(
        "MAIL_MAX_RECIPIENTS_PER_MESSAGE",
        K.INT,
        S.DELIVERY,
        Text("Recipients per transaction; 0 = the provider's limit (SES 50)"),
        default="0",
        minimum=0,
        maximum=10000,
    ),
    # Relay
    _v(
        "POSTWARDEN_SMTPS_LISTEN",
        K.STR,
        S.RELAY,
        Text("host:port of an implicit-TLS relay listener"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_CERT_FILE",
        K.STR,
        S.RELAY,
        Text("PEM certificate for the relay's TLS (self-signed into the data directory when unset)"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_KEY_FILE",
        K.STR,
        S.RELAY,
        Text("PEM private key for the relay's TLS"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_TRUSTED_NETWORKS",
        K.LIST,
        S.RELAY,
        Text("CIDR networks that may relay without AUTH"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_AUTH_REQUIRE_TLS",
        K.BOOL,
        S.RELAY,
        Text(
            "AUTH only after STARTTLS (or on the implicit-TLS listener), loopback clients too; "
            "when false, clients on loopback may AUTH in the clear (the key never leaves this machine), "
            "all others need TLS"
        ),
        default="false",
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_MAX_CONNECTIONS_PER_CLIENT",
        K.INT,
        S.RELAY,
        Text("Connections one client address may hold open at once (512 in all); more are told 421"),
        default="50",
        minimum=1,
        maximum=512,
        storable=False,
    ),
    _v(
        "POSTWARDEN_RELAY_PREAUTH_TIMEOUT",
        K.INT,
        S.RELAY,
        Text(
            "Seconds a client that must AUTH has, from connecting, to authenticate; NOOP, RSET and EHLO "
            "do not extend it"
        ),
        default="30",
        minimum=1,
        maximum=300,
        storable=False,
    ),
    # Bounces (issue #15)
    _v(
        "BOUNCE_DOMAIN",
        K.STR,
        S.BOUNCES,
        Text(
            "Domain of the return paths (VERP): each recipient's envelope sender becomes "
            "bounces+<token>@BOUNCE_DOMAIN, so a bounce names its message and recipient (SMTP only; "
            "From is unchanged). Its MX must reach the bounce listener or the bounce mailbox"
        ),
    ),
    _v(
        "POSTWARDEN_BOUNCE_LISTEN",
        K.STR,
        S.BOUNCES,
        Text(
            "host:port of the listener that receives bounces for BOUNCE_DOMAIN (e.g. 0.0.0.0:25); "
            "it takes mail only for valid bounce addresses. Empty: no listener"
        ),
        storable=False,
    ),
    _v(
        "BOUNCE_IMAP_HOST",
        K.STR,
        S.BOUNCES,
        Text(
            "IMAP server of a bounce mailbox to poll instead of (or besides) the listener, for installs "
            "that cannot receive on port 25"
        ),
    ),
    _v(
        "BOUNCE_IMAP_PORT",
        K.INT,
        S.BOUNCES,
        Text("IMAP port"),
        default=Text("993 ssl, 143 starttls or none"),
        minimum=1,
        maximum=65535,
    ),
    _v(
        "BOUNCE_IMAP_SECURITY",
        K.CHOICE,
        S.BOUNCES,
        Text("ssl (implicit TLS), starttls or none"),
        choices=("ssl", "starttls", "none"),
        default="ssl",
    ),
    _v("BOUNCE_IMAP_USER", K.STR, S.BOUNCES, Text("IMAP user of the bounce mailbox")),
    _v("BOUNCE_IMAP_PASSWORD", K.SECRET, S.BOUNCES, Text("IMAP password of the bounce mailbox")),
    _v("BOUNCE_IMAP_FOLDER", K.STR, S.BOUNCES, Text("Folder polled for bounces"), default="INBOX"),
    _v(
        "BOUNCE_IMAP_PROCESSED",
        K.CHOICE,
        S.BOUNCES,
        Text(
            "What happens to a processed mail in the bounce mailbox: deleted, or flagged \\Seen and "
            "\\Flagged and left there"
        ),
        choices=("delete", "flag"),
        default="delete",
    ),
    _v(
        "BOUNCE_IMAP_INTERVAL",
        K.INT,
        S.BOUNCES,
        Text("Seconds between polls of the bounce mailbox"),
        default="60",
        minimum=5,
        maximum=3600,
    ),
    # Webhooks
    _v(
        "POSTWARDEN_WEBHOOK_SECRET",
        K.SECRET,
        S.WEBHOOKS,
        Text("user:password for webhook basic auth; several comma-separated for rotation"),
    ),
    _v("MAILGUN_WEBHOOK_SIGNING_KEY", K.SECRET, S.WEBHOOKS, Text("Mailgun webhook signing key")),
    _v(
        "SENDGRID_WEBHOOK_VERIFICATION_KEY",
        K.SECRET,
        S.WEBHOOKS,
        Text(
            "SendGrid signed event webhook public key (the base64 text SendGrid shows); "
            "refused when it is not a public key"
        ),
    ),
    _v("RESEND_WEBHOOK_SECRET", K.SECRET, S.WEBHOOKS, Text("Resend (Svix) webhook signing secret")),
    _v("MANDRILL_WEBHOOK_KEY", K.SECRET, S.WEBHOOKS, Text("Mandrill webhook key")),
    _v(
        "POSTWARDEN_PUBLIC_URL",
        K.STR,
        S.WEBHOOKS,
        Text("Public URL of this Postwarden, as providers call it"),
    ),
    _v(
        "POSTWARDEN_WEBHOOK_TOLERANCE",
        K.INT,
        S.WEBHOOKS,
        Text(
            "Seconds a Mailgun or SendGrid signed timestamp may be from this machine's clock, "
            "either way; older requests are refused as replays, and so is a Mailgun token seen before"
        ),
        default="300",
        minimum=30,
        maximum=86400,
    ),
    _v(
        "SES_WEBHOOK_TOPIC_ARN",
        K.LIST,
        S.WEBHOOKS,
        Text("SNS topic ARNs the SES webhook accepts, comma-separated; empty accepts any topic SNS signs"),
    ),
    # Alerts
    _v(
        "POSTWARDEN_ALERT_URLS",
        K.SECRET,
        S.ALERTS,
        Text(
            "Where alerts go: apprise URLs, separated by spaces (mmost://host/token, slack://…, "
            "msteams://…, tgram://…, ntfy://…, mailtos://…, json://host/path …); each holds its "
            "service's token. Also added and removed in the console (Alerts)"
        ),
    ),
    _v(
        "POSTWARDEN_ALERT_MAX_PER_HOUR",
        K.INT,
        S.ALERTS,
        Text(
            "Alerts sent per hour at most; more are kept in the alert history as held back, and the "
            "next one sent says how many"
        ),
        default="20",
        minimum=1,
        maximum=1000,
    ),
    _v(
        "POSTWARDEN_ALERT_RETRY_SECONDS",
        K.INT,
        S.ALERTS,
        Text(
            "Seconds before an alert whose endpoint failed is tried again (doubling each time, at "
            "most 15 minutes; given up after 24 hours, shown as failed in the history)"
        ),
        default="30",
        minimum=1,
        maximum=900,
    ),
    _v(
        "POSTWARDEN_DOCTOR_INTERVAL",
        K.INT,
        S.ALERTS,
        Text(
            "Minutes between scheduled runs of the whole doctor; one turning from clear to error is an alert"
        ),
        default="60",
        minimum=5,
        maximum=10080,
    ),
    _v(
        "POSTWARDEN_BOUNCE_RATE_THRESHOLD",
        K.FLOAT,
        S.ALERTS,
        Text(
            "Percent of the recipients accepted in the window that bounced or complained, above "
            "which the doctor reports queue.bounce_rate (counted from 20 accepted recipients on)"
        ),
        default="5",
        minimum=0.1,
        maximum=100,
    ),
    _v(
        "POSTWARDEN_BOUNCE_RATE_WINDOW",
        K.INT,
        S.ALERTS,
        Text("Hours the bounce and complaint rate looks back"),
        default="24",
        minimum=1,
        maximum=720,
    ),
    # Console (also saved on the Email settings page)
    _v(
        "POSTWARDEN_LANGUAGE",
        K.CHOICE,
        S.CONSOLE,
        Text(
            "The language of the console, the CLI and the mail Postwarden writes itself, unless a console "
            "user picks their own on their Account page; unset, the console follows the browser's "
            "Accept-Language and the CLI follows LANG, then English"
        ),
        choices=LANGUAGES,
        default="en",
    ),
    _v(
        "POSTWARDEN_CALENDAR",
        K.CHOICE,
        S.CONSOLE,
        Text(
            "The calendar dates are written in: gregorian, or persian (Solar Hijri) when the language is "
            "Persian; each console user may pick their own"
        ),
        choices=CALENDARS,
        default="gregorian",
    ),
    # Service (environment only)
    _v(
        "DATABASE_URL",
        K.STR,
        S.SERVICE,
        Text("sqlite:///path or postgres://…"),
        default=Text("sqlite:/// a file in the data directory"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_DATA_DIR",
        K.STR,
        S.SERVICE,
        Text(
            "Where the embedded database, the secret key, captured mails and the relay's certificate live "
            "(docs/deploy.md)"
        ),
        default=Text("systemd's $STATE_DIRECTORY, else data/ of a checkout, else ~/.local/share/postwarden"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_SECRET_KEY",
        K.SECRET,
        S.SERVICE,
        Text("Key for sessions and for encrypting stored secrets"),
        default=Text("generated once into the data directory"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_HOST",
        K.STR,
        S.SERVICE,
        Text("Where the console and API listen"),
        default="127.0.0.1",
        storable=False,
    ),
    _v(
        "POSTWARDEN_PORT",
        K.INT,
        S.SERVICE,
        Text("Port of the console and API"),
        default="8025",
        minimum=1,
        maximum=65535,
        storable=False,
    ),
    _v(
        "POSTWARDEN_ALLOWED_HOSTS",
        K.LIST,
        S.SERVICE,
        Text("Host names the console answers to, comma-separated"),
        default=Text("localhost, 127.0.0.1, ::1, POSTWARDEN_HOST"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_HTTPS",
        K.BOOL,
        S.SERVICE,
        Text(
            "The console is reached over HTTPS (behind a proxy that sets "
            "X-Forwarded-Proto): secure cookies and HSTS"
        ),
        default="false",
        storable=False,
    ),
    _v(
        "POSTWARDEN_TRUSTED_PROXIES",
        K.LIST,
        S.SERVICE,
        Text(
            "Addresses or CIDR networks of the reverse proxies in front of the console and API, "
            "comma-separated: their X-Forwarded-For names the client (log-in throttling, logs); "
            "from anyone else it is ignored. Empty: none is believed"
        ),
        storable=False,
    ),
    _v(
        "POSTWARDEN_SMTP_LISTEN",
        K.STR,
        S.SERVICE,
        Text("host:port of the SMTP relay for apps"),
        default="127.0.0.1:2525",
        storable=False,
    ),
    _v(
        "POSTWARDEN_ADMIN_EMAIL",
        K.STR,
        S.SERVICE,
        Text("The first admin, created at first start"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_ADMIN_PASSWORD",
        K.SECRET,
        S.SERVICE,
        Text("The first admin's password (generated and printed once when unset)"),
        storable=False,
    ),
    _v(
        "POSTWARDEN_DNS_SERVER",
        K.STR,
        S.SERVICE,
        Text("host[:port] of the resolver the doctor asks"),
        default=Text("the system resolver"),
    ),
)

BY_NAME: dict[str, Variable] = {v.name: v for v in VARIABLES}
#: synonym -> canonical name
SYNONYMS: dict[str, str] = {syn: v.name for v in VARIABLES for syn in v.synonyms}


def canonical(name: str) -> str:
    return SYNONYMS.get(name, name)


def is_secret(name: str) -> bool:
    var = BY_NAME.get(canonical(name))
    return var is not None and var.secret
