"""VERP return paths: an envelope sender per recipient that names the message and the
recipient, authenticated so that a forged bounce cannot suppress anyone.

``bounces+<token>@BOUNCE_DOMAIN`` with ``<token> = <message>.<recipient>.<mac>``: the two
row ids in base 36 and 16 base-32 characters (80 bits) of an HMAC-SHA256 over them, keyed
with a key derived from ``POSTWARDEN_SECRET_KEY`` by HKDF with a purpose of its own (as
:mod:`postwarden.core.sealing` derives its key), so the service key is never used raw.

Everything in the token is lower-case letters, digits and dots: MTAs that fold the local
part's case (some do, although RFC 5321 2.4 says not to) keep it valid. The check needs no
database: the bounce listener refuses a bad token at RCPT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from postwarden.core.secrets import Secret

#: the local part before the token: ``bounces+<token>@domain``
PREFIX: Final = "bounces+"
#: fixed per scheme: changing either makes every return path in flight unreadable
_SALT: Final = b"postwarden/verp/v1"
_INFO: Final = b"hmac key for VERP return paths"
_MAC_CHARS: Final = 16
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


class BadToken(ValueError):
    """A return path that is not ours or whose MAC does not verify. The message says why,
    never the expected MAC."""


@dataclass(frozen=True, slots=True)
class Target:
    """What a valid token names: the ``Message`` and ``Recipient`` row ids."""

    message_pk: int
    recipient_pk: int


def _b36(number: int) -> str:
    if number < 0:
        raise ValueError("row ids are not negative")
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if not number:
            return out


def _int36(text: str) -> int:
    if not text or len(text) > 13 or any(c not in _DIGITS for c in text):
        raise BadToken("the token's ids are not base-36 numbers")
    return int(text, 36)


class Verp:
    """Makes and checks return paths under ``domain``."""

    __slots__ = ("_key", "domain")

    def __init__(self, domain: str, secret_key: Secret) -> None:
        raw = secret_key.reveal().encode("utf-8")
        if not raw:
            raise ValueError("POSTWARDEN_SECRET_KEY is empty: return paths cannot be authenticated")
        if not domain:
            raise ValueError("BOUNCE_DOMAIN is empty")
        self.domain = domain.lower()
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(raw)

    def __repr__(self) -> str:
        return f"Verp(domain={self.domain!r})"

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii").lower()[:_MAC_CHARS]

    def token(self, message_pk: int, recipient_pk: int) -> str:
        body = f"{_b36(message_pk)}.{_b36(recipient_pk)}"
        return f"{body}.{self._mac(body)}"

    def address(self, message_pk: int, recipient_pk: int) -> str:
        """The return path of one recipient of one message."""
        return f"{PREFIX}{self.token(message_pk, recipient_pk)}@{self.domain}"

    def is_ours(self, address: str) -> bool:
        """Whether ``address`` is a bounce address of this domain (valid token or not)."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        return domain.lower().rstrip(".") == self.domain and local.lower().startswith(PREFIX)

    def check(self, address: str) -> Target:
        """The message and recipient ``address`` names. Raises :class:`BadToken` when it is
        not a bounce address of this domain or its MAC does not verify."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        if domain.lower().rstrip(".") != self.domain:
            raise BadToken(f"not the bounce domain {self.domain}")
        local = local.lower()
        if not local.startswith(PREFIX):
            raise BadToken(f"the local part does not start with {PREFIX!r}")
        parts = local[len(PREFIX) :].split(".")
        if len(parts) != 3:
            raise BadToken("the token does not have three parts")
        message, recipient, mac = parts
        target = Target(_int36(message), _int36(recipient))
        if not hmac.compare_digest(
            mac.encode("ascii", "replace"), self._mac(f"{message}.{recipient}").encode()
        ):
            raise BadToken("the token's MAC does not verify (forged, or made with another secret key)")
        return target
