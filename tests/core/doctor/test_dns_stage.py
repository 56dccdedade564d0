"""The DNS stage against a real DNS server on loopback serving test zones: every dns.*
code, and that every question went to that server."""

from __future__ import annotations

import pytest

from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import (
    check,
    codes,
    dkim_key,
    dkim_zone_line,
    doctor,
    finding,
    healthy_env,
    healthy_zone,
    settings,
)
from tests.dnsd import DnsTestServer

ONLY_DNS = frozenset({"dns"})


def run_dns(dns_server: DnsTestServer, zone: str, **env: str):  # type: ignore[no-untyped-def]
    dns_server.load(zone)
    return doctor(settings(**healthy_env(dns_server.address, **env)), only=ONLY_DNS)


def test_it_finds_nothing_wrong_with_a_healthy_zone(dns_server: DnsTestServer) -> None:
    report = run_dns(dns_server, healthy_zone())
    assert codes(report) == []
    assert [(c.id, c.status) for c in report.checks] == [(c.id, Status.PASS) for c in report.checks]
    assert {c.id for c in report.checks} == {"dns.spf", "dns.dkim", "dns.dmarc", "dns.recipient"}
    assert (
        check(report, "dns.dkim").detail == "the key at pw1._domainkey.example.com matches DKIM_PRIVATE_KEY"
    )
    assert check(report, "dns.dmarc").detail.endswith("(DKIM aligns with example.com)")


def test_it_asks_every_question_of_the_given_server(dns_server: DnsTestServer) -> None:
    run_dns(dns_server, healthy_zone())
    asked = set(dns_server.queries)
    assert {
        ("example.com", "TXT"),
        ("pw1._domainkey.example.com", "TXT"),
        ("_dmarc.example.com", "TXT"),
        ("example.com", "MX"),
        ("mail.example.com", "A"),
        ("mail.example.com", "AAAA"),
    } <= asked


def test_it_reports_a_missing_spf_record(dns_server: DnsTestServer) -> None:
    zone = healthy_zone().replace('example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 ip6:::1 -all"\n', "")
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.spf_missing")
    assert (found.severity, found.evidence) == (Severity.ERROR, "TXT example.com: no record")
    assert found.steps[0].startswith("Publish one TXT record at example.com that authorizes the addresses of")


@pytest.mark.parametrize(
    ("records", "why"),
    [
        (['"v=spf1 ip4:127.0.0.1 -all"', '"v=spf1 include:_spf.google.com ~all"'], "2 SPF records"),
        (['"v=spf1 ip4:127.0.0.1 +mx:bad..name -all"'], "is not a domain name"),
        (['"v=spf1 ip4:127.0.0.1/33 -all"'], "is not a valid ip4 network"),
    ],
)
def test_it_reports_an_invalid_spf_record(dns_server: DnsTestServer, records: list[str], why: str) -> None:
    zone = healthy_zone().replace(
        'example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 ip6:::1 -all"',
        "\n".join(f"example.com. 300 IN TXT {r}" for r in records),
    )
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.spf_invalid")
    assert found.evidence.startswith("TXT example.com: v=spf1")
    assert why in found.evidence
    assert check(report, "dns.spf").status is Status.FAIL


def test_it_warns_when_spf_does_not_cover_the_server(dns_server: DnsTestServer) -> None:
    zone = healthy_zone().replace("ip4:127.0.0.1 ip6:::1", "ip4:192.0.2.1")
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.spf_not_authorizing")
    assert found.severity is Severity.WARNING
    assert found.evidence == (
        "TXT example.com: v=spf1 ip4:192.0.2.1 -all (it does not authorize mail.example.com (127.0.0.1))"
    )


def test_it_accepts_the_providers_include_for_a_known_smtp_service(dns_server: DnsTestServer) -> None:
    zone = healthy_zone().replace(
        '"v=spf1 ip4:127.0.0.1 ip6:::1 -all"', '"v=spf1 include:_spf.google.com ~all"'
    )
    zone += '\n_spf.google.com. 300 IN TXT "v=spf1 ip4:209.85.128.0/17 ~all"'
    zone += "\nsmtp.gmail.com. 300 IN A 142.250.27.108"
    zone += "\n" + dkim_zone_line("google", "example.com", dkim_key())
    report = run_dns(dns_server, zone, SMTP_HOST="smtp.gmail.com", DKIM_PRIVATE_KEY="", DKIM_SELECTOR="")
    assert codes(report) == []
    assert "include:_spf.google.com covers Google" in check(report, "dns.spf").detail
    assert check(report, "dns.dkim").detail == "DKIM key published at google._domainkey.example.com"


