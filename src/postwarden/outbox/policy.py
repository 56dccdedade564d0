"""What may be sent to whom, decided at enqueue and recorded as a reason per recipient.

The same decisions serve the HTTP API (:mod:`postwarden.outbox.services`) and the SMTP
relay, which refuses at RCPT time with these very reasons (:func:`recipient_policy`).
Order matters and is the order a person would check: an address outside the approved
domains is *refused* (whatever else is true of it), then a suppressed address is
*suppressed*, then the kill switch *holds* everything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models.functions import Lower

from postwarden.accounts.models import Member
from postwarden.core.addresses import ascii_domain as domain
from postwarden.core.config.model import Settings
from postwarden.outbox.models import State, Suppression
from postwarden.outbox.suppressions import HARD_BOUNCE, is_suppressed, normalize

#: state -> the doctor's finding code that names the policy (docs/spec/doctor.md)
FINDINGS: dict[str, str] = {
    State.REFUSED: "policy.domain_not_approved",
    State.SUPPRESSED: "policy.suppressed",
    State.HELD: "config.disabled",
}


def clear_bounce_suppressions(addresses: Iterable[str]) -> int:
    """Lift the bounce suppressions of addresses that just accepted mail; returns how many.
    The batched form of :func:`postwarden.outbox.suppressions.clear_bounce` (one query per
    flush of results, not one per recipient); complaints, unsubscribes and manual entries stay."""
    # the worker calls this for every batch of results; the usual answer is "there are no
    # bounce suppressions at all", which an index lookup gives without a 500-address IN
    batch = list(addresses)
    if not batch or not _any_bounce():
        return 0
    wanted = {normalize(a) for a in batch}
    deleted, _ = Suppression.objects.filter(address__in=wanted, reason=HARD_BOUNCE).delete()
    return deleted


def _any_bounce() -> bool:
    """Whether any bounce suppression exists: one plain indexed query (the ORM's
    ``exists()`` compiles a query each time, once per batch of results)."""
    table = connection.ops.quote_name(Suppression._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE reason = %s LIMIT 1", [HARD_BOUNCE])  # noqa: S608
        return cursor.fetchone() is not None


def members_among(addresses: Iterable[str]) -> set[str]:
    """The addresses that belong to members (exempt from the approved domains)."""
    wanted = {normalize(a) for a in addresses}
    if not wanted:
        return set()
    found = (
        Member.objects.annotate(lower=Lower("email")).filter(lower__in=wanted).values_list("lower", flat=True)
    )
    return set(found)


def decide(
    addresses: Iterable[str], settings: Settings, *, now: datetime | None = None
) -> dict[str, tuple[str, str]]:
    """``address -> (state, reason)`` for every address; ``(queued, "")`` when nothing objects.
    At most two queries (members, suppressions) for any number of addresses."""
    wanted = sorted({normalize(a) for a in addresses})
    allowed = settings.sending.allowed_domains
    outside = [a for a in wanted if allowed and domain(a) not in allowed]
    exempt = members_among(outside) if outside else set()
    suppressed = is_suppressed(wanted, now=now)
    decisions: dict[str, tuple[str, str]] = {}
    for address in wanted:
        if address in outside and address not in exempt:
            decisions[address] = (State.REFUSED, _not_approved(address, allowed))
        elif address in suppressed:
            decisions[address] = (State.SUPPRESSED, _suppressed(suppressed[address]))
        elif not settings.sending.enabled:
            decisions[address] = (
                State.HELD,
                "held: sending is switched off (EMAIL_ENABLED=false); release it once sending is on again",
            )
        else:
            decisions[address] = (State.QUEUED, "")
    return decisions


def recipient_policy(address: str, settings: Settings) -> tuple[str, str]:
    """``(state, reason)`` for one address, e.g. for the relay's RCPT reply."""
    return decide([address], settings)[normalize(address)]


def _not_approved(address: str, allowed: tuple[str, ...]) -> str:
    return (
        f"refused: {domain(address)} is not an approved domain (MAIL_ALLOWED_DOMAINS={','.join(allowed)}) "
        "and the address is not a member's"
    )


def _suppressed(row: Suppression) -> str:
    until = f" until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
    source = f" ({row.source})" if row.source else ""
    return f"suppressed: {row.reason.replace('_', ' ')}{source}{until}"
