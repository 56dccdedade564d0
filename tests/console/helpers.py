"""Data for console tests, made by the real services (enqueue, the capture transport)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings as django_settings

from postwarden.core.config.model import Provider, SendingSettings, Settings
from postwarden.outbox.models import Message
from postwarden.outbox.submission import FileIn, Outgoing, enqueue
from postwarden.transports.base import TransportDelivery
from postwarden.transports.capture import CaptureTransport

SETTINGS = Settings(
    sending=SendingSettings(provider=Provider.CAPTURE, from_address="ops@example.com", from_name="Ops")
)

#: a captured mail with one attachment
ATTACHED = (
    b"From: ops@example.com\r\nTo: bob@example.com\r\nSubject: files\r\nMessage-ID: <c2@example.com>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain\r\n\r\nsee file\r\n--b\r\nContent-Type: text/csv\r\n"
    b'Content-Disposition: attachment; filename="r.csv"\r\n\r\na,b\r\n--b--\r\n'
)


def enqueue_one(
    to: str = "alice@example.com",
    subject: str = "Hello",
    *,
    html: str | None = None,
    tags: tuple[str, ...] = (),
    files: Sequence[FileIn] = (),
) -> Message:
    out = enqueue(
        Outgoing(to=[to], subject=subject, text="Hello there", html=html, tags=list(tags), attachments=files),
        settings=SETTINGS,
        source="api",
    )
    return Message.objects.get(pk=out.pk)


def capture_one(raw: bytes | None = None, subject: str = "Captured hello") -> str:
    """Writes one mail through the real capture transport into the data directory; returns its id."""
    raw = (
        raw
        or (
            f"From: ops@example.com\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            "Message-ID: <c1@example.com>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            "<p>Hi <script>alert(1)</script></p>\r\n"
        ).encode()
    )
    transport = CaptureTransport(Path(django_settings.DATA_DIR) / "captured")
    delivery = TransportDelivery(
        message_pk=0,
        public_id="m_captured",
        message_id="<c1@example.com>",
        envelope_from="ops@example.com",
        recipients=("bob@example.com",),
        raw=raw,
    )
    results = asyncio.run(transport.send(delivery))
    return results[0].queue_id


def data_dir() -> Path:
    return Path(django_settings.DATA_DIR)
