"""Tokens from Microsoft's identity platform (Entra ID) through ``msal``.

App-only: client credentials with the app's secret or certificate, scope
``https://outlook.office365.com/.default`` (Exchange checks the app's ``SMTP.SendAsApp``
permission and its service principal). Delegated: a person's refresh token, scope
``https://outlook.office.com/SMTP.Send``.

The authority is ``OAUTH2_AUTHORITY/<tenant>``. Instance discovery is off: it asks
login.microsoftonline.com whether the authority is a Microsoft cloud, which neither a
sovereign cloud's own host list nor a test identity server needs; msal still reads the
tenant's OpenID configuration from the authority itself (``/v2.0/.well-known/
openid-configuration``), and that answers AADSTS90002 for a tenant that does not exist.
msal builds the application with a network round trip, so it is built on the first fetch.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from postwarden.core.config.model import (
    MICROSOFT_APP_SCOPE,
    MICROSOFT_DELEGATED_SCOPE,
    OAuth2Settings,
)
from postwarden.core.oauth import rotation
from postwarden.core.oauth.errors import TokenEndpointUnreachable, TokenError
from postwarden.core.oauth.http import TokenHttp, unreachable
from postwarden.core.oauth.token import AccessToken
from postwarden.core.secrets import Secret

#: msal asks for these itself in delegated flows and refuses to be asked for them
RESERVED_SCOPES: Final = frozenset({"openid", "profile", "offline_access"})
_JSON_IN_TEXT: Final = re.compile(r"\{.*\}", re.DOTALL)


class MicrosoftSource:
    """A :class:`~postwarden.core.oauth.token.TokenSource` over msal."""

    def __init__(self, settings: OAuth2Settings, *, timeout: float) -> None:
        """Raises ValueError for settings msal cannot use (a configuration error)."""
        if not settings.tenant_id or not settings.client_id:
            raise ValueError(
                "OAUTH2_TENANT_ID and OAUTH2_CLIENT_ID must be set for OAUTH2_PROVIDER=microsoft"
            )
        self._settings = settings
        self.authority = f"{settings.authority.rstrip('/')}/{settings.tenant_id}"
        self.host = urlsplit(settings.authority).netloc
        self.client = settings.client_id
        default = MICROSOFT_DELEGATED_SCOPE if settings.delegated else MICROSOFT_APP_SCOPE
        self.scopes = [s for s in (settings.scope or default).split() if s not in RESERVED_SCOPES]
        self._credential = _credential(settings)
        self._http = TokenHttp(timeout)
        self._app: msal.ClientApplication | None = None

    def _application(self) -> msal.ClientApplication:
        if self._app is not None:
            return self._app
        kwargs: dict[str, Any] = {
            "authority": self.authority,
            "http_client": self._http,
            "instance_discovery": False,
        }
        try:
            if self._credential is None:  # a person's mailbox, signed in through a public client
                app: msal.ClientApplication = msal.PublicClientApplication(self.client, **kwargs)
            else:
                app = msal.ConfidentialClientApplication(
                    self.client, client_credential=self._credential, **kwargs
                )
        except ValueError as exc:
            raise discovery_error(self.host, exc) from None
        except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            raise _unreachable(self.host, exc) from None
        self._app = app
        return app

    def fetch(self) -> AccessToken:
        app = self._application()
        app.token_cache = msal.TokenCache()  # the caller caches; msal must always ask
        try:
            if self._settings.delegated:
                result = app.acquire_token_by_refresh_token(
                    self._settings.refresh_token.reveal(), scopes=self.scopes
                )
            else:
                assert isinstance(app, msal.ConfidentialClientApplication)
                result = app.acquire_token_for_client(scopes=self.scopes)
        except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
            raise _unreachable(self.host, exc) from None
        except ValueError as exc:  # the endpoint answered, but not in JSON
            raise TokenEndpointUnreachable(
                self.host, "", f"the token endpoint's answer is not OAuth2 ({exc})"
            ) from None
        rotated = (result or {}).get("refresh_token")
        current = self._settings.refresh_token.reveal()
        if self._settings.delegated and isinstance(rotated, str) and rotated and rotated != current:
            # Microsoft answers a refresh with a new refresh token: the next refresh uses it,
            # and it is saved for the next start (rotation.py)
            self._settings = replace(self._settings, refresh_token=Secret(rotated))
            rotation.rotated(Secret(rotated))
        return _token(result, self.host, self.client)


def _token(result: dict[str, Any] | None, host: str, client: str) -> AccessToken:
    result = result or {}
    value = result.get("access_token")
    if not isinstance(value, str) or not value:
        error = str(result.get("error") or "no_token")
        raise TokenError(host, error, str(result.get("error_description") or "no access token in the answer"))
    lifetime = int(result.get("expires_in") or 3600)
    return AccessToken(Secret(value), time.time() + lifetime, host, client)


def _credential(settings: OAuth2Settings) -> str | dict[str, str] | None:
    if settings.client_cert.is_set:
        return certificate_credential(settings.client_cert.reveal())
    if settings.client_secret.is_set:
        return settings.client_secret.reveal()
    if settings.delegated:
        return None
    raise ValueError(
        "set OAUTH2_CLIENT_SECRET, OAUTH2_CLIENT_CERT_FILE or (for a person's mailbox) OAUTH2_REFRESH_TOKEN"
    )


def certificate_credential(pem: str) -> dict[str, str]:
    """msal's credential for a PEM holding the certificate and its private key. Raises
    ValueError naming what is missing (never quoting the key)."""
    data = pem.encode()
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValueError(
            "OAUTH2_CLIENT_CERT holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValueError(
            "OAUTH2_CLIENT_CERT holds no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return {"private_key": key_pem, "public_certificate": cert_pem}


def _unreachable(host: str, exc: Exception) -> TokenEndpointUnreachable:
    # msal's own client raises MsalServiceError("HTTP Error: 503") for a failed GET
    if isinstance(exc, msal.exceptions.MsalServiceError):
        return TokenEndpointUnreachable(
            host, "", str(exc.args[0]).replace("HTTP Error:", "HTTP") if exc.args else ""
        )
    return unreachable(host, exc)


def discovery_error(host: str, exc: ValueError) -> TokenError:
    """msal wraps the tenant discovery's answer in prose; the platform's JSON is inside."""
    for candidate in (exc.__context__, exc):
        if candidate is None:
            continue
        if isinstance(candidate, requests.RequestException):
            return unreachable(host, candidate)
        match = _JSON_IN_TEXT.search(str(candidate))
        if match is None:
            continue
        try:
            body = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("error"):
            return TokenError(host, str(body["error"]), str(body.get("error_description") or ""))
    return TokenEndpointUnreachable(host, "", f"the tenant's OpenID configuration cannot be read: {exc}")
