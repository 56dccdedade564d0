"""Secrets saved in the console are stored sealed: encrypted and authenticated.

A :class:`Sealer` derives its Fernet key (AES-128-CBC + HMAC-SHA256) from
``POSTWARDEN_SECRET_KEY`` with HKDF-SHA256 and a fixed, purpose-specific salt and info,
so the service key is never used raw and the same key used for Django sessions yields
an unrelated encryption key (RFC 5869 3.1/3.2: salt and context separate the uses).

Tokens look like ``pw1:<fernet token>``; the prefix names the scheme and its version,
so a later scheme can be told apart and old tokens still read.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from postwarden.core.secrets import Secret

PREFIX: Final = "pw1:"
#: fixed per scheme: changing either makes every stored token unreadable
_SALT: Final = b"postwarden/sealing/v1"
_INFO: Final = b"fernet key for secrets stored in the database"


class UnsealError(ValueError):
    """A stored value that cannot be decrypted. The message never contains the token's
    content or the key."""


def generate_secret_key() -> str:
    """A new ``POSTWARDEN_SECRET_KEY``: 64 URL-safe characters (384 random bits)."""
    return secrets.token_urlsafe(48)


def _fernet(secret_key: Secret) -> Fernet:
    raw = secret_key.reveal().encode("utf-8")
    if not raw:
        raise ValueError("POSTWARDEN_SECRET_KEY is empty: stored secrets cannot be sealed without it")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(raw)
    return Fernet(base64.urlsafe_b64encode(derived))


class Sealer:
    """Seals and unseals stored secrets with a key derived from the service key.

    ``previous_keys`` are older service keys that can still unseal (rotation: seal with
    the new key, read with either, re-seal, then drop the old one).
    Raises ``ValueError`` when a key is empty.
    """

    __slots__ = ("_box",)

    def __init__(self, secret_key: Secret, *, previous_keys: Sequence[Secret] = ()) -> None:
        self._box = MultiFernet([_fernet(secret_key), *(_fernet(key) for key in previous_keys)])

    def __repr__(self) -> str:
        return "Sealer(secret_key=Secret('••••'))"

    def seal(self, value: str | Secret) -> str:
        """Encrypt ``value``; each call gives a different token (random IV)."""
        plain = value.reveal() if isinstance(value, Secret) else value
        return PREFIX + self._box.encrypt(plain.encode("utf-8")).decode("ascii")

    def unseal(self, token: str) -> Secret:
        """The value sealed in ``token``. Raises :class:`UnsealError` when the token is not
        ours, was made with another key, or was altered."""
        if not is_sealed(token):
            raise UnsealError(f"this value is not a sealed secret (it does not start with {PREFIX!r})")
        try:
            plain = self._box.decrypt(token[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise UnsealError(
                "this value was encrypted with another POSTWARDEN_SECRET_KEY (or was altered); "
                "re-enter it in the console"
            ) from None
        return Secret(plain.decode("utf-8"))

    def reseal(self, token: str) -> str:
        """``token`` re-encrypted with the current key (after a key rotation)."""
        return self.seal(self.unseal(token))


def is_sealed(value: str) -> bool:
    """Whether ``value`` looks like a token of this scheme (it may still fail to unseal)."""
    return isinstance(value, str) and value.startswith(PREFIX)
