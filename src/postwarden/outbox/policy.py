"""What may be sent to whom, decided at enqueue and recorded as a reason per recipient.

The same decisions serve the HTTP API (:mod:`postwarden.outbox.submission`) and the SMTP
relay, which refuses at RCPT time with these very reasons (:func:`recipient_policy`).
This module reads the facts (members, suppressions) for many addresses in two queries;
the decision itself and its words are :func:`postwarden.core.policy.decide`, which the
doctor uses too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models.functions import Lower

from postwarden.accounts.models import Member
from postwarden.core import policy
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
    outside = [a for a in wanted if policy.outside(a, settings)]
    exempt = members_among(outside) if outside else set()
    suppressed = is_suppressed(wanted, now=now)
    decisions: dict[str, tuple[str, str]] = {}
    for address in wanted:
        state, reason = policy.decide(
            address, settings, member=address in exempt, suppressed=_facts(suppressed.get(address))
        )
        decisions[address] = (State(state), reason)
    return decisions


def _facts(row: Suppression | None) -> policy.Suppressed | None:
    return None if row is None else policy.Suppressed(row.reason, row.source, row.expires_at)


def recipient_policy(address: str, settings: Settings) -> tuple[str, str]:
    """``(state, reason)`` for one address, e.g. for the relay's RCPT reply."""
    return decide([address], settings)[normalize(address)]
