"""The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636 S256) for Google and any
other platform (``OAUTH2_PROVIDER=generic``), through ``oauthlib``: Connect account in the
console and ``postwarden oauth2 connect`` on the command line. Microsoft's goes through
msal (delegated.py).

The flow kept between the two steps holds the ``state`` and the PKCE verifier; the answer
is accepted only with the same state, and the code is traded with the verifier. Google
returns a refresh token only with ``access_type=offline``, and again for a person who
consented before only with ``prompt=consent``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import WebApplicationClient
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from postwarden.core.config.model import (
    GOOGLE_AUTHORIZATION_URL,
    GOOGLE_SCOPE,
    GOOGLE_TOKEN_URL,
    OAuth2Provider,
    OAuth2Settings,
)
from postwarden.core.oauth.errors import TokenEndpointUnreachable, TokenError
from postwarden.core.oauth.http import TokenHttp, unreachable
from postwarden.core.secrets import Secret

#: the flow's marker, so a callback never feeds an msal flow to oauthlib or back
KIND: Final = "pkce"
_GOOGLE_EXTRAS: Final = {"access_type": "offline", "prompt": "consent"}


def _endpoints(settings: OAuth2Settings) -> tuple[str, str, str]:
    """(authorization URL, token URL, scope). Raises ValueError naming what to set."""
    if not settings.client_id:
        raise ValueError("set OAUTH2_CLIENT_ID first (the OAuth client of the app)")
    if settings.provider is OAuth2Provider.GOOGLE:
        return (
            settings.authorization_url or GOOGLE_AUTHORIZATION_URL,
            settings.token_url or GOOGLE_TOKEN_URL,
            settings.scope or GOOGLE_SCOPE,
        )
    if not settings.authorization_url or not settings.token_url:
        raise ValueError(
            "set OAUTH2_AUTHORIZATION_URL and OAUTH2_TOKEN_URL for OAUTH2_PROVIDER=generic "
            "(the platform's authorization and token endpoints)"
        )
    return settings.authorization_url, settings.token_url, settings.scope or ""


def start(
    settings: OAuth2Settings, *, redirect_uri: str, login_hint: str | None
) -> tuple[str, dict[str, str]]:
    """The URL to send the person to, and the flow to keep until they come back."""
    authorize, _, scope = _endpoints(settings)
    client = WebApplicationClient(settings.client_id)
    verifier = client.create_code_verifier(64)
    state = secrets.token_urlsafe(24)
    extras: dict[str, str] = dict(_GOOGLE_EXTRAS) if settings.provider is OAuth2Provider.GOOGLE else {}
    if login_hint:
        extras["login_hint"] = login_hint
    url = client.prepare_request_uri(
        authorize,
        redirect_uri=redirect_uri,
        scope=scope.split() or None,
        state=state,
        code_challenge=client.create_code_challenge(verifier, "S256"),
        code_challenge_method="S256",
        **extras,
    )
    flow = {"kind": KIND, "state": state, "verifier": verifier, "redirect_uri": redirect_uri}
    return str(url), flow


def finish(
    settings: OAuth2Settings, flow: Mapping[str, Any], answer: Mapping[str, str], *, timeout: float
) -> Secret:
    """The refresh token for the platform's answer (the callback's query). Raises
    TokenError: a state that is not this flow's, a refusal, no refresh token."""
    _, token_url, scope = _endpoints(settings)
    host = urlsplit(token_url).netloc or token_url
    if flow.get("kind") != KIND:
        raise TokenError(host, "invalid_request", "the sign-in was started for another identity platform")
    code = _code(flow, answer, host)
    client = WebApplicationClient(settings.client_id)
    redirect_uri = str(flow["redirect_uri"])
    body = client.prepare_request_body(
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=str(flow["verifier"]),
        include_client_id=True,
        client_secret=settings.client_secret.reveal() or None,
    )
    try:
        response = TokenHttp(timeout).post(
            token_url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise unreachable(host, exc) from None
    return _refresh_token(client, response, host, scope)


def _code(flow: Mapping[str, Any], answer: Mapping[str, str], host: str) -> str:
    # checked here rather than by oauthlib's parser, which refuses an http:// redirect URI
    # (the loopback one of the command line, a console behind plain HTTP on a LAN)
    if not secrets.compare_digest(str(answer.get("state", "")), str(flow.get("state", ""))):
        raise TokenError(
            host, "invalid_request", "the answer's state is not this sign-in's (start Connect again)"
        )
    if answer.get("error"):  # RFC 6749 4.1.2.1: the person declined, or the request was refused
        raise TokenError(host, str(answer["error"]), str(answer.get("error_description") or ""))
    code = answer.get("code")
    if not code:
        raise TokenError(host, "invalid_request", "the answer holds no authorization code")
    return str(code)


def _refresh_token(
    client: WebApplicationClient, response: requests.Response, host: str, scope: str
) -> Secret:
    try:
        token = client.parse_request_body_response(response.text, scope=scope.split() or None)
    except OAuth2Error as exc:
        raise TokenError(host, exc.error, exc.description or "") from None
    except ValueError:
        raise TokenEndpointUnreachable(
            host, "", f"HTTP {response.status_code} {response.reason}: the answer is not OAuth2 JSON"
        ) from None
    except Warning:  # oauthlib warns (raises) when the granted scope differs from the asked
        token = response.json()
    refresh = token.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        return Secret(refresh)
    raise TokenError(
        host,
        "no_refresh_token",
        "the answer holds no refresh token (Google: access_type=offline and prompt=consent were asked; "
        "other platforms: allow offline access for the client)",
    )
