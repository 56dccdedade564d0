"""The config stage: what is wrong with the settings themselves, before any network.

:func:`config_findings` is a pure function of the resolved settings. The doctor's config
unit and the Django system checks (``postwarden manage check``) both call it, so the two
can never disagree (docs/style.md §12).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.core.config.model import OAuth2Settings, Origin, Provider, Security, Settings
from postwarden.core.doctor.model import Code, Finding, Severity, Status
from postwarden.core.i18n import Text, join, said

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: provider -> settings it cannot send without (docs/spec/config.md "Providers")
REQUIRED: Final[Mapping[Provider, tuple[str, ...]]] = {
    Provider.SES: ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"),
    Provider.SENDGRID: ("SENDGRID_API_KEY",),
    Provider.MAILGUN: ("MAILGUN_API_KEY", "MAILGUN_DOMAIN"),
    Provider.POSTMARK: ("POSTMARK_SERVER_TOKEN",),
    Provider.RESEND: ("RESEND_API_KEY",),
    Provider.MANDRILL: ("MANDRILL_API_KEY",),
}

#: public mailbox domains -> suffixes of the SMTP hosts that may send as them. Anything
#: else sending "From: x@gmail.com" fails DMARC at the receiver: gmail.com, yahoo.com,
#: outlook.com and aol.com publish p=reject or p=quarantine.
FREEMAIL: Final[Mapping[str, tuple[str, ...]]] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), ("smtp.gmail.com", "smtp-relay.gmail.com")),
    **dict.fromkeys(
        ("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.de", "hotmail.co.uk"),
        ("smtp-mail.outlook.com", "smtp.office365.com", "outlook.office365.com"),
    ),
    **dict.fromkeys(
        ("yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com", "rocketmail.com"),
        ("smtp.mail.yahoo.com",),
    ),
    **dict.fromkeys(("aol.com",), ("smtp.aol.com",)),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), ("smtp.mail.me.com",)),
    **dict.fromkeys(("gmx.de", "gmx.net", "gmx.com"), ("mail.gmx.net", "mail.gmx.com")),
    **dict.fromkeys(("web.de",), ("smtp.web.de",)),
    **dict.fromkeys(("yandex.ru", "yandex.com"), ("smtp.yandex.ru", "smtp.yandex.com")),
    **dict.fromkeys(("mail.ru",), ("smtp.mail.ru",)),
    **dict.fromkeys(("zoho.com", "zohomail.com"), ("smtp.zoho.com", "smtp.zoho.eu", "smtppro.zoho.com")),
    **dict.fromkeys(("proton.me", "protonmail.com"), ("smtp.protonmail.ch", "127.0.0.1", "localhost")),
    **dict.fromkeys(("fastmail.com",), ("smtp.fastmail.com",)),
}


def config_findings(settings: Settings, *, recipient: str | None = None) -> list[Finding]:
    """Every config-stage finding for ``settings`` (``recipient``: the probe address)."""
    found = [
        _missing(settings),
        _invalid_addresses(settings, recipient),
        _disabled(settings),
        *_security(settings),
        _freemail(settings),
    ]
    return [f for f in found if f is not None]


def _missing(settings: Settings) -> Finding | None:
    provider = settings.sending.provider
    if provider is Provider.CAPTURE:
        how = (
            Text("set explicitly")
            if settings.source("EMAIL_PROVIDER").origin is not Origin.DEFAULT
            else Text("the default")
        )
        return Finding.of(
            Code.CONFIG_MISSING,
            Text("EMAIL_PROVIDER=capture ({how}): mail is only captured, nothing is sent", how=how),
            (
                Text(
                    "To send through an SMTP server, set SMTP_HOST (with SMTP_PORT, SMTP_SECURITY, "
                    "SMTP_USER and SMTP_PASSWORD as your server needs)."
                ),
                Text(
                    "To send through a provider's API, set EMAIL_PROVIDER (ses, sendgrid, mailgun, "
                    "postmark, resend or mandrill) and its key."
                ),
                Text("Captured mails are in the console under Captured mail."),
            ),
            title=Text("No mail is sent: Postwarden only captures it"),
        )
    absent = []
    if provider is Provider.SMTP and not settings.smtp.host:
        absent.append("SMTP_HOST")
    absent += [name for name in REQUIRED.get(provider, ()) if not _provider_value(settings, name)]
    if not settings.sending.from_address:
        absent.append("MAIL_FROM")
    oauth2 = _oauth2_problem(settings) if provider is Provider.SMTP and settings.smtp.host else None
    if not absent and oauth2 is None:
        return None
    unset = [Text("{name} is not set", name=name) for name in absent]
    evidence = join("; ", [*unset, *([oauth2] if oauth2 else [])])
    steps: list[str] = [
        Text(
            "Set {names} (in the environment, the .env file or the console's Email settings).",
            names=", ".join(absent),
        ),
        Text(
            "EMAIL_PROVIDER is {provider}; the settings it needs are listed in docs/spec/config.md.",
            provider=provider.value,
        ),
    ]
    if oauth2 is not None:
        steps[0 if not absent else 1 :] = [
            Text(
                "SMTP_AUTH=oauth2 needs, by OAUTH2_PROVIDER: microsoft — OAUTH2_TENANT_ID, "
                "OAUTH2_CLIENT_ID and OAUTH2_CLIENT_SECRET (or OAUTH2_CLIENT_CERT_FILE); google — "
                "OAUTH2_SERVICE_ACCOUNT_FILE (a key with domain-wide delegation); generic — "
                "OAUTH2_TOKEN_URL, OAUTH2_CLIENT_ID and OAUTH2_CLIENT_SECRET. SMTP_USER is the mailbox "
                "(docs/configuration.md, 'Signing in with OAuth2')."
            ),
        ]
    return Finding.of(Code.CONFIG_MISSING, evidence, tuple(steps))


def _oauth2_problem(settings: Settings) -> str | None:
    """Why SMTP_AUTH=oauth2 cannot get a token with these settings, or None."""
    if settings.smtp.oauth2 is None:
        return None
    from postwarden.core.smtp.model import Endpoint  # the token source is built only for oauth2

    try:
        Endpoint.from_settings(settings.smtp)
    except ValueError as exc:
        return join(": ", ["SMTP_AUTH=oauth2", said(exc)])
    return None


def _provider_value(settings: Settings, name: str) -> bool:
    return settings.provider.secret(name).is_set or bool(settings.provider.option(name))


def _invalid_addresses(settings: Settings, recipient: str | None) -> Finding | None:
    sending = settings.sending
    fields = [("MAIL_FROM", sending.from_address), ("MAIL_REPLY_TO", sending.reply_to)]
    if recipient and recipient != sending.from_address:
        fields.append((Text("the test recipient (--to or TEST_EMAIL)"), recipient))
    problems = []
    for name, value in fields:
        if not value:
            continue
        try:
            parse_address(value)
        except InvalidAddress as exc:
            problems.append(join(": ", [name, said(exc)]))
    if not problems:
        return None
    return Finding.of(
        Code.CONFIG_INVALID_ADDRESS,
        join("; ", problems),
        (
            Text(
                "Write the address as name@example.com; a display name goes into MAIL_FROM_NAME, not "
                "MAIL_FROM."
            ),
            Text(
                "Check for a missing domain, spaces, or a default left in place (Mattermost ships "
                "test@example.com)."
            ),
        ),
    )


def _disabled(settings: Settings) -> Finding | None:
    if settings.sending.enabled:
        return None
    source = settings.source("EMAIL_ENABLED").describe()
    return Finding.of(
        Code.CONFIG_DISABLED,
        Text("EMAIL_ENABLED=false ({source})", source=source),
        (
            Text("Set EMAIL_ENABLED=true (or switch sending on in the console's Email settings)."),
            Text("Messages queued while sending was off are held; release them in the console under Held."),
        ),
    )


def _security(settings: Settings) -> list[Finding]:
    if settings.sending.provider is not Provider.SMTP or not settings.smtp.host:
        return []
    smtp, found = settings.smtp, []
    if smtp.auth_enabled and smtp.security is Security.NONE:
        found.append(
            Finding.of(
                Code.CONFIG_AUTH_WITHOUT_TLS,
                Text("SMTP_SECURITY=none with {value} set", value=_credentials(settings)),
                (
                    Text(
                        "Set SMTP_SECURITY=starttls (usually port 587) or SMTP_SECURITY=ssl (usually port "
                        "465)."
                    ),
                    Text(
                        "If the server is a relay that needs no password, clear SMTP_USER and SMTP_PASSWORD."
                    ),
                ),
            )
        )
    mismatch = (smtp.port == 465 and smtp.security is not Security.SSL) or (
        smtp.port in (587, 25) and smtp.security is Security.SSL
    )
    if mismatch:
        usual = Text("implicit TLS (ssl)") if smtp.port == 465 else Text("plain SMTP upgraded with STARTTLS")
        found.append(
            Finding.of(
                Code.CONFIG_SECURITY_PORT_MISMATCH,
                Text(
                    "SMTP_PORT={port} with SMTP_SECURITY={value}", port=smtp.port, value=smtp.security.value
                ),
                (
                    Text("Port {port} usually speaks {usual}.", port=smtp.port, usual=usual),
                    Text(
                        "Use SMTP_SECURITY=ssl with port 465, or SMTP_SECURITY=starttls with port 587 (or "
                        "2525)."
                    ),
                ),
            )
        )
    if smtp.auth_enabled and smtp.security is Security.OPPORTUNISTIC:
        found.append(
            Finding.of(
                Code.CONFIG_OPPORTUNISTIC_WITH_AUTH,
                Text("SMTP_SECURITY=opportunistic with {value} set", value=_credentials(settings)),
                (
                    Text(
                        "Set SMTP_SECURITY=starttls: the connection is then encrypted before the password "
                        "is sent, or not used at all."
                    ),
                ),
            )
        )
    return found


def _credentials(settings: Settings) -> str:
    names = [
        n for n, v in (("SMTP_USER", settings.smtp.user), ("SMTP_PASSWORD", settings.smtp.password)) if v
    ]
    if len(names) == 2:
        return Text("{first} and {second}", first=names[0], second=names[1])
    return "".join(names)


def _freemail(settings: Settings) -> Finding | None:
    address = settings.sending.from_address or ""
    domain = address.rpartition("@")[2].strip(" >").lower()
    hosts = FREEMAIL.get(domain)
    if hosts is None:
        return None
    via = (settings.smtp.host or "").lower().rstrip(".")
    if settings.sending.provider is Provider.SMTP and via in hosts:
        return None
    through = (
        Text("SMTP server {host}", host=via)
        if settings.sending.provider is Provider.SMTP
        else settings.sending.provider.value
    )
    return Finding.of(
        Code.CONFIG_FREEMAIL_FROM,
        Text("MAIL_FROM is at {domain}, but mail is sent through {through}", domain=domain, through=through),
        (
            Text(
                "Receivers check {domain}'s DMARC policy, which only its own servers pass: use a From "
                "address at a domain you control and can publish SPF and DKIM for.",
                domain=domain,
            ),
            Text(
                "Or send through {domain}'s own server ({value}) with that mailbox's credentials.",
                domain=domain,
                value=hosts[0],
            ),
        ),
    )


async def run_config(ctx: Context, rec: Recorder) -> None:
    """The config unit: one check line per rule, findings as :func:`config_findings` says."""
    findings = config_findings(ctx.settings, recipient=ctx.recipient)
    by_code = {f.code: f for f in findings}
    rows = (
        ("config.required", (Code.CONFIG_MISSING,), _summary(ctx.settings)),
        (
            "config.addresses",
            (Code.CONFIG_INVALID_ADDRESS,),
            Text("From, Reply-To and test addresses are valid"),
        ),
        ("config.enabled", (Code.CONFIG_DISABLED,), Text("sending is switched on")),
        (
            "config.security",
            (
                Code.CONFIG_AUTH_WITHOUT_TLS,
                Code.CONFIG_SECURITY_PORT_MISMATCH,
                Code.CONFIG_OPPORTUNISTIC_WITH_AUTH,
            ),
            Text("security mode and port agree"),
        ),
        (
            "config.from_domain",
            (Code.CONFIG_FREEMAIL_FROM,),
            Text("the From domain can be sent from this server"),
        ),
    )
    for check_id, codes, ok_detail in rows:
        hits = [by_code[c] for c in codes if c in by_code]
        if not hits:
            rec.check(check_id, Status.PASS, ok_detail)
            continue
        worst = Status.FAIL if any(h.severity is Severity.ERROR for h in hits) else Status.WARN
        rec.check(check_id, worst, join("; ", [h.evidence for h in hits]))
    for finding in findings:
        rec.finding(finding)


def _summary(settings: Settings) -> Text:
    sender = settings.sending.from_address
    if settings.sending.provider is Provider.SMTP:
        smtp = settings.smtp
        return Text(
            "smtp via {host}:{port} ({security}), From {sender}",
            host=smtp.host,
            port=smtp.port,
            security=smtp.security.value,
            sender=sender,
        )
    return Text("{provider}, From {sender}", provider=settings.sending.provider.value, sender=sender)


def settings_block(ctx: Context) -> dict[str, Any]:
    """Where the doctor looked (docs/spec/doctor.md ``settings``); secrets only as set/empty."""
    s = ctx.settings
    block: dict[str, Any] = {"provider": s.sending.provider.value}
    if s.sending.provider is Provider.SMTP:
        block.update(
            host=s.smtp.host,
            port=s.smtp.port,
            security=s.smtp.security.value,
            user=s.smtp.user,
            password=s.smtp.password.state,
        )
        if not s.smtp.verify_certificate:
            block["verify_certificate"] = False
        if s.smtp.oauth2 is not None:
            block.update(auth=s.smtp.auth.value, oauth2=_oauth2_block(s.smtp.oauth2))
    else:
        block.update({name: secret.state for name, secret in s.provider.secrets.items()})
        block.update(s.provider.options)
        if s.provider.api_url:
            block["api_url"] = s.provider.api_url
    block.update(
        {
            "from": s.sending.from_address,
            "to": ctx.recipient,
            "dns_server": ctx.dns.server or "system",
            "timeout": ctx.timeout,
        }
    )
    sources = {name: src.describe() for name, src in s.sources.items() if src.origin is not Origin.DEFAULT}
    if sources:
        block["sources"] = dict(sorted(sources.items()))
    return block


def _oauth2_block(o: OAuth2Settings) -> dict[str, Any]:
    return {
        "provider": o.provider.value,
        "tenant_id": o.tenant_id,
        "client_id": o.client_id,
        "client_secret": o.client_secret.state,
        "client_cert": o.client_cert.state,
        "service_account": o.service_account.state,
        "refresh_token": o.refresh_token.state,
        "authority": o.authority,
        "token_url": o.token_url,
        "scope": o.scope,
    }
