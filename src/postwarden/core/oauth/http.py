"""The one HTTP session every token request goes through (msal, google-auth, generic).

Certificates are verified against the system trust store with OpenSSL's defaults, which
honour ``SSL_CERT_FILE``: the same trust the SMTP session uses (core/smtp/tls.py), not
the ``certifi`` bundle requests would pick on its own. Every request is bounded by the
timeout, since neither library bounds one by default.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter

from postwarden.core.oauth.errors import TokenEndpointUnreachable


class _SystemTrust(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = ssl.create_default_context()
        super().init_poolmanager(*args, **kwargs)


class TokenHttp(requests.Session):
    """A requests session with system trust and a timeout on every request."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout
        self.mount("https://", _SystemTrust())

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        given = kwargs.get("timeout")
        # google-auth passes its own 120 s; ours (the SMTP timeout, the doctor's) bounds it
        kwargs["timeout"] = min(given, self.timeout) if isinstance(given, int | float) else self.timeout
        return super().request(method, url, *args, **kwargs)


#: urllib3 puts the connection object's repr in front of the reason
_OBJECT_REPR: Final = re.compile(r"<[^<>]*object at 0x[0-9a-fA-F]+>:?\s*")


def unreachable(host: str, exc: BaseException) -> TokenEndpointUnreachable:
    """The error for a token request that got no OAuth2 answer: the innermost reason
    ("Connection refused", "certificate verify failed", "Read timed out")."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return TokenEndpointUnreachable(host, "", f"HTTP {exc.response.status_code} {exc.response.reason}")
    reason: object = exc
    while isinstance(reason, BaseException) and reason.args and isinstance(reason.args[0], BaseException):
        reason = reason.args[0]
    reason = getattr(reason, "reason", reason)
    # urllib3 keeps (connection, message) in args: the message is the words
    words = [a for a in getattr(reason, "args", ()) if isinstance(a, str)]
    text = _OBJECT_REPR.sub("", words[-1] if words else str(reason)) or type(reason).__name__
    kind = "timed out" if isinstance(exc, requests.Timeout) else "no answer"
    return TokenEndpointUnreachable(host, "", f"{kind}: {text}")
