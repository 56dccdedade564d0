"""What a provider's event means here: its timeline kind, and the suppression it warrants.

anymail normalizes each provider's event to one of its event types ("bounced", "rejected",
…) but folds permanent and temporary cases together in some of them (Postmark's soft
bounces and SendGrid's "blocked" are "bounced"; SendGrid's drop of an address it already
knows bounced is "rejected", like a drop for any other reason). The raw payload tells them
apart, and each provider documents the values: the tables below read them.

- :data:`DEFAULTS`: anymail's event type -> verdict, when no provider rule applies.
- :data:`RULES`: (provider, anymail event type) -> the raw field to read and a table of its
  documented values (compared case-insensitively). A value not in the table falls back to
  the rule's ``otherwise`` (or to :data:`DEFAULTS`): unknown input degrades, it never fails.

Sources: SendGrid Event Webhook reference ("dropped" reasons: Bounced Address, Unsubscribed
Address, Spam Reporting Address, Invalid); Postmark bounce types and SubscriptionChange
``SuppressionReason`` (HardBounce, SpamComplaint, ManualSuppression); Mailgun legacy drop
codes (605 previously bounced, 607 previously complained); SES ``bounceType``; Mandrill
``soft_bounce``; Resend ``bounce.type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from postwarden.outbox.suppressions import COMPLAINT, HARD_BOUNCE, MANUAL, UNSUBSCRIBE


class Verdict(NamedTuple):
    #: the Event row's kind (and, through outbox.states.EVENTS, the recipient's move)
    kind: str
    #: the suppression reason this event warrants for its address, or None
    suppress: str | None = None


HARD: Final = Verdict("bounced", HARD_BOUNCE)
SOFT: Final = Verdict("deferred")
DROPPED: Final = Verdict("rejected")
#: dropped by the provider because of what it already knows about the address
DROPPED_BOUNCED: Final = Verdict("rejected", HARD_BOUNCE)
DROPPED_COMPLAINED: Final = Verdict("rejected", COMPLAINT)
DROPPED_UNSUBSCRIBED: Final = Verdict("rejected", UNSUBSCRIBE)

DEFAULTS: Final[Mapping[str, Verdict]] = {
    "bounced": HARD,
    "complained": Verdict("complained", COMPLAINT),
    "unsubscribed": Verdict("unsubscribed", UNSUBSCRIBE),
}


@dataclass(frozen=True, slots=True)
class VerdictRule:
    #: where the deciding value is in the raw payload: the first of these paths present
    paths: tuple[tuple[str, ...], ...]
    #: the value, lower-cased -> its verdict
    table: Mapping[str, Verdict] = field(default_factory=dict)
    #: for a value not in the table; None: the event type's default
    otherwise: Verdict | None = None


_POSTMARK_REASON: Final = (("Type",), ("SuppressionReason",))

RULES: Final[Mapping[tuple[str, str], VerdictRule]] = {
    ("ses", "bounced"): VerdictRule((("bounce", "bounceType"),), {"transient": SOFT, "undetermined": SOFT}),
    ("sendgrid", "bounced"): VerdictRule((("type",),), {"blocked": SOFT}),
    ("sendgrid", "rejected"): VerdictRule(
        (("reason",), ("type",)),
        {
            "bounced address": DROPPED_BOUNCED,
            "invalid": DROPPED_BOUNCED,
            "unsubscribed address": DROPPED_UNSUBSCRIBED,
            "spam reporting address": DROPPED_COMPLAINED,
        },
        DROPPED,
    ),
    # a Bounce record's Type, or a SubscriptionChange's SuppressionReason: only a hard
    # bounce is permanent (SoftBounce, VirusNotification … are "bounced" for anymail too)
    ("postmark", "bounced"): VerdictRule(_POSTMARK_REASON, {"hardbounce": HARD}, SOFT),
    ("postmark", "rejected"): VerdictRule(
        _POSTMARK_REASON,
        {"bademailaddress": DROPPED_BOUNCED, "manuallydeactivated": Verdict("rejected", MANUAL)},
        DROPPED,
    ),
    ("mailgun", "bounced"): VerdictRule((("event-data", "severity"),), {"temporary": SOFT}),
    ("mailgun", "rejected"): VerdictRule(
        (("code",), ("event-data", "reason")),
        {
            "605": DROPPED_BOUNCED,
            "607": DROPPED_COMPLAINED,
            "suppress-bounce": DROPPED_BOUNCED,
            "suppress-complaint": DROPPED_COMPLAINED,
            "suppress-unsubscribe": DROPPED_UNSUBSCRIBED,
        },
        DROPPED,
    ),
    ("mandrill", "bounced"): VerdictRule((("event",),), {"soft_bounce": SOFT}),
    ("resend", "bounced"): VerdictRule((("data", "bounce", "type"),), {"transient": SOFT}),
}


def dig(raw: Any, *path: str) -> Any:
    """``raw[path[0]][path[1]]…``, or None where a step is missing or not a mapping."""
    for key in path:
        raw = raw.get(key) if isinstance(raw, Mapping) else None
    return raw


def verdict(provider: str, event_type: str, raw: Any) -> Verdict:
    """The verdict for an anymail event of ``event_type`` from ``provider`` with payload ``raw``."""
    fallback = DEFAULTS.get(event_type, Verdict(event_type))
    rule = RULES.get((provider, event_type))
    if rule is None:
        return fallback
    value = next((v for path in rule.paths if (v := dig(raw, *path)) is not None), None)
    found = rule.table.get(str(value).strip().lower()) if isinstance(value, str | int) else None
    return found or rule.otherwise or fallback
