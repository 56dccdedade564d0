"""An access token with its expiry, and the shape of every place tokens come from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from postwarden.core.i18n import Number, Text
from postwarden.core.secrets import Secret


@dataclass(frozen=True, slots=True)
class AccessToken:
    """``value`` is secret; ``expires_at`` is wall-clock (``time.time()``) seconds, as the
    token's own ``exp`` is; ``host`` the identity platform that issued it; ``client``
    who asked (the app's client id, or the service account)."""

    value: Secret
    expires_at: float
    host: str
    client: str

    def expires_in(self, now: float | None = None) -> int:
        return int(self.expires_at - (time.time() if now is None else now))

    def describe(self, now: float | None = None) -> str:
        """``token from login.microsoftonline.com for client 3f2c…, expires in 3599 s``
        (the token itself is never part of it)."""
        return Text(
            "token from {host} for client {client}, expires in {seconds} s",
            host=self.host,
            client=self.client,
            seconds=Number(self.expires_in(now)),
        )


class TokenSource(Protocol):
    """Fetches a new token, blocking (run it in a thread). Raises
    :class:`~postwarden.core.oauth.errors.TokenError`."""

    host: str
    client: str

    def fetch(self) -> AccessToken: ...
