"""The doctor's finding codes: the contract of docs/spec/doctor.md, as data.

Nearly a leaf: it imports nothing from Postwarden but the translations (core/i18n.py, the
bottom layer of the core's import-linter contract), so everything that names a finding (the
doctor, the reply knowledge base, the SMTP client's callers, the console) can import it
without importing the doctor.

A finding's code is ``stage.name``. The codes, their stage, default severity and
title live here once (the title a :class:`~postwarden.core.i18n.Text`: English here and
in JSON, the reader's language where :func:`~postwarden.core.i18n.localize` says it); the
doctor's checks, the reply knowledge base
(:mod:`postwarden.core.replies`), the console and the JSON report all read them
from this module. New codes are added in the stage they belong to, at the place in
the table where they rank (docs/spec/doctor.md, "Resolving overlaps": within a stage,
codes rank in table order; across stages, in stage order).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from postwarden.core.i18n import Text, gettext

#: The doctor's stages, in the order a message travels (and the report lists them).
STAGE_ORDER: Final[tuple[str, ...]] = (
    "config",
    "queue",
    "network",
    "tls",
    "auth",
    "envelope",
    "policy",
    "provider",
    "dns",
    "links",
    # past the first hop: what the canary mailboxes saw (postwarden.canaries)
    "canary",
)


class Severity(enum.StrEnum):
    """How bad a finding is. Only ``error`` makes ``postwarden doctor`` exit 1."""

    #: mail does not go until someone changes something
    ERROR = "error"
    #: mail may go later, or goes but is at risk
    WARNING = "warning"
    #: not a fault (a positive reply, a note)
    INFO = "info"

    def word(self) -> str:
        """The severity as the reader's language says it (its value is what machines read)."""
        words = {
            Severity.ERROR: gettext("error"),
            Severity.WARNING: gettext("warning"),
            Severity.INFO: gettext("info"),
        }
        return words[self]