def test_it_reports_a_missing_dkim_key(dns_server: DnsTestServer) -> None:
    zone = "\n".join(line for line in healthy_zone().splitlines() if "_domainkey" not in line)
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.dkim_missing")
    assert (
        found.evidence
        == "TXT pw1._domainkey.example.com: no record (pw1._domainkey.example.com does not exist)"
    )


def test_it_reports_a_revoked_dkim_key(dns_server: DnsTestServer) -> None:
    zone = "\n".join(line for line in healthy_zone().splitlines() if "_domainkey" not in line)
    zone += '\npw1._domainkey.example.com. 300 IN TXT "v=DKIM1; k=rsa; p="'
    report = run_dns(dns_server, zone)
    assert "p= is empty: the key is revoked" in finding(report, "dns.dkim_missing").evidence


def test_it_reports_no_signing_at_all(dns_server: DnsTestServer) -> None:
    report = run_dns(dns_server, healthy_zone(), DKIM_SELECTOR="", DKIM_PRIVATE_KEY="")
    found = finding(report, "dns.dkim_missing")
    assert (found.title, found.evidence) == (
        "No DKIM signing is configured",
        "DKIM_PRIVATE_KEY is not set and DKIM_SELECTOR names no selector",
    )


def test_it_reports_a_published_key_that_is_not_the_signing_key(dns_server: DnsTestServer) -> None:
    other = dkim_key(2048)
    report = run_dns(dns_server, healthy_zone(key=other))
    found = finding(report, "dns.dkim_mismatch")
    assert found.evidence.startswith("TXT pw1._domainkey.example.com: v=DKIM1; k=rsa; p=MIIB")
    assert check(report, "dns.dkim").status is Status.FAIL


def test_it_reports_a_private_key_it_cannot_read(dns_server: DnsTestServer) -> None:
    report = run_dns(dns_server, healthy_zone(), DKIM_PRIVATE_KEY="not a key at all")
    found = finding(report, "dns.dkim_mismatch")
    assert found.evidence == "DKIM_PRIVATE_KEY cannot be used: not a PEM private key without a passphrase"
    assert "not a key at all" not in str(report.to_json())


def test_it_warns_about_a_missing_dmarc_record(dns_server: DnsTestServer) -> None:
    zone = "\n".join(line for line in healthy_zone().splitlines() if "_dmarc" not in line)
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.dmarc_missing")
    assert found.severity is Severity.WARNING
    assert found.evidence == "TXT _dmarc.example.com: no record (_dmarc.example.com does not exist)"


def test_it_finds_the_organizational_domains_policy(dns_server: DnsTestServer) -> None:
    zone = healthy_zone().replace("example.com", "mail.example.com") + "\n" + healthy_zone()
    zone = "\n".join(line for line in zone.splitlines() if not line.startswith("_dmarc.mail.example.com"))
    report = run_dns(dns_server, zone, MAIL_FROM="ops@mail.example.com", DKIM_DOMAIN="mail.example.com")
    assert "dns.dmarc_missing" not in codes(report)
    assert check(report, "dns.dmarc").detail.startswith("_dmarc.example.com: v=DMARC1; p=reject")


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=DMARC1; p=rejected", "p=rejected is not none, quarantine or reject"),
        ("v=DMARC1 p=reject", "'v=DMARC1 p=reject' is not a tag=value pair"),
        ("v=DMARC1; p=reject; rua=dmarc@example.com", "rua: 'dmarc@example.com' is not a URI"),
        ("v=DMARC1; p=reject; pct=150", "pct=150 is not a whole number from 0 to 100"),
        ("v=DMARC1; p=none; p=reject", "the p tag appears twice"),
    ],
)
def test_it_reports_a_malformed_dmarc_record(dns_server: DnsTestServer, record: str, why: str) -> None:
    report = run_dns(dns_server, healthy_zone(dmarc=record))
    found = finding(report, "dns.dmarc_invalid")
    assert found.evidence.startswith(f"_dmarc.example.com: {record} (")
    assert why in found.evidence


def test_it_ignores_a_record_that_does_not_start_with_the_version(dns_server: DnsTestServer) -> None:
    # RFC 7489 §6.6.3: receivers discard it, so the domain has no policy
    report = run_dns(dns_server, healthy_zone(dmarc="p=reject; v=DMARC1"))
    assert finding(report, "dns.dmarc_missing").evidence.startswith(
        "TXT _dmarc.example.com: p=reject; v=DMARC1"
    )


