"""``EMAIL_BACKEND = "postwarden.outbox.django_backend.OutboxBackend"``: Django's own mail
(console users' password resets) goes through the outbox like everything else, so it is
retried, tracked and shown in the console.

A message may name a stored template as anymail's messages do: ``message.template_id =
"password-reset"`` and ``message.merge_global_data = {"reset_url": …}``. Its subject and
body are then the template's, rendered strictly (a missing variable raises
:class:`Refused` naming it), and its attachments go with it."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from email.message import Message
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from postwarden.outbox.errors import Refused
from postwarden.outbox.submission import FileIn, Outgoing, enqueue, enqueue_raw


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
        template = getattr(message, "template_id", None)
        if template:
            enqueue(_templated(message, str(template)), source="django")
            return 1
        sender = email.utils.parseaddr(message.from_email)[1] or message.from_email
        # Django's rendering keeps its headers (Bcc is never among them); the outbox turns
        # line ends into CRLF, adds only what is missing and keeps these bytes for every retry
        raw = message.message().as_bytes()
        enqueue_raw(raw, sender, recipients, source="django")
        return 1


def _templated(message: EmailMessage, template: str) -> Outgoing:
    variables = getattr(message, "merge_global_data", None) or {}
    # Django fills in DEFAULT_FROM_EMAIL when no sender is given: MAIL_FROM is meant then
    sender = message.from_email if message.from_email != settings.DEFAULT_FROM_EMAIL else None
    return Outgoing(
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        from_address=sender or None,
        reply_to=list(message.reply_to),
        headers={str(k): str(v) for k, v in message.extra_headers.items()},
        template=template,
        variables=dict(variables),
        attachments=[_file(a) for a in message.attachments],
    )


def _file(attachment: Any) -> FileIn:
    """A Django attachment: a (filename, content, mimetype) tuple or a MIME part (which
    may carry a Content-ID, for an inline image)."""
    if isinstance(attachment, Message):
        payload = attachment.get_payload(decode=True)
        content_id = str(attachment.get("Content-ID", "")).strip().strip("<>") or None
        return FileIn(
            str(attachment.get_filename() or "attachment"),
            payload if isinstance(payload, bytes) else b"",
            attachment.get_content_type(),
            content_id,
        )
    name, content, kind = attachment
    data = content if isinstance(content, bytes) else str(content).encode("utf-8")
    return FileIn(str(name or "attachment"), data, kind or None)
