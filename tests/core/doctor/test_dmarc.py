"""DMARC record parsing and alignment (RFC 7489, RFC 9989)."""

from __future__ import annotations

import pytest

from postwarden.core.doctor import dmarc


def test_it_reads_a_full_record() -> None:
    policy = dmarc.parse(
        "v=DMARC1; p=Quarantine; sp=reject; adkim=s; aspf=r; pct=50; "
        "rua=mailto:a@example.com,mailto:b@example.net; ruf=mailto:f@example.com;"
    )
    assert policy == dmarc.Policy(
        p="quarantine",
        sp="reject",
        adkim="s",
        aspf="r",
        pct=50,
        rua=("mailto:a@example.com", "mailto:b@example.net"),
        ruf=("mailto:f@example.com",),
    )


def test_it_applies_the_defaults() -> None:
    assert dmarc.parse("v=DMARC1") == dmarc.Policy(p="none", sp="none", adkim="r", aspf="r", pct=100)
    assert dmarc.parse("v=DMARC1; p=reject; adkim=x").adkim == "r"  # RFC 9989 §4.8: discarded
    assert dmarc.parse("v=DMARC1; p=reject; unknown=yes").p == "reject"  # unknown tags are ignored


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("", "the record is empty"),
        ("v=DMARC2; p=none", "must start with v=DMARC1"),
        ("v=DMARC1; sp=maybe", "sp=maybe is not none"),
        ("v=DMARC1; p", "'p' is not a tag=value pair"),
    ],
)
def test_it_refuses_broken_records(record: str, error: str) -> None:
    with pytest.raises(dmarc.DmarcError, match=error):
        dmarc.parse(record)


@pytest.mark.parametrize(
    ("domain", "organizational"),
    [
        ("example.com", "example.com"),
        ("mail.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("Mail.Example.COM.", "example.com"),
    ],
)
def test_it_finds_the_organizational_domain(domain: str, organizational: str) -> None:
    assert dmarc.organizational_domain(domain) == organizational


def test_it_aligns_relaxed_and_strict() -> None:
    assert dmarc.aligned("mail.example.com", "example.com", "r")
    assert not dmarc.aligned("mail.example.com", "example.com", "s")
    assert dmarc.aligned("example.com", "EXAMPLE.com", "s")
    assert not dmarc.aligned("example.net", "example.com", "r")
    assert not dmarc.aligned("a.example.co.uk", "b.other.co.uk", "r")
