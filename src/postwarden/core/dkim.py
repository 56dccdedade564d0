"""DKIM: sign outgoing mail, make key pairs and the TXT record to publish.

Signing happens once per delivery on the stored bytes, so a retry carries a fresh
signature over the same message. The key and selector come from ``DKIM_*``
(docs/spec/config.md); a key that cannot be parsed is a configuration error
(:class:`DkimKeyError`), never a send failure.

The signature is RFC 6376 rsa-sha256 with relaxed/relaxed canonicalization. dkimpy
parses the message and canonicalizes it (what it does well, and what verifiers run);
the RSA operation is OpenSSL's through ``cryptography``: dkimpy's own RSA is pure
Python, which capped a worker that signs far below what it sends unsigned
(docs/performance.md). The key is parsed once per signer, not per
message. tests/core/test_dkim.py verifies every signature with dkimpy, and with Perl's
Mail::DKIM, which (unlike dkimpy) shows what over-signing protects.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from postwarden.core.addresses import InvalidAddress, ascii_domain, normalize_domain
from postwarden.core.config.model import SigningSettings
from postwarden.core.i18n import Text
from postwarden.core.secrets import Secret

#: one character-string of a TXT record holds at most 255 octets (RFC 1035 §3.3.14);
#: a 2048-bit key does not fit in one, so the value is published as several strings
TXT_STRING_MAX = 255
#: headers that identify the message and what it says; dkimpy's default set also signs
#: headers such as Received that relays add, which is harmless but not needed here.
#: Each name is over-signed: ``h=`` lists it once more than the message has it, and the
#: extra entry signs an absent instance (RFC 6376 §5.4, §8.15), so nobody can add a
#: second Subject or From later (verifiers pick instances bottom-up, and a mail client may
#: show the added one) or add one that was missing. RFC 8058 §4 requires both
#: List-Unsubscribe headers to be signed.
SIGNED_HEADERS = (
    b"from",
    b"sender",
    b"reply-to",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
#: ``h=`` is folded into lines under 78 octets (FWS may surround each colon)
_H_LINE = 60
#: base64 characters of ``b=`` per folded line (RFC 5322 §2.1.1: lines under 78)
_B64_LINE = 72


class DkimKeyError(ValueError):
    """The private key in DKIM_PRIVATE_KEY cannot be used. Never contains the key."""


class UnsignableMessage(ValueError):
    """The message's header block cannot be parsed for signing: it will never be
    signable, so sending it is a permanent failure, not something to retry."""


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs messages for ``domain`` with ``selector``."""

    selector: str
    domain: str
    private_key: Secret
    #: the parsed key, loaded on first use (never shown: repr and comparisons skip it)
    _key: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, signing: SigningSettings, from_domain: str) -> Signer | None:
        """The signer for these settings, or None when signing is off. ``DKIM_DOMAIN``
        defaults to the From domain. Raises :class:`DkimKeyError` for an unusable key."""
        if not signing.enabled or not signing.selector:
            return None
        signer = cls(
            signing.selector, a_label(signing.domain or from_domain), _normalized(signing.private_key)
        )
        signer.check()
        return signer

    def check(self) -> None:
        """Raise :class:`DkimKeyError` unless the key can sign."""
        self._rsa()

    def header(self, raw: bytes) -> bytes:
        """The ``DKIM-Signature:`` header line (CRLF-terminated) for ``raw``. Raises
        :class:`DkimKeyError` for an unusable key, :class:`UnsignableMessage` for a header
        block that is not RFC 5322 (the relay refuses those; older stored mail may hold one)."""
        dkimpy = _dkimpy()
        relaxed = dkimpy.canonicalization.Relaxed
        try:
            headers, body = dkimpy.rfc822_parse(raw)
        except (dkimpy.MessageFormatError, IndexError) as exc:
            # IndexError: dkimpy's reading of a block that starts with a continuation line
            raise UnsignableMessage(f"the header block cannot be parsed for DKIM signing: {exc}") from None
        body_hash = base64.b64encode(hashlib.sha256(relaxed.canonicalize_body(body)).digest())
        # folded before signing: the verifier canonicalizes the header as it arrives,
        # and relaxed canonicalization turns each fold into one space either way
        canonical = relaxed.canonicalize_headers(headers)
        names = signed_names(canonical)
        tags = f" v=1; a=rsa-sha256; c=relaxed/relaxed; d={self.domain}; s={self.selector};\r\n"
        value = f"{tags}\tt={int(time.time())};\r\n\th={_folded(names)};\r\n\tbh=".encode()
        value += body_hash + b";\r\n\tb="
        signed = _signed_headers(canonical, names)
        # the signature header itself is hashed last, with an empty b= and no CRLF (§3.7)
        own = relaxed.canonicalize_headers([(b"DKIM-Signature", value)])[0]
        signed.append(own[0] + b":" + own[1][:-2])
        signature = self._rsa().sign(b"".join(signed), padding.PKCS1v15(), hashes.SHA256())
        b64 = base64.b64encode(signature)
        folded = b"\r\n\t ".join(b64[i : i + _B64_LINE] for i in range(0, len(b64), _B64_LINE))
        return b"DKIM-Signature:" + value + folded + b"\r\n"

    def sign(self, raw: bytes) -> bytes:
        """``raw`` with its DKIM-Signature header prepended."""
        return self.header(raw) + raw

    def _rsa(self) -> rsa.RSAPrivateKey:
        key = self._key
        if key is None:
            key = _load_rsa(self.private_key)
            object.__setattr__(self, "_key", key)  # a cache, not state: frozen for callers
        assert isinstance(key, rsa.RSAPrivateKey)
        return key