class Code(enum.StrEnum):
    """Every finding code of docs/spec/doctor.md. Member order is the ranking order."""

    # -- config ---------------------------------------------------------------
    #: a required setting is absent (host, From address, provider key)
    CONFIG_MISSING = "config.missing"
    #: the From, Reply-To or test address is not a valid address
    CONFIG_INVALID_ADDRESS = "config.invalid_address"
    #: sending is switched off
    CONFIG_DISABLED = "config.disabled"
    #: a username/password is set with security ``none``: credentials would cross the network in clear
    CONFIG_AUTH_WITHOUT_TLS = "config.auth_without_tls"
    #: the port is the conventional one for another security mode (465 with starttls, 587 with ssl …)
    CONFIG_SECURITY_PORT_MISMATCH = "config.security_port_mismatch"
    #: credentials are set with ``opportunistic`` security: a server without STARTTLS would get them in clear
    CONFIG_OPPORTUNISTIC_WITH_AUTH = "config.opportunistic_with_auth"
    #: the From domain is a public mailbox provider but mail goes through another server: DMARC will fail
    CONFIG_FREEMAIL_FROM = "config.freemail_from"
    #: the worker runs with other settings than the web process (stale environment after a deploy)
    CONFIG_PROCESS_DRIFT = "config.process_drift"

    # -- queue ----------------------------------------------------------------
    #: messages are waiting and no worker has been seen recently
    QUEUE_WORKER_DOWN = "queue.worker_down"
    #: the oldest waiting message is older than the threshold
    QUEUE_BACKLOG = "queue.backlog"
    #: messages are being retried; the dominant error is quoted
    QUEUE_RETRYING = "queue.retrying"
    #: messages gave up after their last retry
    QUEUE_DEAD_LETTERS = "queue.dead_letters"
    #: the most recent real sends failed, with replies that name no cause the knowledge base knows
    QUEUE_RECENT_FAILURES = "queue.recent_failures"
    #: more of the recipients accepted in the window bounced or complained than the threshold
    QUEUE_BOUNCE_RATE = "queue.bounce_rate"

    # -- network --------------------------------------------------------------
    #: the SMTP host (or API host) has no address
    NETWORK_DNS_UNRESOLVABLE = "network.dns_unresolvable"
    #: nothing listens on that port
    NETWORK_CONNECTION_REFUSED = "network.connection_refused"
    #: the connection attempt timed out (often: outbound SMTP blocked by the hosting provider)
    NETWORK_TIMEOUT = "network.timeout"
    #: connected, but no ``220`` greeting came (often: implicit-TLS port used without ``ssl``)
    NETWORK_NO_GREETING = "network.no_greeting"
    #: the server greeted with ``421``/``554``, or closed the connection
    NETWORK_SERVICE_REFUSED = "network.service_refused"

    # -- tls ------------------------------------------------------------------
    #: the TLS handshake failed (often: ``ssl`` used on a plain port: "wrong version number")
    TLS_HANDSHAKE_FAILED = "tls.handshake_failed"
    #: the certificate is self-signed, expired or from an unknown authority
    TLS_CERTIFICATE_UNTRUSTED = "tls.certificate_untrusted"
    #: the certificate does not name the host connected to
    TLS_HOSTNAME_MISMATCH = "tls.hostname_mismatch"
    #: ``starttls`` is set, but the server does not offer STARTTLS
    TLS_STARTTLS_UNAVAILABLE = "tls.starttls_unavailable"

    # -- auth -----------------------------------------------------------------
    #: the server requires AUTH and no credentials are set (``530``)
    AUTH_REQUIRED = "auth.required"
    #: credentials are set but the server offers no AUTH, or no mechanism in common
    AUTH_UNAVAILABLE = "auth.unavailable"
    #: the server refuses AUTH on an unencrypted connection (``538``, or AUTH only after STARTTLS)
    AUTH_ENCRYPTION_REQUIRED = "auth.encryption_required"
    #: the server rejected the credentials (``535``, ``5.7.8``, ``5.7.3``; app password required)
    AUTH_FAILED = "auth.failed"
    #: SMTP_AUTH=oauth2: the identity platform's token endpoint cannot be reached
    AUTH_TOKEN_ENDPOINT_UNREACHABLE = "auth.token_endpoint_unreachable"  # noqa: S105 - a finding code
    #: the identity platform refused the app's secret or certificate (``AADSTS7000215``, ``invalid_client``)
    AUTH_TOKEN_INVALID_CLIENT = "auth.token_invalid_client"  # noqa: S105 - a finding code
    #: the app or the tenant is unknown to the identity platform (``AADSTS700016``, ``AADSTS90002``)
    AUTH_TOKEN_APP_NOT_FOUND = "auth.token_app_not_found"  # noqa: S105 - a finding code
    #: the grant is refused: an expired or revoked refresh token, or a clock too far off (``invalid_grant``)
    AUTH_TOKEN_INVALID_GRANT = "auth.token_invalid_grant"  # noqa: S105 - a finding code
    #: the client may not get this token: Google domain-wide delegation missing (``unauthorized_client``)
    AUTH_TOKEN_UNAUTHORIZED_CLIENT = "auth.token_unauthorized_client"  # noqa: S105 - a finding code
    #: a token was issued, but the SMTP server refused it (Exchange: no service principal or
    #: SMTP.SendAsApp, SMTP AUTH off for the mailbox; Gmail: scope missing)
    AUTH_TOKEN_REFUSED = "auth.token_refused"  # noqa: S105 - a finding code

    # -- envelope -------------------------------------------------------------
    #: MAIL FROM refused: the From address is not allowed for this account or not verified
    ENVELOPE_SENDER_REJECTED = "envelope.sender_rejected"
    #: the server will not relay for this client or to this recipient
    ENVELOPE_RELAY_DENIED = "envelope.relay_denied"
    #: the recipient does not exist (``550 5.1.1``) or cannot take mail
    ENVELOPE_RECIPIENT_REJECTED = "envelope.recipient_rejected"
    #: temporary refusal that clears on retry (``450``/``451 4.7.1``)
    ENVELOPE_GREYLISTED = "envelope.greylisted"
    #: too many messages or connections (``421 4.7.0``, ``450 4.2.1``, ``454 4.7.0``, provider quotas)
    ENVELOPE_RATE_LIMITED = "envelope.rate_limited"
    #: ``552 5.3.4`` or over the server's advertised SIZE
    ENVELOPE_MESSAGE_TOO_LARGE = "envelope.message_too_large"
    #: the message was refused as spam or by policy at DATA
    ENVELOPE_CONTENT_REJECTED = "envelope.content_rejected"

    # -- policy ---------------------------------------------------------------
    #: the recipient's domain is not in the approved domains
    POLICY_DOMAIN_NOT_APPROVED = "policy.domain_not_approved"
    #: the recipient is on the suppression list (earlier hard bounce or complaint)
    POLICY_SUPPRESSED = "policy.suppressed"

    # -- provider -------------------------------------------------------------
    #: the provider's API cannot be reached
    PROVIDER_UNREACHABLE = "provider.unreachable"
    #: the API key or token is rejected
    PROVIDER_INVALID_CREDENTIALS = "provider.invalid_credentials"
    #: the account is in sandbox/test mode and may only send to verified addresses
    PROVIDER_SANDBOX = "provider.sandbox"
    #: the sender address or domain is not verified with the provider
    PROVIDER_SENDER_UNVERIFIED = "provider.sender_unverified"
    #: the account is paused, suspended or out of credit
    PROVIDER_ACCOUNT_SUSPENDED = "provider.account_suspended"

    # -- dns ------------------------------------------------------------------
    #: the From domain has no SPF record
    DNS_SPF_MISSING = "dns.spf_missing"
    #: the SPF record is malformed, duplicated, or needs more than 10 lookups
    DNS_SPF_INVALID = "dns.spf_invalid"
    #: the SPF record does not cover the server or provider mail is sent through
    DNS_SPF_NOT_AUTHORIZING = "dns.spf_not_authorizing"
    #: no DKIM key is published at the selector in use (or no signing is configured anywhere)
    DNS_DKIM_MISSING = "dns.dkim_missing"
    #: the published DKIM key does not match the signing key
    DNS_DKIM_MISMATCH = "dns.dkim_mismatch"
    #: the From domain publishes no DMARC policy
    DNS_DMARC_MISSING = "dns.dmarc_missing"
    #: the DMARC record is malformed
    DNS_DMARC_INVALID = "dns.dmarc_invalid"
    #: neither SPF nor DKIM would align with the From domain under a quarantine/reject policy
    DNS_DMARC_MISALIGNED = "dns.dmarc_misaligned"
    #: the recipient's domain accepts no mail (no MX/A, or a null MX)
    DNS_RECIPIENT_NO_MX = "dns.recipient_no_mx"
    #: the bounce domain (BOUNCE_DOMAIN) has no SPF record authorizing the sending host
    DNS_BOUNCE_SPF_MISSING = "dns.bounce_spf_missing"
    #: the bounce domain does not share the From domain's organizational domain (DMARC relaxed alignment)
    DNS_BOUNCE_MISALIGNED = "dns.bounce_misaligned"
    #: bounces are read (listener or mailbox) but the bounce domain has no MX
    DNS_BOUNCE_MX_MISSING = "dns.bounce_mx_missing"

    # -- links ----------------------------------------------------------------
    #: a stored template does not render with its sample variables: no mail of that kind leaves
    LINKS_TEMPLATE_BROKEN = "links.template_broken"
    #: ``APP_URL`` is not set, so links in mails cannot be checked
    LINKS_APP_URL_MISSING = "links.app_url_missing"
    #: ``APP_URL`` or links in templates use ``http://``
    LINKS_INSECURE = "links.insecure"
    #: links point at another host than ``APP_URL`` (e.g. ``localhost``)
    LINKS_HOST_MISMATCH = "links.host_mismatch"

    # -- canary ---------------------------------------------------------------
    #: the latest canary did not arrive by its deadline (never accepted upstream, or accepted but missing)
    CANARY_MISSING = "canary.missing"
    #: the receiving server reported SPF, DKIM or DMARC failing on the canary
    CANARY_AUTH_FAILED = "canary.auth_failed"
    #: the canary landed in the junk folder
    CANARY_JUNK = "canary.junk"
    #: the canary arrived, later than its threshold
    CANARY_SLOW = "canary.slow"
    #: the canary mailbox cannot be read (IMAP login refused, server down, TLS): its own configuration
    CANARY_MAILBOX_UNREACHABLE = "canary.mailbox_unreachable"

    @property
    def stage(self) -> str:
        """The doctor stage: the part before the dot."""
        return self.value.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    stage: str
    severity: Severity
    title: Text


