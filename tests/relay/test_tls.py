"""The relay's certificate: the operator's files, or a self-signed pair made once in the
data directory (and reused), and errors that name the variable to fix."""

from __future__ import annotations

import smtplib
import ssl
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import trustme
from cryptography import x509

from postwarden.core.config.model import RelaySettings
from postwarden.relay import tls
from postwarden.relay.server import config_from_settings
from tests.relay.helpers import RelayThread, relay_settings

Factory = Callable[..., RelayThread]


def test_it_makes_a_self_signed_pair_on_first_start_and_keeps_it(tmp_path: Path) -> None:
    settings = relay_settings(tmp_path)
    config_from_settings(settings)
    cert_path, key_path = tmp_path / "relay-tls" / "cert.pem", tmp_path / "relay-tls" / "key.pem"
    first = (cert_path.read_bytes(), key_path.read_bytes())
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    config_from_settings(settings)
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first
    cert = x509.load_pem_x509_certificate(first[0])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1"} <= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert cert.issuer == cert.subject


@pytest.mark.django_db(transaction=True)
def test_it_serves_the_self_signed_certificate_to_a_client_that_pins_it(
    relay_factory: Factory, tmp_path: Path
) -> None:
    settings = relay_settings(tmp_path)
    generated = config_from_settings(settings)
    relay = relay_factory(settings, tls_context=generated.tls_context)
    pinned = ssl.create_default_context(cafile=str(tmp_path / "relay-tls" / "cert.pem"))
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        assert client.starttls(context=pinned)[0] == 220
        assert client.sock is not None
        assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert client.noop()[0] == 250


@pytest.mark.django_db(transaction=True)
def test_it_serves_the_operators_certificate_files(
    relay_factory: Factory, tmp_path: Path, server_cert: trustme.LeafCert, ca: trustme.CA
) -> None:
    cert_file, key_file = tmp_path / "relay.crt", tmp_path / "relay.key"
    server_cert.cert_chain_pems[0].write_to_path(str(cert_file))
    server_cert.private_key_pem.write_to_path(str(key_file))
    settings = replace(relay_settings(tmp_path), relay=RelaySettings(cert_file=cert_file, key_file=key_file))
    relay = relay_factory(settings, tls_context=config_from_settings(settings).tls_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with smtplib.SMTP_SSL("localhost", relay.smtps_port, context=trusting, timeout=10) as client:
        assert client.noop()[0] == 250
    assert not (tmp_path / "relay-tls").exists()  # nothing generated when files are given


def test_it_names_the_variables_when_the_files_cannot_be_used(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(tls.TlsConfigError, match=r"nope\.pem: no such file \(POSTWARDEN_RELAY_CERT_FILE"):
        tls.server_context(missing, missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(tls.TlsConfigError, match="are not a PEM certificate and its private key"):
        tls.server_context(junk, junk)