@cache
def _dkimpy() -> ModuleType:
    """dkimpy, imported on the first signature: importing it loads dnspython's resolver
    and its HTTP stack (a second of start-up on a busy machine), which a process that
    never signs (most workers, the sending child, every CLI command) does not need."""
    import dkim
    import dkim.canonicalization

    module: ModuleType = dkim  # untyped: Any until named
    return module


def signed_names(canonical: list[tuple[bytes, bytes]]) -> list[bytes]:
    """``h=`` for a message with these (relaxed-canonical) headers: each name of
    :data:`SIGNED_HEADERS` as many times as the message has it, plus once."""
    counts: dict[bytes, int] = {}
    for name, _ in canonical:
        counts[name] = counts.get(name, 0) + 1
    return [name for name in SIGNED_HEADERS for _ in range(counts.get(name, 0) + 1)]


def _folded(names: list[bytes]) -> str:
    lines, line = [], ""
    for name in (n.decode("ascii") for n in names):
        if line and len(line) + len(name) > _H_LINE:
            lines.append(line)
            line = ""
        line += f"{name}:"
    return "\r\n\t".join([*lines, line]).removesuffix(":")


def _signed_headers(canonical: list[tuple[bytes, bytes]], names: list[bytes]) -> list[bytes]:
    """Each relaxed-canonical header ``names`` lists, in that order: for a name that
    occurs more than once, instances are taken from the bottom up (RFC 6376 §5.4.2); an
    entry beyond the instances there are contributes nothing (it signs an absence)."""
    unused: dict[bytes, list[bytes]] = {}
    for name, value in canonical:
        unused.setdefault(name, []).append(name + b":" + value)
    return [unused[name].pop() for name in names if unused.get(name)]


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
    der = (
        _load_rsa(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode("ascii")


def _load_rsa(private_key: Secret) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_normalized(private_key).reveal().encode(), password=None)
    except (ValueError, TypeError):
        raise DkimKeyError(
            Text(
                "DKIM_PRIVATE_KEY is not a PEM private key (expected -----BEGIN PRIVATE KEY-----"
                " or -----BEGIN RSA PRIVATE KEY-----, without a passphrase)"
            )
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimKeyError(
            Text("DKIM_PRIVATE_KEY is a {kind}; DKIM here signs with RSA keys", kind=type(key).__name__)
        )
    return key


def txt_record(selector: str, domain: str, public_key: str) -> TxtRecord:
    """The TXT record for ``public_key`` (base64) at ``selector._domainkey.domain``."""
    value = f"v=DKIM1; k=rsa; p={public_key}"
    strings = tuple(value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX))
    return TxtRecord(f"{selector}._domainkey.{a_label(domain)}", value, strings)


def a_label(domain: str) -> str:
    """The lower-case ASCII (IDNA A-label) form ``d=`` and DNS take: ``Bücher.Example`` ->
    ``xn--bcher-kva.example``. A name IDNA cannot encode comes back lower-cased (and will
    not verify; the doctor's DNS check names it). IDNA 2008, as addresses are encoded, so
    ``d=`` stays aligned with the From domain."""
    try:
        return normalize_domain(domain)
    except InvalidAddress:
        return ascii_domain("@" + domain.strip().rstrip("."))


def _normalized(private_key: Secret) -> Secret:
    # Keys pasted into a .env or a compose file often arrive with literal "\n" and CRLF;
    # a PEM reader only finds the base64 between "--\n" and "\n--".
    text = private_key.reveal().replace("\\n", "\n").replace("\r\n", "\n").strip()
    return Secret(text + "\n")
