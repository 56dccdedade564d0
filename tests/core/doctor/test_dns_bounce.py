"""The DNS stage with VERP return paths (BOUNCE_DOMAIN): SPF is asked of the bounce domain,
its alignment with the From domain is judged (relaxed), and its MX when bounces are read;
against a real DNS server on loopback serving test zones."""

from __future__ import annotations

from postwarden.core.doctor.model import Severity, Status
from tests.core.doctor.helpers import check, codes, doctor, finding, healthy_env, healthy_zone, settings
from tests.dnsd import DnsTestServer

ONLY_DNS = frozenset({"dns"})
BOUNCE_SPF = 'bounces.example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"'
BOUNCE_MX = "bounces.example.com. 300 IN MX 10 mx.example.com."


def run_dns(dns_server: DnsTestServer, zone: str, **env: str):  # type: ignore[no-untyped-def]
    dns_server.load(zone)
    values = healthy_env(dns_server.address, BOUNCE_DOMAIN="bounces.example.com", **env)
    return doctor(settings(**values), only=ONLY_DNS)


def test_a_bounce_domain_with_spf_an_mx_and_alignment_passes(dns_server: DnsTestServer) -> None:
    zone = "\n".join([healthy_zone(), BOUNCE_SPF, BOUNCE_MX])
    report = run_dns(dns_server, zone, POSTWARDEN_BOUNCE_LISTEN="0.0.0.0:25")
    assert codes(report) == []
    assert check(report, "dns.bounce_spf").status is Status.PASS
    assert check(report, "dns.bounce_mx").detail == "MX bounces.example.com: 10 mx.example.com."
    assert {"dns.spf"} & {c.id for c in report.checks} == set()  # the From domain's SPF is not the envelope's
    assert ("bounces.example.com", "TXT") in set(dns_server.queries)


def test_a_bounce_domain_without_spf_is_named_with_the_answer(dns_server: DnsTestServer) -> None:
    report = run_dns(dns_server, "\n".join([healthy_zone(), BOUNCE_MX]))
    found = finding(report, "dns.bounce_spf_missing")
    assert found.severity is Severity.ERROR
    assert found.evidence == "TXT bounces.example.com: no record"
    assert found.steps[0].startswith("Publish one TXT record at bounces.example.com that authorizes")


def test_a_bounce_domain_spf_that_does_not_cover_the_host_is_named(dns_server: DnsTestServer) -> None:
    zone = "\n".join([healthy_zone(), BOUNCE_SPF.replace("127.0.0.1", "192.0.2.9"), BOUNCE_MX])
    found = finding(run_dns(dns_server, zone), "dns.bounce_spf_missing")
    assert found.evidence == (
        "TXT bounces.example.com: v=spf1 ip4:192.0.2.9 -all "
        "(it does not authorize mail.example.com (127.0.0.1))"
    )


def test_a_bounce_domain_of_another_organization_is_misaligned(dns_server: DnsTestServer) -> None:
    zone = "\n".join([healthy_zone(), 'bounce.example.net. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"'])
    dns_server.load(zone)
    values = healthy_env(dns_server.address, BOUNCE_DOMAIN="bounce.example.net")
    report = doctor(settings(**values), only=ONLY_DNS)
    found = finding(report, "dns.bounce_misaligned")
    assert found.severity is Severity.WARNING
    assert found.evidence == (
        "return paths @bounce.example.net, From @example.com: organizational domains example.net and "
        "example.com differ"
    )
    assert "BOUNCE_DOMAIN=bounces.example.com" in found.steps[0]
    # DKIM still aligns, so DMARC passes and says how
    assert check(report, "dns.dmarc").detail.endswith("(DKIM aligns with example.com)")


def test_a_listener_without_an_mx_for_the_bounce_domain_is_named(dns_server: DnsTestServer) -> None:
    report = run_dns(
        dns_server, "\n".join([healthy_zone(), BOUNCE_SPF]), POSTWARDEN_BOUNCE_LISTEN="0.0.0.0:25"
    )
    found = finding(report, "dns.bounce_mx_missing")
    assert found.severity is Severity.ERROR
    assert found.evidence.startswith("MX bounces.example.com: ")
    assert "bounce listener (port 25)" in found.steps[0]


def test_without_a_listener_or_mailbox_the_mx_is_not_asked(dns_server: DnsTestServer) -> None:
    report = run_dns(dns_server, "\n".join([healthy_zone(), BOUNCE_SPF]))
    assert "dns.bounce_mx_missing" not in codes(report)
    assert check(report, "dns.bounce_mx").status is Status.SKIP
