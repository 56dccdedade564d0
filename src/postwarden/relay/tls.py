"""The relay's TLS: the operator's certificate and key (POSTWARDEN_RELAY_CERT_FILE and
POSTWARDEN_RELAY_KEY_FILE), or a self-signed pair made once in the data directory.

A self-signed certificate encrypts but proves nothing, which is what an app on the same
machine or network needs from its own relay; apps either skip verification (Mattermost's
SkipServerCertificateVerification) or pin this certificate. RSA 2048 because every SMTP
client stack still speaks it (old Java, Perl's IO::Socket::SSL, Go, OpenSSL).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from postwarden.core.config.service import data_dir_lock

#: where the generated pair lives, under the data directory
DIRECTORY: Final = "relay-tls"
CERT_NAME, KEY_NAME = "cert.pem", "key.pem"
#: long enough never to surprise anyone; it is pinned or not checked, never trusted via a CA
VALID_FOR: Final = dt.timedelta(days=3650)


class TlsConfigError(ValueError):
    """The certificate or key cannot be used; the message names the file and the variable."""


def self_signed_pair(data_dir: Path, names: Sequence[str]) -> tuple[Path, Path]:
    """``(cert, key)`` under ``data_dir/relay-tls``, made on first use for ``names``
    (host names and IP addresses) and reused afterwards. The key file is mode 0600."""
    directory = data_dir / DIRECTORY
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    # two relays sharing the data directory starting at once must not each write half a pair
    with data_dir_lock(data_dir):
        if cert_path.exists() and key_path.exists():
            return cert_path, key_path
        _make_pair(directory, cert_path, key_path, names)
    return cert_path, key_path


def _make_pair(directory: Path, cert_path: Path, key_path: Path, names: Sequence[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(key, names)
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def default_names(listen_host: str) -> list[str]:
    """What the generated certificate names: this machine, loopback and the listen address."""
    names = [socket.getfqdn(), "localhost", "127.0.0.1", "::1"]
    if listen_host not in ("", "0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        names.append(listen_host)
    return list(dict.fromkeys(n for n in names if n))


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server-side context for STARTTLS and implicit TLS (TLS 1.2 or newer).
    Raises :class:`TlsConfigError`."""
    for path, variable in (
        (cert_file, "POSTWARDEN_RELAY_CERT_FILE"),
        (key_file, "POSTWARDEN_RELAY_KEY_FILE"),
    ):
        if not path.is_file():
            raise TlsConfigError(f"{path}: no such file ({variable})")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"{cert_file} and {key_file} are not a PEM certificate and its private key "
            f"(POSTWARDEN_RELAY_CERT_FILE / POSTWARDEN_RELAY_KEY_FILE): {exc}"
        ) from None
    return context


def _certificate(key: rsa.RSAPrivateKey, names: Sequence[str]) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Postwarden relay (self-signed)"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically: a relay killed halfway leaves no half a key behind."""
    partial = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
