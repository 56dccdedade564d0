"""OAuth2 sign-in knowledge: how Microsoft's identity platform (``AADSTS…``), Google's
and any RFC 6749 token endpoint word their refusals, and how Exchange Online and Gmail
refuse a token at SMTP AUTH, with the steps that fix each.

:data:`TOKEN_FAILURES` are failure rules (no SMTP reply): they match the words the
session puts in a :class:`~postwarden.core.smtp.errors.TokenFailed`
("the identity platform refused to issue a token: token request to
login.microsoftonline.com failed: invalid_client: AADSTS7000215: Invalid client secret
provided …"). They head the failure table of the classifier. :data:`TOKEN_REFUSALS` are
reply rules for a token the SMTP server refused; the session marks that case by
raising :class:`~postwarden.core.smtp.errors.TokenRejected`, whose failure text begins
with :data:`REFUSED_MARK`; the doctor classifies that text, not the bare reply.
"""

from __future__ import annotations

from typing import Final

from postwarden.core.codes import Code as C
from postwarden.core.i18n import Text
from postwarden.core.replies.rule import Rule, rule
from postwarden.core.smtp.errors import TokenRejected
from postwarden.core.smtp.stages import SmtpStage as S

MICROSOFT = "Microsoft Entra ID / Exchange Online"
GOOGLE = "Google Workspace"

#: how a refused token's failure text begins (``f"{summary}: {detail}"``)
REFUSED_MARK: Final = TokenRejected.summary

_MS_SECRET_STEPS = (
    Text(
        "In the Entra admin center › App registrations › (the app) › Certificates & secrets, "
        "create a new client secret and copy its Value (not its Secret ID) into OAUTH2_CLIENT_SECRET."
    ),
    Text(
        "Check that OAUTH2_CLIENT_ID is that app's Application (client) ID and OAUTH2_TENANT_ID its "
        "Directory (tenant) ID."
    ),
    Text(
        "Or sign in with a certificate: upload its public part to the app and set OAUTH2_CLIENT_CERT_FILE "
        "to a PEM holding the certificate and its private key."
    ),
)
_MS_APP_STEPS = (
    Text("Check OAUTH2_CLIENT_ID: the Application (client) ID on the app registration's Overview page."),
    Text(
        "Check OAUTH2_TENANT_ID: the Directory (tenant) ID of the same tenant (the app must be "
        "registered, or consented to, in the tenant that owns the mailbox)."
    ),
    Text("For a sovereign cloud set OAUTH2_AUTHORITY (e.g. https://login.microsoftonline.us)."),
)
_REFRESH_STEPS = (
    Text(
        "Connect the account again (console › Email settings › Connect account, or "
        "`postwarden oauth2 connect`): the refresh token has expired, was revoked (a password "
        "change, an admin's sign-out) or was issued to another client."
    ),
)
_CLOCK_STEPS = (
    Text(
        "Set this machine's clock right (`timedatectl status`; enable NTP with "
        "`timedatectl set-ntp true`): signed requests are only valid for minutes around the "
        "identity platform's time."
    ),
)
_GOOGLE_DWD_STEPS = (
    Text(
        "In the Google Admin console › Security › Access and data control › API controls › "
        "Manage domain-wide delegation, add the service account's client ID with the scope "
        "https://mail.google.com/ (changes take a few minutes, sometimes up to 24 hours)."
    ),
    Text("Check that SMTP_USER is a user of that Workspace domain (the service account acts as them)."),
)
_UNREACHABLE_STEPS = (
    Text(
        "Check that this machine reaches the identity platform over HTTPS: "
        "`curl -sS -o /dev/null -w {write_out} <OAUTH2_AUTHORITY or OAUTH2_TOKEN_URL>`; a proxy "
        "is taken from HTTPS_PROXY.",
        write_out="'%{http_code}'",
    ),
    Text(
        "Check OAUTH2_AUTHORITY / OAUTH2_TOKEN_URL for typos; a certificate error means the "
        "machine does not trust the identity platform's certificate (SSL_CERT_FILE)."
    ),
    Text("Mail waits in the queue meanwhile and goes out once a token can be had."),
)

