"""Tokens from any OAuth2 token endpoint (RFC 6749): client credentials (§4.4) or a
refresh token (§6), for XOAUTH2/OAUTHBEARER servers other than Microsoft's and Google's.

Neither msal (Microsoft's authorities only) nor google-auth (Google's grants) speaks to
an arbitrary endpoint, and these two grants are one form POST each; the client
authenticates with HTTP Basic, which §2.3.1 requires every server to accept.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from postwarden.core.config.model import OAuth2Settings
from postwarden.core.oauth import rotation
from postwarden.core.oauth.errors import TokenEndpointUnreachable, TokenError
from postwarden.core.oauth.http import TokenHttp, unreachable
from postwarden.core.oauth.token import AccessToken
from postwarden.core.secrets import Secret


class GenericSource:
    """A :class:`~postwarden.core.oauth.token.TokenSource` for any token endpoint."""

    def __init__(self, settings: OAuth2Settings, *, timeout: float) -> None:
        """Raises ValueError when the token URL or the client is missing."""
        if not settings.token_url:
            raise ValueError("OAUTH2_TOKEN_URL must be set for OAUTH2_PROVIDER=generic")
        if not settings.client_id:
            raise ValueError("OAUTH2_CLIENT_ID must be set for OAUTH2_PROVIDER=generic")
        if not (settings.client_secret.is_set or settings.delegated):
            raise ValueError("set OAUTH2_CLIENT_SECRET, or OAUTH2_REFRESH_TOKEN for a person's mailbox")
        self._settings = settings
        self.token_url = settings.token_url
        self.host = urlsplit(settings.token_url).netloc
        self.client = settings.client_id
        self._http = TokenHttp(timeout)

    def fetch(self) -> AccessToken:
        s = self._settings
        form: dict[str, str] = (
            {"grant_type": "refresh_token", "refresh_token": s.refresh_token.reveal()}
            if s.delegated
            else {"grant_type": "client_credentials"}
        )
        if s.scope:
            form["scope"] = s.scope
        auth: tuple[str, str] | None = None
        if s.client_secret.is_set:
            # §2.3.1: the id and secret are form-encoded before they go into Basic
            auth = (quote(self.client, safe=""), quote(s.client_secret.reveal(), safe=""))
        else:
            form["client_id"] = self.client
        try:
            response = self._http.post(
                self.token_url, data=form, auth=auth, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise unreachable(self.host, exc) from None
        token = _answer(response, self.host, self.client)
        rotated = _rotated(response)
        if s.delegated and rotated and rotated != s.refresh_token.reveal():
            # RFC 6749 6: the server may issue a new refresh token (and retire the old one)
            self._settings = replace(s, refresh_token=Secret(rotated))
            rotation.rotated(Secret(rotated))
        return token


def _rotated(response: requests.Response) -> str | None:
    try:
        value = response.json().get("refresh_token")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def _answer(response: requests.Response, host: str, client: str) -> AccessToken:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TokenEndpointUnreachable(
            host, "", f"HTTP {response.status_code} {response.reason}: the answer is not OAuth2 JSON"
        )
    value = body.get("access_token")
    if response.status_code == 200 and isinstance(value, str) and value:
        lifetime = int(body.get("expires_in") or 3600)
        return AccessToken(Secret(value), time.time() + lifetime, host, client)
    if body.get("error"):
        return_error = TokenError(host, str(body["error"]), str(body.get("error_description") or ""))
        raise return_error
    raise TokenEndpointUnreachable(
        host, "", f"HTTP {response.status_code} {response.reason}: no access token"
    )
