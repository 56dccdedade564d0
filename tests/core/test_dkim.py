"""core/dkim.py: signing (verified with dkimpy), keys as people paste them, the TXT record."""

from __future__ import annotations

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postwarden.core.config.model import SigningSettings
from postwarden.core.dkim import DkimKeyError, Signer, generate_key, public_key_of, txt_record
from postwarden.core.secrets import Secret

MESSAGE = (
    b"From: Ops <ops@example.com>\r\nTo: alice@example.org\r\nSubject: Hello\r\n"
    b"Message-ID: <1@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHi there\r\n"
)
KEY = generate_key(1024)


def verify(signed: bytes, record: str) -> bool:
    return bool(dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode()))


def test_it_signs_so_that_the_published_record_verifies() -> None:
    signer = Signer.from_settings(SigningSettings(selector="s1", private_key=KEY), "example.com")
    assert signer is not None
    signed = signer.sign(MESSAGE)
    assert signed.endswith(MESSAGE)
    assert b"d=example.com;" in signed
    assert b" s=s1;" in signed
    assert verify(signed, txt_record("s1", "example.com", public_key_of(KEY)).value)
    tampered = signed.replace(b"Hi there", b"Hi thera")
    assert not verify(tampered, txt_record("s1", "example.com", public_key_of(KEY)).value)


def test_it_reads_a_key_pasted_with_literal_backslash_n_and_crlf() -> None:
    pasted = Secret(KEY.reveal().strip().replace("\n", "\\n"))
    crlf = Secret(KEY.reveal().replace("\n", "\r\n"))
    for key in (pasted, crlf):
        signer = Signer.from_settings(
            SigningSettings(domain="Example.com", selector="s1", private_key=key), "other.example"
        )
        assert signer is not None
        assert signer.domain == "example.com"
        assert verify(signer.sign(MESSAGE), txt_record("s1", "example.com", public_key_of(KEY)).value)


def test_it_is_off_without_a_key_or_a_selector() -> None:
    assert Signer.from_settings(SigningSettings(selector="s1"), "example.com") is None
    assert Signer.from_settings(SigningSettings(private_key=KEY), "example.com") is None


def test_it_refuses_an_unusable_key_without_showing_it() -> None:
    distinctive = "-----BEGIN PRIVATE KEY-----\nNOTAKEYdistinctive42\n-----END PRIVATE KEY-----\n"
    with pytest.raises(DkimKeyError) as caught:
        Signer.from_settings(SigningSettings(selector="s1", private_key=Secret(distinctive)), "example.com")
    assert "NOTAKEYdistinctive42" not in str(caught.value)
    assert "DKIM_PRIVATE_KEY is not a PEM private key" in str(caught.value)
    other = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(DkimKeyError, match="Ed25519PrivateKey; DKIM here signs with RSA keys"):
        public_key_of(Secret(other))


def test_it_splits_the_record_into_strings_of_at_most_255_octets() -> None:
    record = txt_record("sel", "Example.COM.", "A" * 600)
    assert record.name == "sel._domainkey.example.com"
    assert [len(s) for s in record.strings] == [255, 255, 108]
    assert "".join(record.strings) == record.value == "v=DKIM1; k=rsa; p=" + "A" * 600
    assert record.zone_line().startswith('sel._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=AAA')


KEY_2048 = generate_key(2048)
AWKWARD = (
    b"From: Ops <ops@example.com>\r\nTo: alice@example.org,\r\n\t  bob@example.org\r\n"
    b"Subject:   Many    spaces \t here  \r\nX-Trace: not signed\r\nTo: carol@example.org\r\n"
    b"Message-ID: <2@example.com>\r\nDATE: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n"
    b"Line with trailing space   \r\n\tTabbed  \t words\r\n\r\n\r\n\r\n"
)


def signer_2048() -> Signer:
    signer = Signer.from_settings(SigningSettings(selector="s2", private_key=KEY_2048), "example.com")
    assert signer is not None
    return signer


def record_2048() -> str:
    return txt_record("s2", "example.com", public_key_of(KEY_2048)).value


def test_it_signs_a_2048_bit_key_with_a_folded_signature_that_dkimpy_verifies() -> None:
    signed = signer_2048().sign(MESSAGE)
    header = signed[: -len(MESSAGE)]
    assert header.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s2;")
    assert header.endswith(b"\r\n")
    assert header.count(b"\r\n") >= 5
    assert max(len(line) for line in header.split(b"\r\n")) < 78  # RFC 5322 2.1.1
    assert verify(signed, record_2048())
    assert not verify(signed, txt_record("s2", "example.com", public_key_of(KEY)).value)


def test_it_canonicalizes_folds_spaces_case_repeats_and_trailing_blank_lines_as_dkimpy_does() -> None:
    signed = signer_2048().sign(AWKWARD)
    assert verify(signed, record_2048())
    # relaxed/relaxed: whitespace inside a line and blank lines at the end do not matter...
    assert verify(signed.replace(b"Many    spaces", b"Many spaces").removesuffix(b"\r\n\r\n"), record_2048())
    # ...an unsigned header may be added or changed...
    assert verify(signed.replace(b"X-Trace: not signed", b"X-Trace: changed by a relay"), record_2048())


def test_it_fails_verification_when_a_signed_or_oversigned_header_changes() -> None:
    signed = signer_2048().sign(AWKWARD)
    record = record_2048()
    # the second To (the bottom one is signed first, RFC 6376 5.4.2) and the body
    assert not verify(signed.replace(b"carol@", b"mallory@"), record)
    assert not verify(signed.replace(b"Tabbed", b"Tapped"), record)
    # Cc is listed in h= though absent: adding one later breaks the signature
    assert not verify(signed.replace(b"X-Trace:", b"Cc: eve@example.net\r\nX-Trace:"), record)


def test_it_keeps_the_parsed_key_out_of_repr_and_comparisons() -> None:
    first, second = signer_2048(), signer_2048()
    first.sign(MESSAGE)  # loads and caches the key in the first only
    assert first == second
    text = repr(first)
    assert "BEGIN" not in text
    assert "RSAPrivateKey" not in text
    assert KEY_2048.reveal()[40:80] not in text
