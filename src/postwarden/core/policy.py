"""What may be sent to whom: the decision for one address, from facts its caller read.

One implementation for both readers of the database: the outbox (:mod:`postwarden.outbox.policy`,
with Django, for every enqueue and the relay's RCPT reply) and the doctor without Django
(:mod:`postwarden.doctor.db_reads`), so the doctor's "what would happen to this address" is the
outbox's answer in the outbox's words. Order matters and is the order a person would
check: an address outside the approved domains is *refused* (whatever else is true of
it), then a suppressed address is *suppressed*, then the kill switch *holds* the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from postwarden.core.addresses import ascii_domain
from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text

#: the decisions, spelled as outbox.models.State spells them
QUEUED, REFUSED, SUPPRESSED, HELD = "queued", "refused", "suppressed", "held"
HELD_REASON = Text("held: sending is switched off (EMAIL_ENABLED=false); release it once sending is on again")


@dataclass(frozen=True, slots=True)
class Suppressed:
    """An active suppression of the address, as stored."""

    reason: str
    source: str = ""
    expires_at: datetime | None = None


def normalize(address: str) -> str:
    """Addresses are decided (and suppressions keyed) by the lower-cased addr-spec."""
    return address.strip().lower()


def outside(address: str, settings: Settings) -> bool:
    """Whether the address's domain is outside MAIL_ALLOWED_DOMAINS (when that is set)."""
    allowed = settings.sending.allowed_domains
    return bool(allowed) and ascii_domain(address) not in allowed


def decide(
    address: str, settings: Settings, *, member: bool, suppressed: Suppressed | None
) -> tuple[str, str]:
    """``(state, reason)`` for ``address``; ``(queued, "")`` when nothing objects. ``member``:
    the address is a console member's (exempt from the approved domains)."""
    if outside(address, settings) and not member:
        return REFUSED, not_approved(address, settings.sending.allowed_domains)
    if suppressed is not None:
        return SUPPRESSED, suppression_reason(suppressed)
    if not settings.sending.enabled:
        return HELD, HELD_REASON
    return QUEUED, ""


def not_approved(address: str, allowed: tuple[str, ...]) -> str:
    return Text(
        "refused: {domain} is not an approved domain (MAIL_ALLOWED_DOMAINS={allowed}) and the address is not "
        "a member's",
        domain=ascii_domain(address),
        allowed=",".join(allowed),
    )


#: a suppression's reason (outbox Suppression.reason, a code) as a sentence says it
REASON_WORDS: Final[dict[str, Text]] = {
    "hard_bounce": Text("hard bounce"),
    "complaint": Text("complaint"),
    "unsubscribe": Text("unsubscribe"),
    "manual": Text("manual"),
    "failures": Text("failures"),
}


def suppression_reason(row: Suppressed) -> str:
    # the source is the suppression list's own words ("sendgrid event …"): quoted as data
    reason = REASON_WORDS.get(row.reason) or row.reason.replace("_", " ")
    why = Text("{reason} ({source})", reason=reason, source=row.source) if row.source else reason
    if row.expires_at:
        return Text(
            "suppressed: {why} until {when} UTC", why=why, when=row.expires_at.strftime("%Y-%m-%d %H:%M")
        )
    return Text("suppressed: {why}", why=why)
