"""core.policy decides for the outbox and for the doctor alike: the order a person would
check (approved domains, then suppression, then the kill switch) and the words of each."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from postwarden.core import policy
from postwarden.core.config.model import Settings

BASE = Settings()
ALLOWED = replace(BASE, sending=replace(BASE.sending, allowed_domains=("example.com",)))
OFF = replace(BASE, sending=replace(BASE.sending, enabled=False))
BOUNCED = policy.Suppressed("hard_bounce", "attempt 1 of m_1", datetime(2027, 1, 5, 16, 11, tzinfo=UTC))


def test_nothing_objects() -> None:
    assert policy.decide("a@example.net", BASE, member=False, suppressed=None) == ("queued", "")


def test_an_address_outside_the_approved_domains_is_refused_whatever_else_is_true() -> None:
    both = replace(ALLOWED, sending=replace(ALLOWED.sending, enabled=False))
    state, reason = policy.decide("a@example.net", both, member=False, suppressed=BOUNCED)
    assert state == "refused"
    assert reason == (
        "refused: example.net is not an approved domain (MAIL_ALLOWED_DOMAINS=example.com) "
        "and the address is not a member's"
    )


def test_a_member_is_exempt_from_the_approved_domains_but_not_from_suppression() -> None:
    assert policy.decide("a@example.net", ALLOWED, member=True, suppressed=None) == ("queued", "")
    state, reason = policy.decide("a@example.net", ALLOWED, member=True, suppressed=BOUNCED)
    assert (state, reason) == (
        "suppressed",
        "suppressed: hard bounce (attempt 1 of m_1) until 2027-01-05 16:11 UTC",
    )


def test_a_suppression_without_source_or_expiry_says_only_its_reason() -> None:
    bare = policy.Suppressed("complaint")
    assert policy.decide("a@example.com", OFF, member=False, suppressed=bare) == (
        "suppressed",
        "suppressed: complaint",
    )


def test_the_kill_switch_holds_the_rest() -> None:
    state, reason = policy.decide("a@example.com", OFF, member=False, suppressed=None)
    assert state == "held"
    assert "EMAIL_ENABLED=false" in reason


def test_the_approved_domain_is_compared_in_its_ascii_form() -> None:
    idn = replace(BASE, sending=replace(BASE.sending, allowed_domains=("xn--bcher-kva.example",)))
    assert policy.decide("a@Bücher.example", idn, member=False, suppressed=None) == ("queued", "")
