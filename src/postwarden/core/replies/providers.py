"""Provider knowledge: how Gmail, Microsoft 365, Amazon SES, SendGrid, Mailgun, Postmark,
Zoho and Yahoo word their refusals, and what to do about each.

These rows head the reply table of :mod:`postwarden.core.replies.rules` (ties go to
them), one block per provider as anymail keeps one module per ESP. :data:`HOSTS`
brings a provider's advice by host name when the winning rule has none, and
:data:`PROVIDER_HOSTS` names the provider behind a host.
"""

from __future__ import annotations

from typing import Final

from postwarden.core.codes import Code as C
from postwarden.core.i18n import Text
from postwarden.core.replies.rule import NOT_AT_RCPT, Rule, rule

GOOGLE = "Gmail / Google Workspace"
MICROSOFT = "Microsoft 365 / Exchange"
SES = "Amazon SES"
YAHOO = "Yahoo Mail"

_GMAIL_APP_PASSWORDS_ADVICE = Text(
    "Google does not accept the account password for SMTP. Turn on 2-Step Verification for the "
    "account, create an App Password (myaccount.google.com/apppasswords) and use it as "
    "SMTP_PASSWORD; in Google Workspace the admin may have to allow it. For an application, "
    "Workspace's SMTP relay (smtp-relay.gmail.com) or an email provider is the lasting fix."
)
_MS_SMTP_AUTH = Text(
    "Microsoft 365 allows SMTP AUTH only where an admin enabled it: per mailbox with "
    "`Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false` (admin center › "
    "Users › Mail › Manage email apps › Authenticated SMTP), and not under Entra security defaults "
    "or a Conditional Access policy that blocks basic authentication. Microsoft is retiring basic "
    "SMTP AUTH, so an email provider (SES, Postmark, …) is the lasting fix."
)
#: the way out when Exchange Online no longer takes passwords (issue #12)
MS_SWITCH_TO_OAUTH2 = Text(
    "Switch Postwarden to OAuth2, which Exchange Online keeps accepting: register an app in "
    "Microsoft Entra ID with the application permission SMTP.SendAsApp (admin consent), register "
    "its service principal in Exchange Online and give it access to the mailbox, then set "
    "SMTP_AUTH=oauth2 OAUTH2_PROVIDER=microsoft OAUTH2_TENANT_ID=<Directory (tenant) ID> "
    "OAUTH2_CLIENT_ID=<Application (client) ID> OAUTH2_CLIENT_SECRET=<the secret's value> "
    "(or OAUTH2_CLIENT_CERT_FILE), keep SMTP_HOST=smtp.office365.com, SMTP_PORT=587, "
    "SMTP_SECURITY=starttls and SMTP_USER=<the mailbox>, and remove SMTP_PASSWORD "
    "(console: Email settings › preset Microsoft 365 (OAuth2); docs/configuration.md)."
)
_SES_SMTP_CREDENTIALS = Text(
    "SES SMTP credentials are not your AWS access keys: create SMTP credentials in the SES console "
    "(or derive the SMTP password from an IAM secret key for the region), and connect to the SMTP "
    "endpoint of the same region ({region}) — a password made for one region fails in another."
)
_SENDGRID_AUTH = Text(
    "SendGrid's SMTP user name is literally `apikey` and the password is an API key with Mail Send "
    "permission (smtp.sendgrid.net, port 587)."
)
_YAHOO_FROM = Text(
    "Yahoo's SMTP server sends only as the signed-in account: set MAIL_FROM to the address in SMTP_USER."
)


