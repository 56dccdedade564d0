"""core/codes.py holds the contract of spec/doctor.md (and the auth.token_* codes issue #12 added
in the auth stage, the dns.bounce_* codes of issue #15, the canary stage of issue #14): every code,
its stage, severity and rank."""

from __future__ import annotations

import pytest

from postwarden.core.codes import CATALOGUE, STAGE_ORDER, Code, Severity, rank, stage_of

#: spec/doctor.md, "Stages, in order, and their codes", in table order
SPEC: list[tuple[str, str]] = [
    ("config.missing", "error"),
    ("config.invalid_address", "error"),
    ("config.disabled", "error"),
    ("config.auth_without_tls", "error"),
    ("config.security_port_mismatch", "warning"),
    ("config.opportunistic_with_auth", "warning"),
    ("config.freemail_from", "warning"),
    ("config.process_drift", "error"),
    ("queue.worker_down", "error"),
    ("queue.backlog", "warning"),
    ("queue.retrying", "warning"),
    ("queue.dead_letters", "error"),
    ("queue.recent_failures", "error"),
    ("queue.bounce_rate", "warning"),
    ("network.dns_unresolvable", "error"),
    ("network.connection_refused", "error"),
    ("network.timeout", "error"),
    ("network.no_greeting", "error"),
    ("network.service_refused", "error"),
    ("tls.handshake_failed", "error"),
    ("tls.certificate_untrusted", "error"),
    ("tls.hostname_mismatch", "error"),
    ("tls.starttls_unavailable", "error"),
    ("auth.required", "error"),
    ("auth.unavailable", "error"),
    ("auth.encryption_required", "error"),
    ("auth.failed", "error"),
    ("auth.token_endpoint_unreachable", "error"),
    ("auth.token_invalid_client", "error"),
    ("auth.token_app_not_found", "error"),
    ("auth.token_invalid_grant", "error"),
    ("auth.token_unauthorized_client", "error"),
    ("auth.token_refused", "error"),
    ("envelope.sender_rejected", "error"),
    ("envelope.relay_denied", "error"),
    ("envelope.recipient_rejected", "error"),
    ("envelope.greylisted", "warning"),
    ("envelope.rate_limited", "warning"),
    ("envelope.message_too_large", "error"),
    ("envelope.content_rejected", "error"),
    ("policy.domain_not_approved", "error"),
    ("policy.suppressed", "error"),
    ("provider.unreachable", "error"),
    ("provider.invalid_credentials", "error"),
    ("provider.sandbox", "error"),
    ("provider.sender_unverified", "error"),
    ("provider.account_suspended", "error"),
    ("dns.spf_missing", "error"),
    ("dns.spf_invalid", "error"),
    ("dns.spf_not_authorizing", "warning"),
    ("dns.dkim_missing", "error"),
    ("dns.dkim_mismatch", "error"),
    ("dns.dmarc_missing", "warning"),
    ("dns.dmarc_invalid", "error"),
    ("dns.dmarc_misaligned", "error"),
    ("dns.recipient_no_mx", "error"),
    ("dns.bounce_spf_missing", "error"),
    ("dns.bounce_misaligned", "warning"),
    ("dns.bounce_mx_missing", "error"),
    ("links.template_broken", "error"),
    ("links.app_url_missing", "warning"),
    ("links.insecure", "warning"),
    ("links.host_mismatch", "error"),
    ("canary.missing", "error"),
    ("canary.auth_failed", "error"),
    ("canary.junk", "warning"),
    ("canary.slow", "warning"),
    ("canary.mailbox_unreachable", "warning"),
]


def test_it_has_exactly_the_codes_of_the_spec_in_its_order() -> None:
    assert [code.value for code in Code] == [code for code, _ in SPEC]
    assert [code.value for code in CATALOGUE] == [code for code, _ in SPEC]


@pytest.mark.parametrize(("code", "severity"), SPEC)
def test_it_gives_each_code_the_spec_severity_and_a_title(code: str, severity: str) -> None:
    info = CATALOGUE[Code(code)]
    assert (info.stage, info.severity) == (code.split(".")[0], Severity(severity))
    assert info.title


def test_it_orders_the_stages_as_the_doctor_walks_them() -> None:
    assert STAGE_ORDER == (
        "config",
        "queue",
        "network",
        "tls",
        "auth",
        "envelope",
        "policy",
        "provider",
        "dns",
        "links",
        "canary",
    )
    assert {code.stage for code in Code} == set(STAGE_ORDER)


def test_it_ranks_by_stage_then_by_table_order() -> None:
    ranked = sorted(
        ["dns.spf_missing", "auth.failed", "network.timeout", "network.dns_unresolvable"], key=rank
    )
    assert ranked == ["network.dns_unresolvable", "network.timeout", "auth.failed", "dns.spf_missing"]
    assert stage_of("envelope.greylisted") == "envelope"


def test_it_refuses_codes_outside_the_contract() -> None:
    with pytest.raises(ValueError, match=r"network\.nonsense"):
        rank("network.nonsense")