TOKEN_FAILURES: Final[tuple[Rule, ...]] = (
    rule(
        "oauth.unreachable",
        C.AUTH_TOKEN_ENDPOINT_UNREACHABLE,
        on=S.AUTH,
        text=r"token endpoint cannot be reached",
        steps=_UNREACHABLE_STEPS,
        explanation=Text(
            "Postwarden could not get an answer from the identity platform's token endpoint, "
            "so it has no token to sign in with: {evidence}"
        ),
    ),
    rule(
        "microsoft.AADSTS7000215",
        C.AUTH_TOKEN_INVALID_CLIENT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS7000215",
        title=Text("Microsoft Entra ID refused the client secret (AADSTS7000215)"),
        explanation=Text(
            "The secret in OAUTH2_CLIENT_SECRET is not a valid secret of this app: mistyped, "
            "deleted, or the secret's ID was copied instead of its value."
        ),
        steps=_MS_SECRET_STEPS,
    ),
    rule(
        "microsoft.AADSTS7000222",
        C.AUTH_TOKEN_INVALID_CLIENT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS7000222",
        title=Text("The app's client secret has expired (AADSTS7000222)"),
        explanation=Text("Client secrets expire (at most after 24 months); this one has."),
        steps=_MS_SECRET_STEPS,
    ),
    rule(
        "microsoft.certificate",
        C.AUTH_TOKEN_INVALID_CLIENT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS700027|AADSTS7000274|AADSTS700023|AADSTS7000216",
        title=Text("Microsoft Entra ID refused the app's certificate"),
        explanation=Text(
            "The certificate in OAUTH2_CLIENT_CERT_FILE is not registered on the app, or has expired."
        ),
        steps=(
            Text(
                "Upload the certificate's public part (.cer/.pem) to the app registration › "
                "Certificates & secrets › Certificates, or set OAUTH2_CLIENT_CERT_FILE to the one "
                "that is registered there."
            ),
            *_MS_SECRET_STEPS[1:2],
        ),
    ),
    rule(
        "microsoft.clock",
        C.AUTH_TOKEN_INVALID_GRANT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS700024|AADSTS5000811",
        title=Text("This machine's clock is off: the signed request is outside its valid time"),
        steps=_CLOCK_STEPS,
    ),
    rule(
        "microsoft.AADSTS700016",
        C.AUTH_TOKEN_APP_NOT_FOUND,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS700016",
        title=Text("The app is not registered in this tenant (AADSTS700016)"),
        explanation=Text(
            "Microsoft Entra ID knows no application with OAUTH2_CLIENT_ID in the tenant "
            "OAUTH2_TENANT_ID: a typo, an app in another tenant, or one deleted."
        ),
        steps=_MS_APP_STEPS,
    ),
    rule(
        "microsoft.AADSTS90002",
        C.AUTH_TOKEN_APP_NOT_FOUND,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS90002|AADSTS900023|invalid_tenant",
        title=Text("Microsoft Entra ID knows no such tenant"),
        explanation=Text("OAUTH2_TENANT_ID names no tenant Microsoft knows."),
        steps=_MS_APP_STEPS[1:],
    ),
    rule(
        "microsoft.refresh_token",
        C.AUTH_TOKEN_INVALID_GRANT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS70000\b|AADSTS70008|AADSTS700082|AADSTS50173|AADSTS700084|AADSTS54005",
        title=Text("Microsoft refused the refresh token: the account must be connected again"),
        steps=_REFRESH_STEPS,
    ),
    rule(
        "microsoft.consent",
        C.AUTH_TOKEN_UNAUTHORIZED_CLIENT,
        on=S.AUTH,
        provider=MICROSOFT,
        text=r"AADSTS65001|AADSTS70011|AADSTS500011|AADSTS650057",
        title=Text("The app may not ask for this permission (consent or scope)"),
        steps=(
            Text(
                "App-only: leave OAUTH2_SCOPE unset (https://outlook.office365.com/.default), give the app "
                "the Office 365 Exchange Online application permission SMTP.SendAsApp and grant "
                "admin consent."
            ),
            Text(
                "Delegated: the app needs the delegated permission SMTP.Send (Microsoft Graph) with consent."
            ),
        ),
    ),
    rule(
        "google.clock",
        C.AUTH_TOKEN_INVALID_GRANT,
        on=S.AUTH,
        provider=GOOGLE,
        text=r"invalid_grant.{0,40}Invalid JWT.{0,80}(?:timeframe|iat|exp)",
        title=Text("Google refused the signed request: this machine's clock is off"),
        steps=_CLOCK_STEPS,
    ),
    rule(
        "google.invalid_signature",
        C.AUTH_TOKEN_INVALID_CLIENT,
        on=S.AUTH,
        provider=GOOGLE,
        text=r"Invalid JWT Signature|account not found",
        title=Text("Google does not accept the service account key"),
        explanation=Text(
            "The key in OAUTH2_SERVICE_ACCOUNT_FILE was deleted or disabled, or its "
            "service account no longer exists."
        ),
        steps=(
            Text(
                "In the Google Cloud console › IAM › Service accounts › (the account) › Keys, create a new "
                "JSON key and point OAUTH2_SERVICE_ACCOUNT_FILE at it."
            ),
        ),
    ),
    rule(
        "google.unauthorized_client",
        C.AUTH_TOKEN_UNAUTHORIZED_CLIENT,
        on=S.AUTH,
        provider=GOOGLE,
        text=r"unauthorized_client.{0,80}Client is unauthorized",
        title=Text("Domain-wide delegation is missing for the service account"),
        explanation=Text(
            "Google refused to let the service account act as SMTP_USER: its client ID is "
            "not allowed domain-wide delegation with the scope https://mail.google.com/."
        ),
        steps=_GOOGLE_DWD_STEPS,
    ),
    rule(
        "oauth.invalid_client",
        C.AUTH_TOKEN_INVALID_CLIENT,
        on=S.AUTH,
        text=r"failed: invalid_client\b",
        steps=(
            Text(
                "Check OAUTH2_CLIENT_ID and OAUTH2_CLIENT_SECRET against the client registered at the "
                "identity platform; create a new secret if in doubt."
            ),
        ),
    ),
    rule(
        "oauth.invalid_grant",
        C.AUTH_TOKEN_INVALID_GRANT,
        on=S.AUTH,
        text=r"failed: invalid_grant\b",
        steps=(*_REFRESH_STEPS, *_CLOCK_STEPS),
    ),
    rule(
        "oauth.unauthorized_client",
        C.AUTH_TOKEN_UNAUTHORIZED_CLIENT,
        on=S.AUTH,
        text=r"failed: (?:unauthorized_client|invalid_scope|access_denied)\b",
        steps=(
            Text(
                "Allow the client the grant and scope it asks for at the identity platform "
                "(client credentials or refresh token; OAUTH2_SCOPE)."
            ),
            *_GOOGLE_DWD_STEPS[:1],
        ),
    ),
)