#: provider wordings: they name the provider and its fix
PROVIDERS: Final[tuple[Rule, ...]] = (
    rule(
        "ses.identity_machine_made",
        C.PROVIDER_SENDER_UNVERIFIED,
        provider=SES,
        text=r"not verified.{0,80}identities failed the check in region (?P<region>[\w-]+)\W+(?:.*?,\s*)?"
        r"(?P<identity>[^\s,@]+@(?:[^\s,]*\.(?:internal|local|localdomain)|localhost|[\w-]+)\b)(?![.\w])",
        title=Text("SES was asked to send from a machine-made address ({identity})"),
        advice=Text(
            "SES refused to send as {identity}: an address made from the machine's name "
            "(user@hostname), so the application did not use the From setting. Set MAIL_FROM to "
            "an address on a domain verified in SES region {region}, and the display name in "
            "MAIL_FROM_NAME, not inside the address."
        ),
    ),
    rule(
        "ses.not_verified",
        C.PROVIDER_SANDBOX,
        provider=SES,
        text=r"Email address (?:is )?not verified(?:.{0,80}?\bin region (?P<region>[\w-]+))?"
        r"(?:\W+(?P<identities>[^\n]+))?",
        title=Text("Amazon SES refused an unverified address in region {region}"),
        advice=Text(
            "SES in region {region} refused because these identities are not verified: "
            "{identities}. A new SES account is in the sandbox, where every recipient must be "
            "verified as well: verify the addresses in the SES console of {region}, or request "
            "production access for {region}. If the address listed is your From address, verify "
            "it or its domain in {region}."
        ),
    ),
    rule(
        "ses.iam_not_authorized",
        C.ENVELOPE_SENDER_REJECTED,
        provider=SES,
        text=r"not authorized to perform\W+ses:Send(?:Raw)?Email"
        r"(?:.*?resource\W+(?P<resource>arn:aws:ses:(?P<region>[\w-]+):[^'\"\s]+))?",
        title=Text("The SES SMTP user may not send as this identity"),
        advice=Text(
            "The IAM user behind these SES SMTP credentials lacks ses:SendRawEmail on "
            "{resource}: extend its IAM policy to the identity you send from (an address or "
            "domain verified in {region}). A From address SES cannot parse, e.g. special "
            "characters in the display name, reads as another identity: check MAIL_FROM."
        ),
    ),
    rule(
        "ses.daily_quota",
        C.ENVELOPE_RATE_LIMITED,
        provider=SES,
        text=r"Daily message quota exceeded",
        advice=Text(
            "SES allows a fixed number of messages per 24 hours per account and region; see "
            "the SES console's sending statistics, and request a quota increase."
        ),
    ),
    rule(
        "ses.max_rate",
        C.ENVELOPE_RATE_LIMITED,
        provider=SES,
        text=r"Maximum sending rate exceeded",
        advice=Text(
            "SES limits messages per second per account and region; Postwarden retries "
            "throttled messages later. Lower the worker concurrency or request a higher rate."
        ),
    ),
    rule(
        "ses.bad_smtp_credentials",
        C.AUTH_FAILED,
        provider=SES,
        # SES capitalises every word; aiosmtpd and GMX say "Authentication credentials invalid"
        text=r"(?-i:Authentication Credentials Invalid)",
        advice=_SES_SMTP_CREDENTIALS,
    ),
    rule(
        "sendgrid.unauthenticated",
        C.AUTH_REQUIRED,
        provider="SendGrid",
        text=r"Unauthenticated senders not allowed",
        advice=_SENDGRID_AUTH,
    ),
    rule(
        "sendgrid.bad_credentials",
        C.AUTH_FAILED,
        provider="SendGrid",
        text=r"Bad username\s*/\s*password",
        advice=_SENDGRID_AUTH,
    ),
    rule(
        "sendgrid.sender_identity",
        C.PROVIDER_SENDER_UNVERIFIED,
        provider="SendGrid",
        text=r"verified Sender Identity",
        advice=Text(
            "Verify the From address (Single Sender Verification) or authenticate its domain "
            "in SendGrid (Settings › Sender Authentication)."
        ),
    ),
    rule(
        "sendgrid.credits",
        C.PROVIDER_ACCOUNT_SUSPENDED,
        provider="SendGrid",
        text=r"Maximum credits exceeded",
        advice=Text(
            "The SendGrid plan's monthly email credits are used up: upgrade the plan or wait for the reset."
        ),
    ),
    rule(
        "mailgun.sandbox",
        C.PROVIDER_SANDBOX,
        provider="Mailgun",
        text=r"sandbox subdomains? (?:are|is) for test|Free accounts are for test purposes"
        r"|authorized recipients",
        advice=Text(
            "A Mailgun sandbox domain sends only to Authorized Recipients: add the recipient "
            "there to test, or add and verify your own domain and set MAILGUN_DOMAIN to it."
        ),
    ),
    rule(
        "mailgun.bad_login",
        C.AUTH_FAILED,
        provider="Mailgun",
        text=r"not loving your login or password",
        advice=Text(
            "Use the SMTP credentials of the sending domain (Domain settings › SMTP credentials: "
            "postmaster@<your domain> and its password), not the API key; EU domains use "
            "smtp.eu.mailgun.org."
        ),
    ),
    rule(
        "postmark.sender_signature",
        C.PROVIDER_SENDER_UNVERIFIED,
        provider="Postmark",
        text=r"Sender Signature",
        advice=Text(
            "Add and confirm the From address as a Sender Signature in Postmark, or verify its "
            "whole domain (DKIM and Return-Path records)."
        ),
    ),
    rule(
        "postmark.pending_approval",
        C.PROVIDER_SANDBOX,
        provider="Postmark",
        text=r"pending approval",
        advice=Text(
            "Until Postmark approves the account, it sends only to recipients on the From "
            "address's own domain: request approval in the Postmark account."
        ),
    ),
    rule(
        "zoho.relaying_disallowed_as",
        C.ENVELOPE_SENDER_REJECTED,
        provider="Zoho Mail",
        text=r"Relaying disallowed as\s*(?P<identity>\S*)",
        title=Text("Zoho refused to send as '{identity}'"),
        advice=Text(
            "Zoho sends only as the signed-in mailbox or an address added to it (Settings › "
            "Mail › Send mail as). '{identity}' is not one of them (an empty or bare '@' means "
            "no usable sender was given): set MAIL_FROM to the Zoho mailbox in SMTP_USER."
        ),
    ),
    rule(
        "microsoft.send_as_denied",
        C.ENVELOPE_SENDER_REJECTED,
        provider=MICROSOFT,
        text=r"SendAsDenied|not allowed to send as|(?:does not|doesn't) have permissions? to send as"
        r"|permission to send as",
        advice=Text(
            "Exchange lets a mailbox send only as itself unless it has Send As permission on "
            "the other address: set MAIL_FROM to the mailbox in SMTP_USER, or have an Exchange "
            "admin grant Send As on the From address."
        ),
    ),
    rule(
        "microsoft.smtp_auth_disabled",
        C.AUTH_FAILED,
        provider=MICROSOFT,
        text=r"SmtpClientAuthentication is disabled|SMTP ?AUTH(?:entication)? is disabled",
        title=Text("SMTP AUTH is switched off for this Microsoft 365 tenant or mailbox"),
        advice=_MS_SMTP_AUTH,
    ),
    rule(
        "microsoft.security_defaults",
        C.AUTH_FAILED,
        provider=MICROSOFT,
        text=r"security defaults",
        title=Text("Microsoft Entra security defaults block SMTP AUTH"),
        advice=_MS_SMTP_AUTH,
    ),
    rule(
        "microsoft.basic_auth_disabled",
        C.AUTH_FAILED,
        provider=MICROSOFT,
        text=r"basic auth(?:entication)? (?:is )?(?:disabled|blocked|not supported)"
        r"|did not meet the criteria to be authenticated",
        title=Text("Microsoft 365 blocks password sign-in for SMTP here"),
        advice=MS_SWITCH_TO_OAUTH2,
        steps=(
            MS_SWITCH_TO_OAUTH2,
            Text(
                "Until then, an Exchange admin may allow basic SMTP AUTH for the mailbox "
                "(`Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false`) where "
                "the tenant still permits it; Microsoft switches it off for good at the end of December 2026."
            ),
        ),
    ),
    rule(
        "microsoft.5.7.139",
        C.AUTH_FAILED,
        provider=MICROSOFT,
        enhanced="5.7.139",
        text=r"^(?!.*(?:security defaults|SmtpClientAuthentication|basic auth|did not meet the criteria))"
        r".*(?:authenticat|credential)",
        advice=Text("Check the password first; if it is right, {fix}", fix=_MS_SMTP_AUTH),
    ),
    rule(
        "microsoft.client_not_authenticated",
        C.AUTH_REQUIRED,
        provider=MICROSOFT,
        enhanced="X.7.57",
        text=r"authenticat",
        advice=Text(
            "Exchange Online takes mail from clients only after AUTH LOGIN over STARTTLS "
            "(smtp.office365.com:587): set SMTP_USER to the mailbox and SMTP_PASSWORD. If they "
            "are set, the session never authenticated: the transcript shows whether AUTH was sent."
        ),
    ),
    rule(
        "microsoft.unrecognized_auth_type",
        C.AUTH_UNAVAILABLE,
        provider=MICROSOFT,
        text=r"Unrecognized authentication type",
        title=Text("The server does not accept this authentication mechanism"),
        advice=Text(
            "Exchange answers this when the client picks a mechanism it does not allow "
            "(usually PLAIN): the client must use AUTH LOGIN. If Authenticated SMTP is off for "
            "the mailbox, no mechanism works: {fix}",
            fix=_MS_SMTP_AUTH,
        ),
    ),
    rule(
        "microsoft.outbound_spam",
        C.PROVIDER_ACCOUNT_SUSPENDED,
        provider=MICROSOFT,
        text=r"OutboundSpamException|bad outbound sender|restricted from sending",
        title=Text("Microsoft blocked this mailbox from sending"),
        advice=Text(
            "Microsoft restricts a mailbox that it believes sent spam; an admin secures the "
            "account and releases it in the Microsoft Defender portal (Restricted entities)."
        ),
    ),
    rule(
        "microsoft.submission_quota",
        C.ENVELOPE_RATE_LIMITED,
        provider=MICROSOFT,
        text=r"SubmissionQuotaExceeded|exceeded (?:the |your )?(?:message |recipient )?rate limit",
        advice=Text(
            "Exchange Online limits recipients per day per mailbox (10,000) and messages per "
            "minute (30): spread the sending or use an email provider for bulk mail."
        ),
    ),
    rule(
        "microsoft.relay",
        C.ENVELOPE_RELAY_DENIED,
        provider=MICROSOFT,
        enhanced=("X.7.54", "X.7.64"),
        text=r"relay|TenantAttribution|connector",
        advice=Text(
            "Exchange relays only for authenticated senders or for a connector that matches "
            "this server's IP address or certificate (5.7.64 TenantAttribution: no connector "
            "matched): authenticate, or ask the admin for a connector for this IP address."
        ),
    ),
    rule(
        "microsoft.recipient_not_found",
        C.ENVELOPE_RECIPIENT_REJECTED,
        provider=MICROSOFT,
        text=r"RESOLVER\.ADR\.\w*NotFound|RecipientNotFound",
        address_gone=True,
    ),
    rule(
        "microsoft.exchange_5.7.3",
        C.AUTH_FAILED,
        provider=MICROSOFT,
        reply="535",
        enhanced="5.7.3",
        text=r"authenticat",
        advice=Text(
            "Exchange rejected the login. Use the full mailbox address as SMTP_USER; {fix}", fix=_MS_SMTP_AUTH
        ),
    ),
    rule(
        "gmail.bad_credentials",
        C.AUTH_FAILED,
        provider=GOOGLE,
        text=r"Username and Password not accepted|BadCredentials",
        advice=_GMAIL_APP_PASSWORDS_ADVICE,
    ),
    rule(
        "gmail.app_password_required",
        C.AUTH_FAILED,
        provider=GOOGLE,
        text=r"Application-specific password required|InvalidSecondFactor",
        title=Text("Gmail requires an App Password for this account"),
        advice=_GMAIL_APP_PASSWORDS_ADVICE,
    ),
    rule(
        "gmail.web_login_required",
        C.AUTH_FAILED,
        provider=GOOGLE,
        text=r"log ?in (?:via|with) your web browser|WebLoginRequired|accounts\.google\.com/signin/continue",
        title=Text("Google blocked the sign-in as suspicious"),
        advice=_GMAIL_APP_PASSWORDS_ADVICE,
    ),
    rule(
        "gmail.auth_required",
        C.AUTH_REQUIRED,
        provider=GOOGLE,
        text=r"WantAuthError",
        advice=Text("smtp.gmail.com takes mail only after login with the account and an App Password."),
    ),
    rule(
        "gmail.relay_denied",
        C.ENVELOPE_RELAY_DENIED,
        provider=GOOGLE,
        text=r"Mail relay denied|Invalid credentials for relay",
        advice=Text(
            "Google Workspace's SMTP relay accepts mail only from the IP addresses or "
            "authenticated users allowed in the Admin console (Apps › Google Workspace › Gmail › "
            "Routing › SMTP relay service), and only from the Workspace's domains."
        ),
    ),
    rule(
        "gmail.ip_not_allowed",
        C.ENVELOPE_RELAY_DENIED,
        provider=GOOGLE,
        text=r"not authorized to send email directly to our servers"
        r"|use the SMTP relay at your service provider",
        title=Text("Gmail refuses mail sent straight from this IP address"),
        advice=Text(
            "Gmail does not take mail directly from residential or dynamic IP ranges: send "
            "through your provider's SMTP server or an email provider."
        ),
    ),
    rule(
        "gmail.daily_limit",
        C.ENVELOPE_RATE_LIMITED,
        provider=GOOGLE,
        text=r"Daily user sending (?:limit|quota) exceeded",
        advice=Text(
            "Gmail allows about 500 messages a day from a personal account and 2,000 from "
            "Google Workspace, counted over 24 hours: use an email provider for application mail."
        ),
    ),
    rule(
        "gmail.unsolicited_rate",
        C.ENVELOPE_RATE_LIMITED,
        provider=GOOGLE,
        text=r"unusual rate of unsolicited mail",
        advice=Text(
            "Gmail slows mail from an IP address or domain whose mail users mark as spam: "
            "authenticate with SPF, DKIM and DMARC and follow Google's sender guidelines."
        ),
    ),
    rule(
        "yahoo.from_mismatch",
        C.ENVELOPE_SENDER_REJECTED,
        provider=YAHOO,
        on=NOT_AT_RCPT,
        text=r"Request failed; Mailbox unavailable|From address not verified",
        advice=_YAHOO_FROM,
    ),
    rule(
        "yahoo.policy",
        C.ENVELOPE_CONTENT_REJECTED,
        provider=YAHOO,
        text=r"not accepted for policy reasons",
        advice=Text(
            "Yahoo judged the message or its sender against its policy: follow the link in "
            "the reply, publish SPF, DKIM and DMARC, and keep complaint rates low."
        ),
    ),
    rule(
        "yahoo.deferred_volume",
        C.ENVELOPE_RATE_LIMITED,
        provider=YAHOO,
        text=r"\[TSS?0\d\]|deferred due to unexpected volume or user complaints",
        advice=Text(
            "Yahoo defers mail from IP addresses with unusual volume or complaints; it retries fine later."
        ),
    ),
    rule(
        "yahoo.bad_auth",
        C.AUTH_FAILED,
        provider=YAHOO,
        text=r"#AUTH0\d\d|Too many bad auth attempts",
        advice=Text(
            "Yahoo needs an app password for mail apps (Account security › Generate app "
            "password); repeated failures lock SMTP sign-in for a while."
        ),
    ),
)


