"""The doctor's test message (``--send``): composed by the same composer as every mail.

A mail Postwarden itself sends is written in the instance's language
(``POSTWARDEN_LANGUAGE``, or the language chosen in the console: ``settings.service.language``),
English by default; the reader of a test mail is whoever reads that mailbox, not the person
at the terminal, so the terminal's LANG does not decide it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text, format_datetime
from postwarden.core.message import Composed, Draft, compose

SUBJECT: Final = Text("Postwarden doctor: test message")
TEXT: Final = Text(
    "This message was sent by `postwarden doctor --send` to prove that mail from this server is "
    "accepted. No action is needed."
)
#: the subject of ``postwarden send-test`` and the console's "Send test email" (outbox/testsend.py)
SEND_TEST_SUBJECT: Final = Text("Postwarden test email")


def in_instance_language(settings: Settings, text: Text) -> str:
    """``text`` as a mail Postwarden sends says it: in the instance's language."""
    return text.localized(settings.service.language)


def send_test_text(settings: Settings, recipient: str, where: str, by: str | None = None) -> str:
    """The body of a test mail someone asked for, in the instance's language: from
    ``postwarden send-test`` (``by`` None), or from the console's Email settings page by
    the user ``by`` (their address; empty: "the console")."""
    if by is None:
        text = Text(
            "This is a test email from Postwarden, sent {when} UTC through {where}.\n\n"
            "If you can read this, mail from Postwarden reaches {recipient}.\n",
            when=format_datetime(datetime.now(UTC), language=settings.service.language),
            where=where,
            recipient=recipient,
        )
    else:
        text = Text(
            "This is a test email from Postwarden, sent by {who} from the Email settings page through "
            "{where}.\n\nIf you can read this, mail from Postwarden reaches {recipient}.\n",
            who=by or Text("the console"),
            where=where,
            recipient=recipient,
        )
    return in_instance_language(settings, text)


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
            subject=in_instance_language(settings, SUBJECT),
            text=in_instance_language(settings, TEXT) + "\n",
        )
    )
