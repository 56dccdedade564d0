"""Build each settings record from a :class:`~postwarden.core.config.resolve.Reader`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from postwarden.core.config import parse as p
from postwarden.core.config.datadir import default_data_dir
from postwarden.core.config.model import (
    DEFAULT_PORTS,
    MICROSOFT_AUTHORITY,
    AlertSettings,
    BounceSettings,
    DeliverySettings,
    OAuth2Provider,
    OAuth2Settings,
    Origin,
    Provider,
    ProviderSettings,
    RecipientMode,
    RelaySettings,
    Security,
    SendingSettings,
    ServiceSettings,
    Settings,
    SigningSettings,
    SmtpAuth,
    SmtpSettings,
    Source,
    WebhookSettings,
)
from postwarden.core.config.variables import BY_NAME
from postwarden.core.i18n import CALENDARS, LANGUAGES, Text
from postwarden.core.secrets import Secret

if TYPE_CHECKING:
    from postwarden.core.config.resolve import Reader

#: provider -> (secret variables, option variables, API URL variable)
PROVIDER_FIELDS: Final[dict[Provider, tuple[tuple[str, ...], tuple[str, ...], str]]] = {
    Provider.SES: (("AWS_SECRET_ACCESS_KEY",), ("AWS_ACCESS_KEY_ID", "AWS_REGION"), "AWS_ENDPOINT_URL"),
    Provider.SENDGRID: (("SENDGRID_API_KEY",), (), "SENDGRID_API_URL"),
    Provider.MAILGUN: (("MAILGUN_API_KEY",), ("MAILGUN_DOMAIN",), "MAILGUN_API_URL"),
    Provider.POSTMARK: (("POSTMARK_SERVER_TOKEN",), ("POSTMARK_MESSAGE_STREAM",), "POSTMARK_API_URL"),
    Provider.RESEND: (("RESEND_API_KEY",), (), "RESEND_API_URL"),
    Provider.MANDRILL: (("MANDRILL_API_KEY",), (), "MANDRILL_API_URL"),
}
#: the From address of captured mail when MAIL_FROM is not set
CAPTURE_FROM: Final = "postwarden@localhost"
SECRET_KEY_FILE: Final = "secret_key"  # noqa: S105 - a file name, not a secret
_AMBIGUOUS: Final = object()


def build(r: Reader) -> Settings:
    provider = _provider_name(r)
    sending = _sending(r, provider)
    return Settings(
        sending=sending,
        smtp=_smtp(r),
        provider=_provider(r, provider),
        # the placeholder sender of captured mail is no domain to sign for
        signing=_signing(
            r, None if r.sources["MAIL_FROM"].origin is Origin.DEFAULT else sending.from_address
        ),
        service=_service(r),
        delivery=_delivery(r),
        relay=_relay(r),
        bounces=_bounces(r),
        webhooks=_webhooks(r),
        alerts=_alerts(r),
        sources=dict(r.sources),
        values=dict(r.display),
        notes=tuple(r.notes),
    )


def _provider_name(r: Reader) -> Provider:
    explicit = r.get("EMAIL_PROVIDER", p.parse_provider, None)
    if explicit is not None:
        return explicit
    if r.raw("SMTP_HOST"):
        return Provider.SMTP
    with_keys = [name for name, (secrets, _, _) in PROVIDER_FIELDS.items() if r.raw(secrets[0])]
    if len(with_keys) == 1:
        r.note(
            Text(
                "EMAIL_PROVIDER is not set; using {provider} because its key is set",
                provider=str(with_keys[0]),
            )
        )
        return with_keys[0]
    if len(with_keys) > 1:
        names = ", ".join(sorted(str(n) for n in with_keys))
        r.problem(
            "EMAIL_PROVIDER",
            Text(
                "keys for several providers are set ({names}): set EMAIL_PROVIDER to the one to send with",
                names=names,
            ),
        )
    return Provider.CAPTURE


def _sending(r: Reader, provider: Provider) -> SendingSettings:
    from_address = r.text("MAIL_FROM")
    if from_address is None and provider is Provider.CAPTURE:
        # Captured mail goes nowhere, so a placeholder sender lets a newcomer watch the whole
        # path work before configuring anything; any real transport still requires MAIL_FROM.
        from_address = CAPTURE_FROM
        r.sources["MAIL_FROM"] = Source(Origin.DEFAULT, "capture only")
        r.display["MAIL_FROM"] = CAPTURE_FROM
    mode = r.get(
        "MAIL_RECIPIENT_MODE", lambda v: RecipientMode(p.parse_choice(v, ("bcc", "cc"))), RecipientMode.BCC
    )
    return SendingSettings(
        provider=provider,
        enabled=r.get("EMAIL_ENABLED", p.parse_bool, True),
        from_address=from_address,
        from_name=r.text("MAIL_FROM_NAME"),
        reply_to=r.text("MAIL_REPLY_TO"),
        recipient_mode=mode,
        allowed_domains=r.get("MAIL_ALLOWED_DOMAINS", _domains, ()),
        app_url=r.text("APP_URL"),
        link_hosts=r.get("LINKS_ALLOWED_HOSTS", _hosts, ()),
        refuse_bad_links=r.get("LINKS_REFUSE", p.parse_bool, False),
        test_email=r.text("TEST_EMAIL") or from_address,
    )


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip().lower() for item in p.parse_list(raw) if item.strip()))


def _domains(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.parse_domain(item) for item in p.parse_list(raw)))


def _security(raw: str) -> Security | object:
    mode = p.parse_security(raw)
    return _AMBIGUOUS if mode is None else mode


def _smtp(r: Reader) -> SmtpSettings:
    port = r.get("SMTP_PORT", _bounded_int("SMTP_PORT"), None)
    chosen = r.get("SMTP_SECURITY", _security, None)
    security = _settle_security(r, chosen, port)
    require = r.get("SMTP_REQUIRE_ENCRYPTION", p.parse_bool, False)
    if require and security is Security.NONE:
        r.problem(
            "SMTP_SECURITY",
            Text(
                "SMTP_REQUIRE_ENCRYPTION=true refuses SMTP_SECURITY=none: set "
                "SMTP_SECURITY=starttls (port 587) or SMTP_SECURITY=ssl (port 465)"
            ),
        )
    if port is None:
        port = DEFAULT_PORTS[security]
    host = r.text("SMTP_HOST")
    auth = r.get("SMTP_AUTH", lambda v: SmtpAuth(p.parse_choice(v, tuple(SmtpAuth))), SmtpAuth.PASSWORD)
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        user=r.text("SMTP_USER"),
        password=r.secret("SMTP_PASSWORD"),
        timeout=r.get("SMTP_TIMEOUT", _bounded_float("SMTP_TIMEOUT"), 20.0),
        require_encryption=require,
        ehlo_name=r.text("SMTP_EHLO_NAME"),
        verify_certificate=r.get("SMTP_TLS_VERIFY", p.parse_bool, True),
        auth=auth,
        oauth2=_oauth2(r, host) if auth is SmtpAuth.OAUTH2 else None,
    )


#: SMTP host suffix -> the identity platform that signs its users in
_OAUTH2_HOSTS: Final = (
    ((".office365.com", ".outlook.com", ".office.com"), OAuth2Provider.MICROSOFT),
    ((".gmail.com", ".googlemail.com", ".google.com"), OAuth2Provider.GOOGLE),
)


def _oauth2(r: Reader, host: str | None) -> OAuth2Settings:
    provider = r.get(
        "OAUTH2_PROVIDER", lambda v: OAuth2Provider(p.parse_choice(v, tuple(OAuth2Provider))), None
    )
    if provider is None:
        provider = _oauth2_provider_by_host(r, host)
    return OAuth2Settings(
        provider=provider,
        tenant_id=r.text("OAUTH2_TENANT_ID"),
        client_id=r.text("OAUTH2_CLIENT_ID"),
        client_secret=r.secret("OAUTH2_CLIENT_SECRET"),
        client_cert=r.secret("OAUTH2_CLIENT_CERT"),
        service_account=r.secret("OAUTH2_SERVICE_ACCOUNT"),
        refresh_token=r.secret("OAUTH2_REFRESH_TOKEN"),
        token_url=r.get("OAUTH2_TOKEN_URL", _http_url, None),
        authorization_url=r.get("OAUTH2_AUTHORIZATION_URL", _http_url, None),
        scope=r.text("OAUTH2_SCOPE"),
        authority=r.get("OAUTH2_AUTHORITY", _https_url, MICROSOFT_AUTHORITY),
    )


def _oauth2_provider_by_host(r: Reader, host: str | None) -> OAuth2Provider:
    name = "." + (host or "").lower().rstrip(".")
    for suffixes, provider in _OAUTH2_HOSTS:
        if name.endswith(suffixes):
            r.note(
                Text(
                    "OAUTH2_PROVIDER is not set; using {provider} for SMTP_HOST={host}",
                    provider=provider.value,
                    host=host,
                )
            )
            return provider
    return OAuth2Provider.GENERIC


def _http_url(raw: str) -> str:
    url = raw.strip()
    scheme, sep, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not sep or not rest.split("/", 1)[0]:
        raise ValueError(Text("must be an http:// or https:// URL"))
    return url


def _https_url(raw: str) -> str:
    url = _http_url(raw)
    if not url.lower().startswith("https://"):
        raise ValueError(Text("must be an https:// URL (the identity platform is only spoken to over TLS)"))
    return url.rstrip("/")


def _settle_security(r: Reader, chosen: Security | object | None, port: int | None) -> Security:
    """ "TLS" means three things in the products our users come from; decide by the port
    and say so (docs/spec/config.md)."""
    if isinstance(chosen, Security):
        return chosen
    if chosen is _AMBIGUOUS:
        mode = Security.SSL if port == 465 else Security.STARTTLS
        where = Text("on port {port}", port=port) if port else Text("with no port set")
        how = Text("implicit TLS") if mode is Security.SSL else Text("STARTTLS, required")
        r.note(
            Text(
                "SMTP_SECURITY=tls {where} was read as {mode} ({how})", where=where, mode=mode.value, how=how
            )
        )
        return mode
    if port == 465:
        r.note(Text("SMTP_SECURITY is not set; port 465 speaks implicit TLS, so ssl is used"))
        return Security.SSL
    return Security.STARTTLS


def _bounded_int(name: str) -> Callable[[str], int]:
    var = BY_NAME[name]
    return lambda raw: p.parse_int(raw, var.minimum, var.maximum)


def _bounded_float(name: str) -> Callable[[str], float]:
    var = BY_NAME[name]
    return lambda raw: p.parse_float(raw, var.minimum, var.maximum)


def _provider(r: Reader, active: Provider) -> ProviderSettings:
    record = ProviderSettings(name=active)
    for name, (secret_names, option_names, url_name) in PROVIDER_FIELDS.items():
        secrets = {n: r.secret(n) for n in secret_names}
        options = {n: v for n in option_names if (v := r.text(n)) is not None}
        api_url = r.text(url_name)
        if name is active:
            record = ProviderSettings(name=name, secrets=secrets, options=options, api_url=api_url)
    return record


def _signing(r: Reader, from_address: str | None) -> SigningSettings:
    domain = r.get("DKIM_DOMAIN", p.parse_domain, None)
    if domain is None and from_address and "@" in from_address:
        domain = from_address.rsplit("@", 1)[1].strip(" >").lower() or None
    return SigningSettings(
        domain=domain, selector=r.text("DKIM_SELECTOR"), private_key=r.secret("DKIM_PRIVATE_KEY")
    )


def _service(r: Reader) -> ServiceSettings:
    data_dir = _data_dir(r)
    default_db = f"sqlite:///{data_dir / 'postwarden.sqlite3'}"
    listen = r.get("POSTWARDEN_SMTP_LISTEN", lambda v: p.parse_host_port(v), ("127.0.0.1", 2525))
    dns = r.get("POSTWARDEN_DNS_SERVER", lambda v: _host_port_text(v, 53), None)
    return ServiceSettings(
        database_url=r.text("DATABASE_URL") or default_db,
        data_dir=data_dir,
        secret_key=_secret_key(r, data_dir),
        host=r.text("POSTWARDEN_HOST") or "127.0.0.1",
        port=r.get("POSTWARDEN_PORT", _bounded_int("POSTWARDEN_PORT"), 8025),
        smtp_listen_host=listen[0],
        smtp_listen_port=listen[1],
        admin_email=r.text("POSTWARDEN_ADMIN_EMAIL"),
        admin_password=r.secret("POSTWARDEN_ADMIN_PASSWORD"),
        dns_server=dns,
        allowed_hosts=r.get("POSTWARDEN_ALLOWED_HOSTS", p.parse_list, ()),
        https=r.get("POSTWARDEN_HTTPS", p.parse_bool, False),
        trusted_proxies=r.get("POSTWARDEN_TRUSTED_PROXIES", _networks, ()),
        language=r.get("POSTWARDEN_LANGUAGE", lambda v: p.parse_choice(v, LANGUAGES), "en"),
        calendar=r.get("POSTWARDEN_CALENDAR", lambda v: p.parse_choice(v, CALENDARS), "gregorian"),
    )


def _data_dir(r: Reader) -> Path:
    configured = r.text("POSTWARDEN_DATA_DIR")
    if configured:
        return Path(configured).expanduser().absolute()
    path, why = default_data_dir(r.environment())
    r.sources["POSTWARDEN_DATA_DIR"] = Source(Origin.DEFAULT, why)
    r.display["POSTWARDEN_DATA_DIR"] = str(path)
    return path.absolute()


def _host_port_text(raw: str, default_port: int) -> str:
    host, port = p.parse_host_port(raw, default_port)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _secret_key(r: Reader, data_dir: Path) -> Secret:
    key = r.secret("POSTWARDEN_SECRET_KEY")
    if key:
        return key
    path = data_dir / SECRET_KEY_FILE
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError:
        return key  # the caller generates one (ensure_secret_key) before anything needs it
    r.sources["POSTWARDEN_SECRET_KEY"] = Source(Origin.DEFAULT, f"generated into {path}")
    return Secret(stored)


def _delivery(r: Reader) -> DeliverySettings:
    d = DeliverySettings()
    return DeliverySettings(
        max_message_bytes=r.get(
            "POSTWARDEN_MAX_MESSAGE_BYTES", _bounded_int("POSTWARDEN_MAX_MESSAGE_BYTES"), d.max_message_bytes
        ),
        max_attachment_bytes=r.get(
            "POSTWARDEN_MAX_ATTACHMENT_BYTES",
            _bounded_int("POSTWARDEN_MAX_ATTACHMENT_BYTES"),
            d.max_attachment_bytes,
        ),
        max_attempts=r.get(
            "POSTWARDEN_MAX_ATTEMPTS", _bounded_int("POSTWARDEN_MAX_ATTEMPTS"), d.max_attempts
        ),
        max_age_seconds=r.get("POSTWARDEN_MAX_AGE", _bounded_float("POSTWARDEN_MAX_AGE"), d.max_age_seconds),
        rate_per_second=r.get(
            "POSTWARDEN_SEND_RATE", _bounded_float("POSTWARDEN_SEND_RATE"), d.rate_per_second
        ),
        smtp_connections=r.get(
            "POSTWARDEN_SMTP_CONNECTIONS", _bounded_int("POSTWARDEN_SMTP_CONNECTIONS"), d.smtp_connections
        ),
        worker_timeout=r.get(
            "POSTWARDEN_WORKER_TIMEOUT", _bounded_float("POSTWARDEN_WORKER_TIMEOUT"), d.worker_timeout
        ),
        max_recipients_per_message=r.get(
            "MAIL_MAX_RECIPIENTS_PER_MESSAGE",
            _bounded_int("MAIL_MAX_RECIPIENTS_PER_MESSAGE"),
            d.max_recipients_per_message,
        ),
        retention_body_days=r.get(
            "POSTWARDEN_RETENTION_BODY_DAYS",
            _bounded_int("POSTWARDEN_RETENTION_BODY_DAYS"),
            d.retention_body_days,
        ),
        retention_days=r.get(
            "POSTWARDEN_RETENTION_DAYS", _bounded_int("POSTWARDEN_RETENTION_DAYS"), d.retention_days
        ),
    )


def _relay(r: Reader) -> RelaySettings:
    smtps = r.get("POSTWARDEN_SMTPS_LISTEN", lambda v: _host_port_text(v, 465), None)
    cert, key = r.text("POSTWARDEN_RELAY_CERT_FILE"), r.text("POSTWARDEN_RELAY_KEY_FILE")
    if bool(cert) != bool(key):
        r.problem(
            "POSTWARDEN_RELAY_CERT_FILE",
            Text(
                "set both POSTWARDEN_RELAY_CERT_FILE and "
                "POSTWARDEN_RELAY_KEY_FILE, or neither (a self-signed pair is generated)"
            ),
        )
    networks: tuple[str, ...] = r.get("POSTWARDEN_RELAY_TRUSTED_NETWORKS", _networks, ())
    d = RelaySettings()
    return RelaySettings(
        smtps_listen=smtps,
        cert_file=Path(cert) if cert else None,
        key_file=Path(key) if key else None,
        trusted_networks=networks,
        auth_require_tls=r.get("POSTWARDEN_RELAY_AUTH_REQUIRE_TLS", p.parse_bool, False),
        max_connections_per_client=r.get(
            "POSTWARDEN_RELAY_MAX_CONNECTIONS_PER_CLIENT",
            _bounded_int("POSTWARDEN_RELAY_MAX_CONNECTIONS_PER_CLIENT"),
            d.max_connections_per_client,
        ),
        preauth_timeout=r.get(
            "POSTWARDEN_RELAY_PREAUTH_TIMEOUT",
            _bounded_int("POSTWARDEN_RELAY_PREAUTH_TIMEOUT"),
            d.preauth_timeout,
        ),
    )


#: the IMAP port a bounce mailbox's security implies
IMAP_PORTS: Final = {"ssl": 993, "starttls": 143, "none": 143}


def _bounces(r: Reader) -> BounceSettings:
    d = BounceSettings()
    security = r.get("BOUNCE_IMAP_SECURITY", lambda v: p.parse_choice(v, tuple(IMAP_PORTS)), d.imap_security)
    return BounceSettings(
        domain=r.get("BOUNCE_DOMAIN", p.parse_domain, None),
        listen=r.get("POSTWARDEN_BOUNCE_LISTEN", lambda v: p.parse_host_port(v, 25), None),
        imap_host=r.text("BOUNCE_IMAP_HOST"),
        imap_port=r.get("BOUNCE_IMAP_PORT", _bounded_int("BOUNCE_IMAP_PORT"), IMAP_PORTS[security]),
        imap_security=security,
        imap_user=r.text("BOUNCE_IMAP_USER"),
        imap_password=r.secret("BOUNCE_IMAP_PASSWORD"),
        imap_folder=r.text("BOUNCE_IMAP_FOLDER") or d.imap_folder,
        imap_processed=r.get(
            "BOUNCE_IMAP_PROCESSED", lambda v: p.parse_choice(v, ("delete", "flag")), d.imap_processed
        ),
        imap_interval=r.get("BOUNCE_IMAP_INTERVAL", _bounded_int("BOUNCE_IMAP_INTERVAL"), d.imap_interval),
    )


def _networks(raw: str) -> tuple[str, ...]:
    return tuple(p.parse_network(n) for n in p.parse_list(raw))


def _basic_auth(raw: str) -> tuple[Secret, ...]:
    pairs = p.parse_list(raw)
    if any(":" not in pair for pair in pairs):
        raise ValueError(Text("must be user:password (several separated by commas)"))
    return tuple(Secret(pair) for pair in pairs)


def _webhooks(r: Reader) -> WebhookSettings:
    d = WebhookSettings()
    return WebhookSettings(
        basic_auth=r.get("POSTWARDEN_WEBHOOK_SECRET", _basic_auth, ()),
        mailgun_signing_key=r.secret("MAILGUN_WEBHOOK_SIGNING_KEY"),
        sendgrid_verification_key=r.get("SENDGRID_WEBHOOK_VERIFICATION_KEY", p.parse_ec_public_key, Secret()),
        resend_signing_secret=r.secret("RESEND_WEBHOOK_SECRET"),
        mandrill_webhook_key=r.secret("MANDRILL_WEBHOOK_KEY"),
        public_url=r.text("POSTWARDEN_PUBLIC_URL"),
        tolerance=r.get(
            "POSTWARDEN_WEBHOOK_TOLERANCE", _bounded_int("POSTWARDEN_WEBHOOK_TOLERANCE"), d.tolerance
        ),
        ses_topic_arns=r.get("SES_WEBHOOK_TOPIC_ARN", _topic_arns, ()),
    )


def _topic_arns(raw: str) -> tuple[str, ...]:
    arns = p.parse_list(raw)
    for arn in arns:
        if not arn.startswith("arn:") or arn.count(":") != 5:
            raise ValueError(
                Text("{arn} is not a topic ARN (arn:aws:sns:<region>:<account>:<topic>)", arn=repr(arn))
            )
    return arns


def alert_urls(raw: str) -> tuple[Secret, ...]:
    """Space-separated apprise URLs (a comma may be part of one). The services apprise
    knows are checked where it is used (postwarden.alerts); here: that each is a URL."""
    urls = tuple(dict.fromkeys(raw.split()))
    for url in urls:
        scheme, sep, rest = url.partition("://")
        if not sep or not scheme or not rest or not scheme.replace("+", "").isalnum():
            # only the scheme is named: the rest of an alert URL is its token
            shown = f"{scheme}://…" if sep and scheme else Text("a value")
            raise ValueError(
                Text("{shown} is not an apprise URL (scheme://…, e.g. mmost://host/token)", shown=shown)
            )
    return tuple(Secret(url) for url in urls)


def _alerts(r: Reader) -> AlertSettings:
    d = AlertSettings()
    return AlertSettings(
        urls=r.get("POSTWARDEN_ALERT_URLS", alert_urls, ()),
        max_per_hour=r.get(
            "POSTWARDEN_ALERT_MAX_PER_HOUR", _bounded_int("POSTWARDEN_ALERT_MAX_PER_HOUR"), d.max_per_hour
        ),
        retry_seconds=r.get(
            "POSTWARDEN_ALERT_RETRY_SECONDS", _bounded_int("POSTWARDEN_ALERT_RETRY_SECONDS"), d.retry_seconds
        ),
        doctor_interval_minutes=r.get(
            "POSTWARDEN_DOCTOR_INTERVAL",
            _bounded_int("POSTWARDEN_DOCTOR_INTERVAL"),
            d.doctor_interval_minutes,
        ),
        bounce_rate_percent=r.get(
            "POSTWARDEN_BOUNCE_RATE_THRESHOLD",
            _bounded_float("POSTWARDEN_BOUNCE_RATE_THRESHOLD"),
            d.bounce_rate_percent,
        ),
        bounce_window_hours=r.get(
            "POSTWARDEN_BOUNCE_RATE_WINDOW",
            _bounded_int("POSTWARDEN_BOUNCE_RATE_WINDOW"),
            d.bounce_window_hours,
        ),
    )
