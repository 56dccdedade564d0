"""One token for every connection of a worker: cached with its expiry, refreshed before
it runs out, and refreshed at once when a server refuses it.

Fetching blocks (msal and google-auth are synchronous), so it runs in a thread, under a
lock: when eight connections open together, one asks the identity platform and seven
wait for its answer. A refusal by the SMTP server names the token it refused
(``instead_of``), so eight connections refused with the same expired token cause one
refresh, not eight.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Final

from postwarden.core.config.model import OAuth2Provider, OAuth2Settings
from postwarden.core.oauth.token import AccessToken, TokenSource

#: a token is renewed this many seconds before it expires (at most a quarter of its life)
REFRESH_MARGIN: Final = 300.0


class TokenCache:
    """The current token of one :class:`TokenSource`; safe to share across threads and loops."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source
        self.fetches = 0
        self._token: AccessToken | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<TokenCache {self.source.host} client={self.source.client}>"

    async def get(self, *, instead_of: AccessToken | None = None) -> tuple[AccessToken, bool]:
        """A token that is not about to expire, and whether it was fetched just now.
        ``instead_of``: a token a server refused; it is not handed out again.

        Raises :class:`~postwarden.core.oauth.errors.TokenError`.
        """
        cached = self._usable(instead_of)
        if cached is not None:
            return cached, False
        return await asyncio.to_thread(self._get_blocking, instead_of)

    def _usable(self, instead_of: AccessToken | None) -> AccessToken | None:
        token = self._token
        if token is None or token is instead_of or time.time() >= self._renew_at:
            return None
        return token

    def _get_blocking(self, instead_of: AccessToken | None) -> tuple[AccessToken, bool]:
        with self._lock:
            cached = self._usable(instead_of)  # another thread may have fetched meanwhile
            if cached is not None:
                return cached, False
            token = self.source.fetch()
            self.fetches += 1
            lifetime = max(0.0, token.expires_at - time.time())
            self._token = token
            self._renew_at = token.expires_at - min(REFRESH_MARGIN, lifetime / 4)
            return token, True

    def forget(self) -> None:
        with self._lock:
            self._token = None


def source_for(settings: OAuth2Settings, *, user: str | None, timeout: float) -> TokenSource:
    """The token source the settings describe. Raises ValueError (a configuration error)
    when they are incomplete, saying what to set."""
    if settings.provider is OAuth2Provider.MICROSOFT:
        from postwarden.core.oauth.microsoft import MicrosoftSource  # msal loads only when used

        return MicrosoftSource(settings, timeout=timeout)
    if settings.provider is OAuth2Provider.GOOGLE:
        from postwarden.core.oauth.google import GoogleSource

        if not user and not settings.delegated:
            raise ValueError("SMTP_USER must be the mailbox the service account sends as")
        return GoogleSource(settings, subject=user or "", timeout=timeout)
    from postwarden.core.oauth.generic import GenericSource

    return GenericSource(settings, timeout=timeout)