def test_it_reports_two_dmarc_records(dns_server: DnsTestServer) -> None:
    zone = healthy_zone() + '\n_dmarc.example.com. 300 IN TXT "v=DMARC1; p=none"'
    report = run_dns(dns_server, zone)
    assert "several DMARC records" in finding(report, "dns.dmarc_invalid").evidence


def test_it_reports_misalignment_under_a_reject_policy(dns_server: DnsTestServer) -> None:
    zone = healthy_zone(key=dkim_key(2048)).replace("ip4:127.0.0.1 ip6:::1", "ip4:192.0.2.1")
    report = run_dns(dns_server, zone)
    found = finding(report, "dns.dmarc_misaligned")
    assert found.evidence.startswith(
        "_dmarc.example.com: v=DMARC1; p=reject; rua=mailto:dmarc@example.com; "
        "SPF: not aligned; DKIM: TXT pw1._domainkey.example.com:"
    )
    assert codes(report) == ["dns.spf_not_authorizing", "dns.dkim_mismatch", "dns.dmarc_misaligned"]


def test_it_accepts_misalignment_under_p_none(dns_server: DnsTestServer) -> None:
    zone = healthy_zone(key=dkim_key(2048), dmarc="v=DMARC1; p=none").replace(
        "ip4:127.0.0.1 ip6:::1", "ip4:192.0.2.1"
    )
    assert "dns.dmarc_misaligned" not in codes(run_dns(dns_server, zone))


def test_it_checks_strict_dkim_alignment(dns_server: DnsTestServer) -> None:
    # d=example.com signs for sub.example.com: aligned when relaxed, not under adkim=s
    zone = healthy_zone(dmarc="v=DMARC1; p=reject; adkim=s")
    zone += '\nsub.example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"'
    zone += "\nsub.example.com. 300 IN MX 10 mx.example.com."
    relaxed = run_dns(
        dns_server, zone.replace("; adkim=s", ""), MAIL_FROM="ops@sub.example.com", DKIM_DOMAIN="example.com"
    )
    strict = run_dns(dns_server, zone, MAIL_FROM="ops@sub.example.com", DKIM_DOMAIN="example.com")
    assert codes(relaxed) == ["dns.spf_not_authorizing"]
    assert codes(strict) == ["dns.spf_not_authorizing", "dns.dmarc_misaligned"]


@pytest.mark.parametrize(
    ("zone_extra", "evidence"),
    [
        (
            "nullmx.example.org. 300 IN MX 0 .",
            "MX nullmx.example.org: 0 . (null MX, RFC 7505: the domain accepts no mail)",
        ),
        ("", "MX nullmx.example.org: no record (nullmx.example.org does not exist)"),
        (
            'nullmx.example.org. 300 IN TXT "hello"',
            "MX nullmx.example.org: no record; A/AAAA nullmx.example.org: no record",
        ),
    ],
)
def test_it_reports_a_recipient_domain_that_takes_no_mail(
    dns_server: DnsTestServer, zone_extra: str, evidence: str
) -> None:
    report = run_dns(dns_server, healthy_zone() + "\n" + zone_extra, TEST_EMAIL="someone@nullmx.example.org")
    found = finding(report, "dns.recipient_no_mx")
    assert (found.severity, found.evidence) == (Severity.ERROR, evidence)


def test_it_accepts_an_address_record_instead_of_mx(dns_server: DnsTestServer) -> None:
    zone = healthy_zone() + "\nnomx.example.org. 300 IN A 192.0.2.40"
    report = run_dns(dns_server, zone, TEST_EMAIL="someone@nomx.example.org")
    assert (
        check(report, "dns.recipient").detail == "no MX; mail goes to nomx.example.org's address (192.0.2.40)"
    )


def test_it_says_when_dns_does_not_answer(dns_server: DnsTestServer) -> None:
    dns_server.load(healthy_zone(), servfail=("example.com",))
    report = doctor(settings(**healthy_env(dns_server.address)), only=ONLY_DNS)
    spf_check = check(report, "dns.spf")
    assert spf_check.status is Status.WARN
    assert spf_check.detail.startswith("could not look up SPF: TXT example.com: the DNS server at")
    assert "dns.spf_missing" not in codes(report)