#: provider advice by the server's host name, for a winning rule of the same code that brings none
HOSTS: Final[tuple[Rule, ...]] = (
    rule(
        "host.gmail.auth",
        C.AUTH_FAILED,
        reply=("534", "535"),
        provider=GOOGLE,
        host=r"(?:^|\.)(?:gmail|googlemail|google)\.com$",
        advice=_GMAIL_APP_PASSWORDS_ADVICE,
    ),
    rule(
        "host.microsoft.auth",
        C.AUTH_FAILED,
        reply="535",
        provider=MICROSOFT,
        host=r"(?:^|\.)(?:office365|outlook|hotmail|live)\.com$",
        advice=_MS_SMTP_AUTH,
    ),
    rule(
        "host.ses.auth",
        C.AUTH_FAILED,
        reply="535",
        provider=SES,
        host=r"(?:^|\.)amazonaws\.com$",
        advice=_SES_SMTP_CREDENTIALS,
    ),
    rule(
        "host.sendgrid.auth",
        C.AUTH_FAILED,
        reply="535",
        provider="SendGrid",
        host=r"(?:^|\.)sendgrid\.net$",
        advice=_SENDGRID_AUTH,
    ),
    rule(
        "host.mailgun.auth",
        C.AUTH_FAILED,
        reply="535",
        provider="Mailgun",
        host=r"(?:^|\.)mailgun\.org$",
        advice=Text(
            "Use the domain's SMTP credentials (postmaster@<your domain>), not the API key; "
            "EU domains use smtp.eu.mailgun.org."
        ),
    ),
    rule(
        "host.postmark.auth",
        C.AUTH_FAILED,
        reply="535",
        provider="Postmark",
        host=r"(?:^|\.)postmarkapp\.com$",
        advice=Text(
            "Postmark's SMTP user name and password are both the Server API token (or the "
            "SMTP token pair of the message stream)."
        ),
    ),
    rule(
        "host.yahoo.auth",
        C.AUTH_FAILED,
        reply="535",
        provider=YAHOO,
        host=r"(?:^|\.)(?:yahoo|aol)\.com$",
        advice=Text(
            "Yahoo and AOL need an app password for mail apps (Account security › Generate app password)."
        ),
    ),
    rule(
        "host.zoho.auth",
        C.AUTH_FAILED,
        reply="535",
        provider="Zoho Mail",
        host=r"(?:^|\.)zoho(?:mail)?\.(?:com|eu|in|com\.au|jp|com\.cn|sa)$",
        advice=Text(
            "With two-factor authentication on, Zoho needs an application-specific password; "
            "use the SMTP host of your data centre (smtp.zoho.eu, smtp.zoho.in, …) and "
            "smtppro.zoho.com for a custom domain."
        ),
    ),
)


#: the provider behind a host name, for explanations whose rule names none
PROVIDER_HOSTS: Final[tuple[tuple[str, str], ...]] = (
    (r"(?:^|\.)(?:gmail|googlemail|google)\.com$", GOOGLE),
    (r"(?:^|\.)(?:office365|outlook|hotmail|live)\.com$", MICROSOFT),
    (r"(?:^|\.)amazonaws\.com$", SES),
    (r"(?:^|\.)sendgrid\.net$", "SendGrid"),
    (r"(?:^|\.)mailgun\.org$", "Mailgun"),
    (r"(?:^|\.)postmarkapp\.com$", "Postmark"),
    (r"(?:^|\.)(?:yahoo|aol)\.com$", YAHOO),
    (r"(?:^|\.)zoho(?:mail)?\.\w+(?:\.\w+)?$", "Zoho Mail"),
    (r"(?:^|\.)mandrillapp\.com$", "Mandrill"),
    (r"(?:^|\.)resend\.com$", "Resend"),
    (r"(?:^|\.)(?:brevo|sendinblue)\.com$", "Brevo"),
)
