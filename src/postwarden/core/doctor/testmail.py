"""The doctor's test message (``--send``): composed by the same composer as every mail."""

from __future__ import annotations

from typing import Final

from postwarden.core.config.model import Settings
from postwarden.core.message import Composed, Draft, compose

SUBJECT: Final = "Postwarden doctor: test message"
TEXT: Final = (
    "This message was sent by `postwarden doctor --send` to prove that mail from this server is "
    "accepted. No action is needed.\n"
)


def compose_test_mail(settings: Settings, recipient: str) -> Composed:
    """Raises ``InvalidMessage``/``InvalidAddress`` (ValueError) for unusable addresses,
    which the config stage has reported already."""
    sending = settings.sending
    return compose(
        Draft(
            from_address=sending.from_address or "",
            from_name=sending.from_name,
            to=[recipient],
            reply_to=[sending.reply_to] if sending.reply_to else [],
            subject=SUBJECT,
            text=TEXT,
        )
    )
