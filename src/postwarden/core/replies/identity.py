"""Which identity a refusal is about: the sender or a recipient of that attempt.

Many refusals name the address they judged ("553 5.7.1 <bob@example.com>: Sender address
rejected: not owned by user", SES's "The following identities failed the check in region
…: ops@example.com"), and the same words can be about either side: SES lists an
unverified From address and, in the sandbox, unverified recipients alike; Postfix checks
the sender at RCPT time (smtpd_delay_reject). The rule that matched the words gives a
code for one side; this module reads the addresses the reply names, compares them with
the attempt's sender and recipients, and moves the code to the side they belong to.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Final

from postwarden.core.codes import Code
from postwarden.core.i18n import Text
from postwarden.core.smtp.stages import SmtpStage


class AddressRole(enum.StrEnum):
    SENDER = "sender"
    RECIPIENT = "recipient"


#: an address in angle brackets: what Postfix, Sendmail and Exim put first ("<a@b>: …")
_BRACKETED: Final = re.compile(r"<([^<>\s@]+@[^<>\s]+)>")
#: a bare address anywhere in the text (SES's comma-separated list, "Relaying to a@b denied")
_BARE: Final = re.compile(r"(?<![\w.+=-])([\w.+=-]+@[\w-]+(?:\.[\w-]+)+)")

#: the code for the same fault on the other side
_TO_SENDER: Final[Mapping[Code, Code]] = {
    Code.ENVELOPE_RECIPIENT_REJECTED: Code.ENVELOPE_SENDER_REJECTED,
    Code.ENVELOPE_RELAY_DENIED: Code.ENVELOPE_SENDER_REJECTED,
    Code.PROVIDER_SANDBOX: Code.PROVIDER_SENDER_UNVERIFIED,
}
_TO_RECIPIENT: Final[Mapping[Code, Code]] = {
    Code.ENVELOPE_SENDER_REJECTED: Code.ENVELOPE_RECIPIENT_REJECTED,
    Code.PROVIDER_SENDER_UNVERIFIED: Code.PROVIDER_SANDBOX,
}


def named_addresses(text: str) -> tuple[list[str], list[str]]:
    """``(bracketed, all)``: the addresses in angle brackets, and every address named,
    lower-case, in order, without duplicates."""
    bracketed = list(dict.fromkeys(_clean(a) for a in _BRACKETED.findall(text)))
    every = list(dict.fromkeys([*bracketed, *(_clean(a) for a in _BARE.findall(text))]))
    return bracketed, every


def _clean(address: str) -> str:
    return address.strip().strip(".,;:'\"").lower()


def role_of(
    text: str, sender: str | None, recipients: Iterable[str], stage: SmtpStage | None
) -> tuple[AddressRole, str] | None:
    """The side the reply is about and the address that says so, or ``None`` when the
    reply names neither side alone (no address, both, or only strangers).

    Bracketed addresses decide first (they are the subject of Postfix's, Sendmail's
    and Exim's replies; a login named later in the text is not); without any address,
    a refusal of MAIL FROM can only be about the sender.
    """
    own = _clean(sender) if sender else None
    theirs = {_clean(r) for r in recipients if r}
    bracketed, every = named_addresses(text)
    for group in (bracketed, every):
        found = _side(group, own, theirs)
        if found is not None:
            return found
    if not every and stage is SmtpStage.MAIL and own:
        return AddressRole.SENDER, own
    return None


def _side(named: list[str], sender: str | None, recipients: set[str]) -> tuple[AddressRole, str] | None:
    is_sender = [a for a in named if a == sender]
    is_recipient = [a for a in named if a in recipients and a != sender]
    if is_sender and not is_recipient:
        return AddressRole.SENDER, is_sender[0]
    if is_recipient and not is_sender:
        return AddressRole.RECIPIENT, is_recipient[0]
    return None


#: a refusal at DATA known only by its stage and codes (no words naming a cause) that
#: names one side of the envelope is about that side, not the content
_BY_STAGE_ONLY: Final[Mapping[AddressRole, Code]] = {
    AddressRole.SENDER: Code.ENVELOPE_SENDER_REJECTED,
    AddressRole.RECIPIENT: Code.ENVELOPE_RECIPIENT_REJECTED,
}


def attribute(code: Code, role: AddressRole, *, words_name_cause: bool = True) -> Code:
    """``code`` moved to ``role``'s side; codes that are not about one side stay.
    ``words_name_cause=False``: the code came from the stage and reply codes alone."""
    if code is Code.ENVELOPE_CONTENT_REJECTED and not words_name_cause:
        return _BY_STAGE_ONLY[role]
    table = _TO_SENDER if role is AddressRole.SENDER else _TO_RECIPIENT
    return table.get(code, code)


def wording(role: AddressRole, address: str) -> str:
    """The sentence that tells a person which identity the server judged."""
    if role is AddressRole.SENDER:
        return Text(
            "The reply names {address}, the sender (MAIL FROM) of this attempt, not a recipient.",
            address=address,
        )
    return Text("The reply names {address}, a recipient of this attempt, not the sender.", address=address)