_EXCHANGE_APP_STEPS = (
    Text(
        "Register the app's service principal in Exchange Online and allow it the mailbox "
        "(Exchange Online PowerShell): `New-ServicePrincipal -AppId <OAUTH2_CLIENT_ID> -ObjectId "
        "<the Enterprise application's object ID>`, then `Add-MailboxPermission -Identity <SMTP_USER> "
        "-User <that object ID> -AccessRights FullAccess`."
    ),
    Text(
        "Give the app the API permission Office 365 Exchange Online › Application permissions › "
        "SMTP.SendAsApp, and grant admin consent."
    ),
    Text(
        "Allow SMTP AUTH for the mailbox: `Set-CASMailbox -Identity <SMTP_USER> "
        "-SmtpClientAuthenticationDisabled $false` (and not blocked tenant-wide)."
    ),
)

TOKEN_REFUSALS: Final[tuple[Rule, ...]] = (
    rule(
        "exchange.token.smtp_auth_disabled",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        provider=MICROSOFT,
        text=REFUSED_MARK + r".*(?:SmtpClientAuthentication is disabled|SMTP ?AUTH\w* is disabled)",
        title=Text("SMTP AUTH is switched off for this mailbox (the token itself is fine)"),
        steps=(_EXCHANGE_APP_STEPS[2],),
    ),
    rule(
        "exchange.token.refused",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        provider=MICROSOFT,
        host=r"office365\.com|outlook\.com|office\.com",
        text=REFUSED_MARK,
        title=Text("Exchange Online refused the app's token"),
        explanation=Text(
            "Microsoft issued a token, but Exchange Online did not let it sign in as "
            "SMTP_USER: the app is not registered in Exchange, lacks SMTP.SendAsApp, or SMTP AUTH is "
            "off for the mailbox."
        ),
        steps=_EXCHANGE_APP_STEPS,
    ),
    rule(
        "exchange.token.5.7.3",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        provider=MICROSOFT,
        text=REFUSED_MARK + r".*\b5\.7\.(?:3|139)\b",
        title=Text("Exchange refused the app's token"),
        steps=_EXCHANGE_APP_STEPS,
    ),
    rule(
        "gmail.token.scope",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        provider=GOOGLE,
        text=REFUSED_MARK + r'.*"status":"400".*"scope"',
        title=Text("Gmail refused the token: it lacks the scope https://mail.google.com/"),
        steps=(
            Text(
                "Leave OAUTH2_SCOPE unset (or set it to https://mail.google.com/): Gmail's SMTP "
                "takes no other "
                "scope."
            ),
            *_GOOGLE_DWD_STEPS[:1],
        ),
    ),
    rule(
        "gmail.token.invalid",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        provider=GOOGLE,
        text=REFUSED_MARK + r'.*"status":"401"',
        title=Text("Gmail refused the token as invalid for this user"),
        steps=(
            Text(
                "Check that SMTP_USER is the mailbox the token was issued for (the service account's "
                "subject, or the person who connected)."
            ),
            *_GOOGLE_DWD_STEPS,
        ),
    ),
    rule(
        "oauth.token.refused",
        C.AUTH_TOKEN_REFUSED,
        on=S.AUTH,
        text=REFUSED_MARK,
        steps=(
            Text(
                "Check that SMTP_USER is the mailbox the token is for, and that the server allows "
                "OAuth2 sign-in for it."
            ),
            Text("Check OAUTH2_SCOPE: the server's error (quoted) may name the scope it wants."),
        ),
    ),
)
