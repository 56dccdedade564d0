"""``EMAIL_BACKEND = "postwarden.outbox.django_backend.OutboxBackend"``: Django's own mail
(console users' password resets) goes through the outbox like everything else, so it is
retried, tracked and shown in the console."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from postwarden.outbox.errors import Refused
from postwarden.outbox.services import enqueue_raw


class OutboxBackend(BaseEmailBackend):
    """Queues each message; ``send_messages`` returns how many were queued. With
    ``fail_silently=False`` a refused message raises :class:`Refused`."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        queued = 0
        for message in email_messages:
            try:
                queued += self._queue(message)
            except Refused:
                if not self.fail_silently:
                    raise
        return queued

    def _queue(self, message: EmailMessage) -> int:
        recipients = message.recipients()
        if not recipients:
            return 0
        sender = email.utils.parseaddr(message.from_email)[1] or message.from_email
        # Django's rendering keeps its headers (Bcc is never among them); the outbox turns
        # line ends into CRLF, adds only what is missing and keeps these bytes for every retry
        raw = message.message().as_bytes()
        enqueue_raw(raw, sender, recipients, source="django")
        return 1
