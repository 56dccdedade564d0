"""``postwarden dkim generate``: a key that signs, and the exact record that verifies it."""

from __future__ import annotations

import stat
from pathlib import Path

import dkim
import pytest

from postwarden.cli import dkim as dkim_cli
from postwarden.core.config.model import SigningSettings
from postwarden.core.dkim import Signer
from postwarden.core.secrets import Secret


def test_it_prints_a_key_and_the_txt_record_that_verifies_its_signatures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        dkim_cli.run(["generate", "--selector", "mail2026", "--domain", "Example.COM", "--bits", "1024"]) == 0
    )
    out = capsys.readouterr().out
    pem = out[out.index("-----BEGIN PRIVATE KEY-----") : out.index("-----END PRIVATE KEY-----") + 25] + "\n"
    name = next(line for line in out.splitlines() if line.startswith("name:  ")).removeprefix("name:  ")
    value = next(line for line in out.splitlines() if line.startswith("value: ")).removeprefix("value: ")
    assert name == "mail2026._domainkey.example.com"
    assert value.startswith("v=DKIM1; k=rsa; p=MIG")
    zone = next(line for line in out.splitlines() if line.startswith(name + ". IN TXT"))
    assert "".join(part for part in zone.split('"')[1::2]) == value
    signer = Signer.from_settings(
        SigningSettings(domain="example.com", selector="mail2026", private_key=Secret(pem)), "example.com"
    )
    assert signer is not None
    signed = signer.sign(b"From: a@example.com\r\nTo: b@example.org\r\nSubject: t\r\n\r\nbody\r\n")
    assert dkim.verify(
        signed, dnsfunc=lambda q, timeout=5: value.encode() if q == f"{name}.".encode() else b""
    )


def test_it_splits_a_2048_bit_record_into_dns_strings(capsys: pytest.CaptureFixture[str]) -> None:
    assert dkim_cli.run(["generate", "--domain", "example.com"]) == 0
    out = capsys.readouterr().out
    zone = next(line for line in out.splitlines() if " IN TXT " in line)
    strings = zone.split('"')[1::2]
    assert len(strings) == 2
    assert all(len(s) <= 255 for s in strings)
    assert zone.startswith("postwarden._domainkey.example.com. IN TXT ( ")


def test_it_writes_the_key_to_a_private_file_instead_of_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "dkim.pem"
    assert dkim_cli.run(["generate", "--domain", "example.com", "--bits", "1024", "--out", str(target)]) == 0
    out = capsys.readouterr().out
    assert "PRIVATE KEY" not in out
    assert f"DKIM_PRIVATE_KEY_FILE={target}" in out
    assert target.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_it_needs_a_domain(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("MAIL_FROM", "MAIL_FROM_ADDRESS", "EMAIL_FROM", "DKIM_DOMAIN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert dkim_cli.run(["generate"]) == 2
    assert "give --domain" in capsys.readouterr().err


def test_it_refuses_an_unusual_key_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert dkim_cli.run(["generate", "--domain", "example.com", "--bits", "512"]) == 2
    assert "--bits must be 1024, 2048, 3072 or 4096, not 512" in capsys.readouterr().err


def test_it_prints_and_uses_the_a_label_of_an_internationalized_domain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert dkim_cli.run(["generate", "--domain", "Bücher.Example", "--bits", "1024"]) == 0
    out = capsys.readouterr().out
    assert "DKIM_DOMAIN=xn--bcher-kva.example, and publish" in out
    assert "name:  postwarden._domainkey.xn--bcher-kva.example\n" in out
    assert "postwarden._domainkey.xn--bcher-kva.example. IN TXT ( " in out
    assert out.isascii()


def test_it_refuses_a_domain_that_is_not_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert dkim_cli.run(["generate", "--domain", "not a domain", "--bits", "1024"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("postwarden dkim: --domain: 'not a domain' is not a valid domain name")
    assert "Traceback" not in err
