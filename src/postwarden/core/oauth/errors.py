"""What goes wrong getting a token: the identity platform unreachable, or refusing.

The platform's words are kept as they came (``AADSTS7000215: Invalid client secret
provided …``, ``unauthorized_client: Client is unauthorized to retrieve access tokens
using this method …``): they are the evidence the doctor shows and the worker stores on
an attempt, and the reply knowledge base reads them (core/replies/oauth.py). They never
contain a secret: no credential is passed to these constructors.
"""

from __future__ import annotations

import re
from typing import Final

#: Microsoft appends request ids and a timestamp on new lines; they change every time
_TRAILER: Final = re.compile(r"\s*(?:Trace ID|Correlation ID|Timestamp):.*$", re.IGNORECASE | re.DOTALL)
_MAX_WORDS: Final = 600


class TokenError(Exception):
    """No token: ``host`` is the identity platform asked; ``error`` the OAuth2 error
    code (RFC 6749 §5.2: ``invalid_client``, ``invalid_grant`` …), empty when it could not
    be reached; ``description`` its words."""

    unreachable: bool = False

    def __init__(self, host: str, error: str, description: str) -> None:
        self.host = host
        self.error = error
        self.description = _tidy(description)
        super().__init__(self.text)

    @property
    def text(self) -> str:
        words = f"{self.error}: {self.description}" if self.error else self.description
        return f"token request to {self.host} failed: {words}"

    def __str__(self) -> str:
        return self.text


class TokenEndpointUnreachable(TokenError):
    """The token endpoint did not answer, or answered with something that is not OAuth2."""

    unreachable = True


def _tidy(text: str) -> str:
    text = _TRAILER.sub("", text or "").strip()
    text = " ".join(text.split())
    return text[:_MAX_WORDS] + ("…" if len(text) > _MAX_WORDS else "")