_E, _W = Severity.ERROR, Severity.WARNING

#: code -> (stage, default severity, title), in ranking order (docs/spec/doctor.md's table).
CATALOGUE: Final[Mapping[Code, CodeInfo]] = {
    code: CodeInfo(code.stage, severity, title)
    for code, severity, title in (
        (Code.CONFIG_MISSING, _E, Text("A required setting is missing")),
        (Code.CONFIG_INVALID_ADDRESS, _E, Text("An address setting is not a valid email address")),
        (Code.CONFIG_DISABLED, _E, Text("Sending email is switched off")),
        (Code.CONFIG_AUTH_WITHOUT_TLS, _E, Text("A password would be sent over an unencrypted connection")),
        (Code.CONFIG_SECURITY_PORT_MISMATCH, _W, Text("The port belongs to another security mode")),
        (
            Code.CONFIG_OPPORTUNISTIC_WITH_AUTH,
            _W,
            Text("Credentials may be sent in clear (opportunistic TLS)"),
        ),
        (Code.CONFIG_FREEMAIL_FROM, _W, Text("The From address is at a public mailbox provider")),
        (Code.CONFIG_PROCESS_DRIFT, _E, Text("The worker runs with other settings than the web process")),
        (Code.QUEUE_WORKER_DOWN, _E, Text("Messages are waiting and no worker is running")),
        (Code.QUEUE_BACKLOG, _W, Text("Messages are waiting longer than they should")),
        (Code.QUEUE_RETRYING, _W, Text("Messages are being retried")),
        (Code.QUEUE_DEAD_LETTERS, _E, Text("Messages gave up after their last retry")),
        (Code.QUEUE_RECENT_FAILURES, _E, Text("The most recent real messages were refused")),
        (Code.QUEUE_BOUNCE_RATE, _W, Text("Too many recipients bounced or complained")),
        (Code.NETWORK_DNS_UNRESOLVABLE, _E, Text("The server's host name does not resolve")),
        (Code.NETWORK_CONNECTION_REFUSED, _E, Text("Nothing accepts connections on that host and port")),
        (Code.NETWORK_TIMEOUT, _E, Text("The connection to the server timed out")),
        (Code.NETWORK_NO_GREETING, _E, Text("Connected, but the server sent no SMTP greeting")),
        (Code.NETWORK_SERVICE_REFUSED, _E, Text("The server refused the session or closed the connection")),
        (Code.TLS_HANDSHAKE_FAILED, _E, Text("The TLS handshake failed")),
        (Code.TLS_CERTIFICATE_UNTRUSTED, _E, Text("The server's certificate is not trusted")),
        (Code.TLS_HOSTNAME_MISMATCH, _E, Text("The server's certificate is for another host name")),
        (Code.TLS_STARTTLS_UNAVAILABLE, _E, Text("The server does not offer STARTTLS")),
        (Code.AUTH_REQUIRED, _E, Text("The server requires authentication")),
        (Code.AUTH_UNAVAILABLE, _E, Text("The server offers no authentication method this client can use")),
        (Code.AUTH_ENCRYPTION_REQUIRED, _E, Text("The server requires encryption before authentication")),
        (Code.AUTH_FAILED, _E, Text("The SMTP server rejected the username or password")),
        (
            Code.AUTH_TOKEN_ENDPOINT_UNREACHABLE,
            _E,
            Text("The identity platform's token endpoint cannot be reached"),
        ),
        (
            Code.AUTH_TOKEN_INVALID_CLIENT,
            _E,
            Text("The identity platform refused the app's secret or certificate"),
        ),
        (Code.AUTH_TOKEN_APP_NOT_FOUND, _E, Text("The identity platform does not know this app or tenant")),
        (
            Code.AUTH_TOKEN_INVALID_GRANT,
            _E,
            Text("The identity platform refused the grant (expired, revoked, clock)"),
        ),
        (
            Code.AUTH_TOKEN_UNAUTHORIZED_CLIENT,
            _E,
            Text("The app is not allowed to get a token for this mailbox"),
        ),
        (Code.AUTH_TOKEN_REFUSED, _E, Text("The SMTP server refused the OAuth2 token")),
        (Code.ENVELOPE_SENDER_REJECTED, _E, Text("The server refused the sender address")),
        (Code.ENVELOPE_RELAY_DENIED, _E, Text("The server will not relay mail for this client")),
        (Code.ENVELOPE_RECIPIENT_REJECTED, _E, Text("The server refused the recipient")),
        (Code.ENVELOPE_GREYLISTED, _W, Text("The server deferred the mail (greylisting)")),
        (Code.ENVELOPE_RATE_LIMITED, _W, Text("Too many messages or connections: the server is limiting")),
        (Code.ENVELOPE_MESSAGE_TOO_LARGE, _E, Text("The message is larger than the server accepts")),
        (Code.ENVELOPE_CONTENT_REJECTED, _E, Text("The server refused the message as spam or by policy")),
        (Code.POLICY_DOMAIN_NOT_APPROVED, _E, Text("The recipient's domain is not approved")),
        (Code.POLICY_SUPPRESSED, _E, Text("The recipient is on the suppression list")),
        (Code.PROVIDER_UNREACHABLE, _E, Text("The provider's API cannot be reached")),
        (Code.PROVIDER_INVALID_CREDENTIALS, _E, Text("The provider rejected the API key")),
        (Code.PROVIDER_SANDBOX, _E, Text("The provider account is in sandbox mode")),
        (Code.PROVIDER_SENDER_UNVERIFIED, _E, Text("The sender is not verified with the provider")),
        (
            Code.PROVIDER_ACCOUNT_SUSPENDED,
            _E,
            Text("The provider account is paused, suspended or out of credit"),
        ),
        (Code.DNS_SPF_MISSING, _E, Text("The From domain has no SPF record")),
        (Code.DNS_SPF_INVALID, _E, Text("The SPF record is invalid")),
        (Code.DNS_SPF_NOT_AUTHORIZING, _W, Text("SPF does not authorize the sending server")),
        (Code.DNS_DKIM_MISSING, _E, Text("No DKIM key is published for the selector in use")),
        (Code.DNS_DKIM_MISMATCH, _E, Text("The published DKIM key does not match the signing key")),
        (Code.DNS_DMARC_MISSING, _W, Text("The From domain publishes no DMARC policy")),
        (Code.DNS_DMARC_INVALID, _E, Text("The DMARC record is malformed")),
        (Code.DNS_DMARC_MISALIGNED, _E, Text("Neither SPF nor DKIM aligns with the From domain (DMARC)")),
        (Code.DNS_RECIPIENT_NO_MX, _E, Text("The recipient's domain accepts no mail")),
        (
            Code.DNS_BOUNCE_SPF_MISSING,
            _E,
            Text("SPF of the bounce domain does not authorize the sending server"),
        ),
        (
            Code.DNS_BOUNCE_MISALIGNED,
            _W,
            Text("The bounce domain does not align with the From domain (DMARC)"),
        ),
        (Code.DNS_BOUNCE_MX_MISSING, _E, Text("The bounce domain has no MX: bounces cannot come back")),
        (Code.LINKS_TEMPLATE_BROKEN, _E, Text("A stored template does not render with its sample variables")),
        (Code.LINKS_APP_URL_MISSING, _W, Text("APP_URL is not set")),
        (Code.LINKS_INSECURE, _W, Text("Links use http:// instead of https://")),
        (Code.LINKS_HOST_MISMATCH, _E, Text("Links point at another host than APP_URL")),
        (Code.CANARY_MISSING, _E, Text("A canary mail did not arrive")),
        (Code.CANARY_AUTH_FAILED, _E, Text("The receiving server saw SPF, DKIM or DMARC fail on a canary")),
        (Code.CANARY_JUNK, _W, Text("A canary mail landed in the junk folder")),
        (Code.CANARY_SLOW, _W, Text("A canary mail arrived late")),
        (Code.CANARY_MAILBOX_UNREACHABLE, _W, Text("A canary mailbox cannot be read")),
    )
}


def stage_of(code: Code | str) -> str:
    """The doctor stage of ``code``. Raises ``ValueError`` for a code not in :class:`Code`."""
    return Code(code).stage


def rank(code: Code | str) -> tuple[int, int]:
    """Sort key: stage order first, then table order within the stage.

    Raises ``ValueError`` for a code not in :class:`Code`.
    """
    known = Code(code)
    return STAGE_ORDER.index(known.stage), list(CATALOGUE).index(known)
