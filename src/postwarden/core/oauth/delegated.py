"""Connecting a person's mailbox (delegated sign-in): the authorization-code flow with PKCE
for the console's "Connect account" button, and the device-code flow for the command line
on a machine without a browser. Both end in a refresh token, which the caller stores
sealed as ``OAUTH2_REFRESH_TOKEN``; the token source (microsoft.py) renews access tokens
from it.

Microsoft's identity platform through msal (which makes the PKCE verifier and checks the
``state``); Google and other platforms through oauthlib (codeflow.py). Google's device flow
does not allow Gmail's scope (https://mail.google.com/ is not among the scopes its "TV and
limited-input devices" flow accepts), so the command line prints the authorization URL
instead and takes the address the browser was sent back to (see cli/oauth2.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from postwarden.core.config.model import MICROSOFT_DELEGATED_SCOPE, OAuth2Provider, OAuth2Settings
from postwarden.core.oauth import codeflow
from postwarden.core.oauth.errors import TokenError
from postwarden.core.oauth.http import TokenHttp, unreachable
from postwarden.core.oauth.microsoft import RESERVED_SCOPES, certificate_credential, discovery_error
from postwarden.core.secrets import Secret

Flow = dict[str, Any]


def _application(settings: OAuth2Settings, timeout: float) -> tuple[msal.ClientApplication, list[str], str]:
    if settings.provider is not OAuth2Provider.MICROSOFT:
        raise ValueError(
            "the device-code flow is for OAUTH2_PROVIDER=microsoft; for Google and other platforms "
            "sign in through the authorization URL"
        )
    if not settings.tenant_id or not settings.client_id:
        raise ValueError("set OAUTH2_TENANT_ID and OAUTH2_CLIENT_ID first (the app registration)")
    host = urlsplit(settings.authority).netloc
    scopes = [s for s in (settings.scope or MICROSOFT_DELEGATED_SCOPE).split() if s not in RESERVED_SCOPES]
    kwargs: dict[str, Any] = {
        "authority": f"{settings.authority.rstrip('/')}/{settings.tenant_id}",
        "http_client": TokenHttp(timeout),
        "instance_discovery": False,
    }
    credential: str | dict[str, str] | None = None  # a public client
    if settings.client_cert.is_set:
        credential = certificate_credential(settings.client_cert.reveal())  # ValueError: a bad PEM
    elif settings.client_secret.is_set:
        credential = settings.client_secret.reveal()
    try:
        if credential is None:
            app: msal.ClientApplication = msal.PublicClientApplication(settings.client_id, **kwargs)
        else:
            app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=credential, **kwargs
            )
    except (ValueError, requests.RequestException, msal.exceptions.MsalServiceError) as exc:
        raise _failure(host, exc) from None
    return app, scopes, host


def _failure(host: str, exc: BaseException) -> TokenError:
    if isinstance(exc, TokenError):
        return exc
    if isinstance(exc, ValueError):  # msal's words for a tenant discovery that failed
        return discovery_error(host, exc)
    if isinstance(exc, requests.RequestException | msal.exceptions.MsalServiceError):
        return unreachable(host, exc)
    return TokenError(host, "", str(exc))


def start_authorization(
    settings: OAuth2Settings, *, redirect_uri: str, login_hint: str | None, timeout: float
) -> tuple[str, Flow]:
    """The URL to send the person to, and the flow to keep (server-side) until they come
    back. Raises ValueError (settings) or TokenError (the platform)."""
    if settings.provider is not OAuth2Provider.MICROSOFT:
        return codeflow.start(settings, redirect_uri=redirect_uri, login_hint=login_hint)
    app, scopes, _ = _application(settings, timeout)
    flow: Flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri, login_hint=login_hint)
    return str(flow["auth_uri"]), flow


def finish_authorization(
    settings: OAuth2Settings, flow: Flow, answer: Mapping[str, str], *, timeout: float
) -> Secret:
    """The refresh token for the answer the platform redirected back with. Raises
    TokenError with the platform's words (a refused consent, a wrong state …)."""
    if settings.provider is not OAuth2Provider.MICROSOFT:
        return codeflow.finish(settings, flow, answer, timeout=timeout)
    app, _, host = _application(settings, timeout)
    try:
        result = app.acquire_token_by_auth_code_flow(flow, dict(answer))
    except ValueError as exc:  # msal: state mismatch, or an answer to another flow
        raise TokenError(host, "invalid_request", str(exc)) from None
    except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
        raise unreachable(host, exc) from None
    return _refresh_token(result, host)


def uses_device_code(settings: OAuth2Settings) -> bool:
    """Whether the command line signs in with a device code (Microsoft) or through the
    authorization URL and the address the browser comes back to (Google, generic)."""
    return settings.provider is OAuth2Provider.MICROSOFT


def start_device(settings: OAuth2Settings, *, timeout: float) -> Flow:
    """A device-code flow: ``flow["message"]`` tells the person where to go and which
    code to type. Raises ValueError or TokenError."""
    app, scopes, host = _application(settings, timeout)
    if not isinstance(app, msal.PublicClientApplication):
        raise ValueError(
            "the device-code flow is for public clients: clear OAUTH2_CLIENT_SECRET / OAUTH2_CLIENT_CERT "
            "and allow public client flows on the app registration (Authentication › Advanced settings)"
        )
    try:
        flow: Flow = app.initiate_device_flow(scopes=scopes)
    except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
        raise unreachable(host, exc) from None
    if "user_code" not in flow:
        raise TokenError(
            host, str(flow.get("error") or "no_device_code"), str(flow.get("error_description") or "")
        )
    return flow


def finish_device(settings: OAuth2Settings, flow: Flow, *, timeout: float) -> Secret:
    """Wait until the person has signed in (msal polls at the platform's interval until the
    code expires) and return the refresh token. Raises TokenError."""
    app, _, host = _application(settings, timeout)
    assert isinstance(app, msal.PublicClientApplication)
    try:
        result = app.acquire_token_by_device_flow(flow)
    except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
        raise unreachable(host, exc) from None
    return _refresh_token(result, host)


def _refresh_token(result: Mapping[str, Any] | None, host: str) -> Secret:
    result = result or {}
    token = result.get("refresh_token")
    if isinstance(token, str) and token:
        return Secret(token)
    error = str(result.get("error") or "no_refresh_token")
    words = str(
        result.get("error_description") or "the answer holds no refresh token (is offline_access allowed?)"
    )
    raise TokenError(host, error, words)
