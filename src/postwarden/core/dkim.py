"""DKIM: sign outgoing mail (dkimpy), make key pairs and the TXT record to publish.

Signing happens once per delivery on the stored bytes, so a retry carries a fresh
signature over the same message. The key and selector come from ``DKIM_*``
(spec/config.md); a key that cannot be parsed is a configuration error
(:class:`DkimKeyError`), never a send failure.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postwarden.core.config.model import SigningSettings
from postwarden.core.secrets import Secret

#: one character-string of a TXT record holds at most 255 octets (RFC 1035 §3.3.14);
#: a 2048-bit key does not fit in one, so the value is published as several strings
TXT_STRING_MAX = 255
#: headers that identify the message and what it says; dkimpy's default set also signs
#: headers such as Received that relays add, which is harmless but not needed here
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
)


class DkimKeyError(ValueError):
    """The private key in DKIM_PRIVATE_KEY cannot be used. Never contains the key."""


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs messages for ``domain`` with ``selector``."""

    selector: str
    domain: str
    private_key: Secret

    @classmethod
    def from_settings(cls, signing: SigningSettings, from_domain: str) -> Signer | None:
        """The signer for these settings, or None when signing is off. ``DKIM_DOMAIN``
        defaults to the From domain. Raises :class:`DkimKeyError` for an unusable key."""
        if not signing.enabled or not signing.selector:
            return None
        signer = cls(
            signing.selector, (signing.domain or from_domain).lower(), _normalized(signing.private_key)
        )
        signer.check()
        return signer

    def check(self) -> None:
        """Raise :class:`DkimKeyError` unless the key can sign."""
        public_key_of(self.private_key)

    def header(self, raw: bytes) -> bytes:
        """The ``DKIM-Signature:`` header line (CRLF-terminated) for ``raw``."""
        try:
            return bytes(
                dkim.sign(
                    raw,
                    self.selector.encode(),
                    self.domain.encode(),
                    self.private_key.reveal().encode(),
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=list(SIGNED_HEADERS),
                )
            )
        except dkim.KeyFormatError as exc:
            raise DkimKeyError(
                f"DKIM_PRIVATE_KEY is not a usable RSA private key: {type(exc).__name__}"
            ) from None

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with its DKIM-Signature header prepended."""
        return self.header(raw) + raw


@dataclass(frozen=True, slots=True)
class TxtRecord:
    """The record to publish: ``name IN TXT strings``."""

    name: str
    value: str
    #: ``value`` split into DNS character-strings of at most 255 octets
    strings: tuple[str, ...]

    def zone_line(self) -> str:
        """A line for a zone file or a DNS console that takes quoted strings."""
        quoted = " ".join(f'"{part}"' for part in self.strings)
        return f"{self.name}. IN TXT ( {quoted} )"


def generate_key(bits: int = 2048) -> Secret:
    """A new RSA private key, PEM (PKCS#8). RFC 8301 requires at least 1024 bits;
    2048 is what mailbox providers expect today. Raises ValueError for other sizes."""
    if bits not in (1024, 2048, 3072, 4096):
        raise ValueError(f"--bits must be 1024, 2048, 3072 or 4096, not {bits}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Secret(pem.decode("ascii"))


def public_key_of(private_key: Secret) -> str:
    """The base64 SubjectPublicKeyInfo of the key (the ``p=`` of the TXT record).
    Raises :class:`DkimKeyError` for anything that is not an RSA private key."""
    try:
        key = serialization.load_pem_private_key(_normalized(private_key).reveal().encode(), password=None)
    except (ValueError, TypeError):
        raise DkimKeyError(
            "DKIM_PRIVATE_KEY is not a PEM private key (expected -----BEGIN PRIVATE KEY-----"
            " or -----BEGIN RSA PRIVATE KEY-----, without a passphrase)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimKeyError(f"DKIM_PRIVATE_KEY is a {type(key).__name__}; dkimpy signs with RSA keys")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def txt_record(selector: str, domain: str, public_key: str) -> TxtRecord:
    """The TXT record for ``public_key`` (base64) at ``selector._domainkey.domain``."""
    value = f"v=DKIM1; k=rsa; p={public_key}"
    strings = tuple(value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX))
    return TxtRecord(f"{selector}._domainkey.{domain.rstrip('.').lower()}", value, strings)


def _normalized(private_key: Secret) -> Secret:
    # Keys pasted into a .env or a compose file often arrive with literal "\n" and CRLF;
    # dkimpy's PEM reader only finds the base64 between "--\n" and "\n--".
    text = private_key.reveal().replace("\\n", "\n").replace("\r\n", "\n").strip()
    return Secret(text + "\n")
