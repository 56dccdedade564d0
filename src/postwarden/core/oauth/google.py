"""Tokens from Google through ``google-auth``.

Google Workspace, app-only: a service account with domain-wide delegation signs a JWT
whose subject is the mailbox (``SMTP_USER``) and trades it for a token with scope
``https://mail.google.com/`` (the only scope Gmail's SMTP takes). The key's
``token_uri`` is where it is traded; ``OAUTH2_TOKEN_URL`` replaces it. Delegated: a
person's refresh token with the OAuth client's id and secret.

Refusals come as RFC 6749 JSON (``{"error": "unauthorized_client", "error_description":
"Client is unauthorized to retrieve access tokens using this method, …"}``): google-auth
raises RefreshError with that body as its second argument.
"""

from __future__ import annotations

import calendar
import json
import time
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.oauth2.credentials
import google.oauth2.service_account
from google.auth.transport.requests import Request

from postwarden.core.config.model import GOOGLE_SCOPE, GOOGLE_TOKEN_URL, OAuth2Settings
from postwarden.core.oauth import rotation
from postwarden.core.oauth.errors import TokenError
from postwarden.core.oauth.http import TokenHttp, unreachable
from postwarden.core.oauth.token import AccessToken
from postwarden.core.secrets import Secret


class GoogleSource:
    """A :class:`~postwarden.core.oauth.token.TokenSource` over google-auth."""

    def __init__(self, settings: OAuth2Settings, *, subject: str, timeout: float) -> None:
        """Raises ValueError for an unusable key or missing settings (configuration errors)."""
        self.scopes = (settings.scope or GOOGLE_SCOPE).split()
        self._http = TokenHttp(timeout)
        self._credentials: Any
        if settings.delegated:
            if not settings.client_id:
                raise ValueError("OAUTH2_CLIENT_ID must be set with OAUTH2_REFRESH_TOKEN")
            token_url = settings.token_url or GOOGLE_TOKEN_URL
            self._credentials = google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
                None,
                refresh_token=settings.refresh_token.reveal(),
                token_uri=token_url,
                client_id=settings.client_id,
                client_secret=settings.client_secret.reveal() or None,
                scopes=self.scopes,
            )
            self.client = settings.client_id
        else:
            info = service_account_info(settings.service_account)
            if settings.token_url:
                info["token_uri"] = settings.token_url
            token_url = str(info["token_uri"])
            self._credentials = google.oauth2.service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=self.scopes, subject=subject
            )
            self.client = str(info.get("client_email") or info.get("client_id") or "service account")
        self.host = _host(token_url)

    def fetch(self) -> AccessToken:
        before = getattr(self._credentials, "refresh_token", None)
        try:
            self._credentials.refresh(Request(session=self._http))
        except google.auth.exceptions.RefreshError as exc:
            raise _refused(self.host, exc) from None
        except google.auth.exceptions.TransportError as exc:
            raise unreachable(self.host, exc) from None
        after = getattr(self._credentials, "refresh_token", None)
        if before and isinstance(after, str) and after and after != before:
            rotation.rotated(Secret(after))  # google-auth uses it from now on; saved for a restart
        value = self._credentials.token
        if not value:
            raise TokenError(self.host, "no_token", "no access token in the answer")
        expiry = self._credentials.expiry  # naive UTC (google-auth's convention)
        expires_at = calendar.timegm(expiry.timetuple()) if expiry is not None else time.time() + 3600
        return AccessToken(Secret(value), float(expires_at), self.host, self.client)


def service_account_info(key: Secret) -> dict[str, Any]:
    """The service account key file's JSON. Raises ValueError saying what is wrong (never
    quoting the key)."""
    if not key.is_set:
        raise ValueError(
            "set OAUTH2_SERVICE_ACCOUNT_FILE (the service account's JSON key) or, for a person's "
            "mailbox, OAUTH2_REFRESH_TOKEN with OAUTH2_CLIENT_ID and OAUTH2_CLIENT_SECRET"
        )
    try:
        info = json.loads(key.reveal())
    except ValueError:
        raise ValueError("OAUTH2_SERVICE_ACCOUNT is not JSON: use the key file Google downloads") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError('OAUTH2_SERVICE_ACCOUNT is not a service account key ("type": "service_account")')
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise ValueError(f"the service account key lacks {', '.join(missing)}")
    return info


def _refused(host: str, exc: google.auth.exceptions.RefreshError) -> TokenError:
    body = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(body, dict) and body.get("error"):
        return TokenError(host, str(body["error"]), str(body.get("error_description") or ""))
    return TokenError(host, "", str(exc.args[0]) if exc.args else "refused")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url
