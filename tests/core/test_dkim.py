"""core/dkim.py: signing (verified with dkimpy), keys as people paste them, the TXT record."""

from __future__ import annotations

import re

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from postwarden.core.config.model import SigningSettings
from postwarden.core.dkim import DkimKeyError, Signer, generate_key, public_key_of, txt_record
from postwarden.core.secrets import Secret
from tests.dnsd import DnsTestServer
from tests.mail_dkim import mail_dkim

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


# ---------------------------------------------------------------------------------
# h= pinned, and an independent verifier (Perl's Mail::DKIM) on every signed header

FULL = (
    b"From: Ops <ops@example.com>\r\nReply-To: help@example.com\r\nTo: alice@example.org\r\n"
    b"Subject: Your invoice\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <3@example.com>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"List-Unsubscribe: <https://example.com/u/1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"X-App: 7\r\n\r\nPay by Friday.\r\n"
)
#: every signed name once more than FULL has it: a present header is over-signed, an
#: absent one (Sender, Cc, In-Reply-To, References, Content-Transfer-Encoding) signed absent
FULL_H = (
    "from:from:sender:reply-to:reply-to:to:to:cc:subject:subject:date:date:message-id:message-id:"
    "in-reply-to:references:mime-version:mime-version:content-type:content-type:"
    "content-transfer-encoding:list-unsubscribe:list-unsubscribe:list-unsubscribe-post:"
    "list-unsubscribe-post"
)
#: (header as in FULL, a changed value) for each signed header the message has
CHANGES = [
    (b"From: Ops <ops@example.com>", b"From: Ops <ops@example.net>"),
    (b"Reply-To: help@example.com", b"Reply-To: help@evil.example"),
    (b"To: alice@example.org", b"To: bob@example.org"),
    (b"Subject: Your invoice", b"Subject: Your invoices"),
    (b"Date: Mon, 2 Mar 2026 10:00:00 +0000", b"Date: Tue, 3 Mar 2026 10:00:00 +0000"),
    (b"Message-ID: <3@example.com>", b"Message-ID: <4@example.com>"),
    (b"MIME-Version: 1.0", b"MIME-Version: 1.1"),
    (b"Content-Type: text/plain; charset=utf-8", b"Content-Type: text/html; charset=utf-8"),
    (b"List-Unsubscribe: <https://example.com/u/1>", b"List-Unsubscribe: <https://evil.example/u/1>"),
    (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: List-Unsubscribe=Two"),
]
#: a second instance of each over-signed header, or a first one of an absent header
ADDED = [
    b"From: Evil <evil@example.net>",
    b"Sender: evil@example.net",
    b"Reply-To: evil@example.net",
    b"To: eve@example.net",
    b"Cc: eve@example.net",
    b"Subject: Urgent: pay elsewhere",
    b"Date: Tue, 3 Mar 2026 10:00:00 +0000",
    b"Message-ID: <5@evil.example>",
    b"In-Reply-To: <6@evil.example>",
    b"References: <6@evil.example>",
    b"MIME-Version: 1.0",
    b"Content-Type: text/html",
    b"Content-Transfer-Encoding: base64",
    b"List-Unsubscribe: <https://evil.example/u>",
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
]


@pytest.fixture
def published(dns_server: DnsTestServer) -> DnsTestServer:
    quoted = " ".join(f'"{s}"' for s in txt_record("s2", "example.com", public_key_of(KEY_2048)).strings)
    dns_server.load(f"s2._domainkey.example.com. 300 IN TXT {quoted}")
    return dns_server


def h_tag(signed: bytes) -> str:
    header = signed[: signed.index(b"\r\n", signed.index(b"b=")) + 2].decode()
    found = re.search(r"\bh=([^;]*);", header)
    assert found is not None
    return re.sub(r"\s", "", found.group(1))


def test_it_signs_exactly_this_header_list_oversigning_each_name() -> None:
    assert h_tag(signer_2048().sign(FULL)) == FULL_H
    # two To fields: three entries, so a third cannot be added
    assert h_tag(signer_2048().sign(b"To: a@example.org\r\n" + FULL)).startswith(
        "from:from:sender:reply-to:reply-to:to:to:to:cc:"
    )


def test_mail_dkim_passes_the_untouched_message_and_fails_every_changed_signed_header(
    published: DnsTestServer,
) -> None:
    signed = signer_2048().sign(FULL)
    assert mail_dkim(signed, published) == "pass"
    assert published.asked("s2._domainkey.example.com", "TXT")
    for before, after in CHANGES:
        assert signed.count(before) == 1
        changed = signed.replace(before, after)
        assert mail_dkim(changed, published).startswith("fail"), before
        assert not verify(changed, record_2048()), before
    assert mail_dkim(signed.replace(b"Pay by Friday.", b"Pay by Monday."), published).startswith("fail")
    # what is not signed may change: the verifier is not failing everything
    assert mail_dkim(signed.replace(b"X-App: 7", b"X-App: 8"), published) == "pass"


@pytest.mark.parametrize("where", ["top", "bottom"])
def test_mail_dkim_fails_when_a_second_instance_of_a_signed_header_is_added(
    published: DnsTestServer, where: str
) -> None:
    signed = signer_2048().sign(FULL)
    for line in ADDED:
        if where == "top":  # above the signature, where a relay puts its headers
            tampered = line + b"\r\n" + signed
        else:  # at the end of the header block
            tampered = signed.replace(b"\r\n\r\nPay by", b"\r\n" + line + b"\r\n\r\nPay by")
        assert mail_dkim(tampered, published).startswith("fail"), line


def test_mail_dkim_sees_the_gap_over_signing_closes(published: DnsTestServer) -> None:
    """The verifier is able to tell: a signature that lists Subject once (dkimpy's own
    signer, as the relay signed before over-signing) still passes Mail::DKIM after a
    second Subject is added on top."""
    header = dkim.sign(
        FULL,
        b"s2",
        b"example.com",
        KEY_2048.reveal().encode(),
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    once = header + FULL
    assert mail_dkim(once, published) == "pass"
    assert mail_dkim(b"Subject: Urgent: pay elsewhere\r\n" + once, published) == "pass"
    ours = signer_2048().sign(FULL)
    assert mail_dkim(b"Subject: Urgent: pay elsewhere\r\n" + ours, published).startswith("fail")


def test_it_writes_d_as_the_a_label_and_mail_dkim_verifies_it(dns_server: DnsTestServer) -> None:
    signer = Signer.from_settings(
        SigningSettings(domain="Bücher.Example", selector="s2", private_key=KEY_2048), "example.com"
    )
    assert signer is not None
    signed = signer.sign(FULL)
    assert b"d=xn--bcher-kva.example;" in signed
    assert signed.isascii()
    record = txt_record("s2", "Bücher.Example", public_key_of(KEY_2048))
    assert record.name == "s2._domainkey.xn--bcher-kva.example"
    dns_server.load(f"{record.name}. 300 IN TXT " + " ".join(f'"{s}"' for s in record.strings))
    assert mail_dkim(signed, dns_server) == "pass"
    # the From domain as the fallback d= is written the same way
    fallback = Signer.from_settings(SigningSettings(selector="s2", private_key=KEY_2048), "Bücher.Example")
    assert fallback is not None
    assert fallback.domain == "xn--bcher-kva.example"
