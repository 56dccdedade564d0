"""TLS for the session: the client context, and what the handshake established.

Certificates are verified against the system trust store, which honours
``SSL_CERT_FILE``/``SSL_CERT_DIR`` (OpenSSL reads them when the context loads its
defaults), so the context is built at connect time and a test or an operator can point
it elsewhere without restarting anything.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

How = Literal["implicit", "starttls"]


def client_context(*, verify: bool = True) -> ssl.SSLContext:
    """A client context: the system's trust store and hostname checking, or neither
    when the operator turned verification off (``verify=False``). Python's defaults
    already refuse SSLv3/TLS 1.0/1.1."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """The negotiated TLS session and the server's certificate, as the doctor shows it."""

    how: How
    version: str | None
    cipher: str | None
    #: False when the operator turned verification off
    verified: bool
    #: RFC 4514 form, e.g. ``"CN=mail.example.com"``
    subject: str | None = None
    issuer: str | None = None
    #: ``("DNS:mail.example.com", "IP:192.0.2.1")``
    san: tuple[str, ...] = ()
    not_after: datetime | None = None


def tls_info(ssl_object: ssl.SSLObject | None, *, how: How, verified: bool) -> TlsInfo:
    """Read version, cipher and certificate from an established TLS connection."""
    if ssl_object is None:
        return TlsInfo(how=how, version=None, cipher=None, verified=verified)
    cipher = ssl_object.cipher()
    info = TlsInfo(
        how=how, version=ssl_object.version(), cipher=cipher[0] if cipher else None, verified=verified
    )
    der = ssl_object.getpeercert(binary_form=True)
    return _with_certificate(info, der) if der else info


def _with_certificate(info: TlsInfo, der: bytes) -> TlsInfo:
    # The stdlib decodes a certificate only when it was verified; cryptography (already a
    # dependency) reads it either way, so an unverified connection still shows what it got.
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    san: tuple[str, ...] = ()
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        san = tuple(f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)) + tuple(
            f"IP:{ip}" for ip in names.get_values_for_type(x509.IPAddress)
        )
    return TlsInfo(
        how=info.how,
        version=info.version,
        cipher=info.cipher,
        verified=info.verified,
        subject=cert.subject.rfc4514_string() or None,
        issuer=cert.issuer.rfc4514_string() or None,
        san=san,
        not_after=cert.not_valid_after_utc,
    )
