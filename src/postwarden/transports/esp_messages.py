"""Turn one :class:`~postwarden.transports.base.TransportDelivery` into the Django email messages
that anymail's backends send.

Provider APIs (except SES) take structured parts, not MIME, and send to every address
they are given: so the addresses handed to the API are this delivery's recipients only
(a retry of one recipient never re-sends to the others), placed in To/Cc as the message
was composed. A Bcc recipient stays hidden; when a delivery has nobody visible in To, the
hidden recipients get one API call each, because SendGrid, Mailgun and Postmark refuse a
message without a To.

SES takes raw MIME: the stored bytes go as they are (same Message-ID on every retry),
with the envelope recipients in ``Destination``.

Attachments and inline images travel to the other APIs as the stored MIME carries them
(:func:`with_files`): the same bytes, name, type and Content-ID on every retry.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import encoders
from email.message import EmailMessage as StdEmailMessage
from email.message import Message as StdMessage
from email.mime.base import MIMEBase
from email.utils import formataddr, getaddresses
from typing import Final

from django.core.mail import EmailMultiAlternatives

from postwarden.core.attachments import Attachment, files_in
from postwarden.transports.base import Parts, TransportDelivery

#: headers the API builds from its own fields; passing them as custom headers is refused
#: by SendGrid ("reserved header") and Mandrill, or silently duplicated by others
_API_OWNED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "reply-to",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "sender",
        "return-path",
    }
)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request: the addresses as they appear (display names kept) and the
    delivery recipients (lower-cased addr-specs) the request covers."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    recipients: tuple[str, ...]


def _visible(addresses: Sequence[str]) -> dict[str, str]:
    """lower-cased addr-spec -> the address as composed (with its display name)."""
    found: dict[str, str] = {}
    for original in addresses:
        for name, spec in getaddresses([original]):
            if spec:
                found.setdefault(spec.lower(), formataddr((name, spec)) if name else spec)
    return found


def plan_calls(recipients: Sequence[str], parts: Parts) -> list[Call]:
    """Split a delivery's recipients into API calls (see the module docstring)."""
    to_map, cc_map = _visible(parts.to), _visible(parts.cc)
    to = [r for r in recipients if r in to_map]
    cc = [r for r in recipients if r in cc_map and r not in to_map]
    hidden = [r for r in recipients if r not in to_map and r not in cc_map]
    if to:
        return [
            Call(
                tuple(to_map[r] for r in to), tuple(cc_map[r] for r in cc), tuple(hidden), (*to, *cc, *hidden)
            )
        ]
    if cc:
        # Cc recipients already see each other; the API needs a To, so they move there
        return [Call(tuple(cc_map[r] for r in cc), (), tuple(hidden), (*cc, *hidden))]
    return [Call((r,), (), (), (r,)) for r in hidden]


def api_message(parts: Parts, call: Call) -> EmailMultiAlternatives:
    """The Django message anymail turns into the provider's JSON."""
    from_email = formataddr((parts.from_name, parts.from_address)) if parts.from_name else parts.from_address
    headers = {k: v for k, v in parts.headers.items() if k.lower() not in _API_OWNED}
    body = parts.text if parts.text is not None else (parts.html or "")
    message = EmailMultiAlternatives(
        subject=parts.subject,
        body=body,
        from_email=from_email,
        to=list(call.to),
        cc=list(call.cc),
        bcc=list(call.bcc),
        reply_to=list(parts.reply_to),
        headers=headers,
    )
    if parts.text is None and parts.html is not None:
        message.content_subtype = "html"
    elif parts.html is not None:
        message.attach_alternative(parts.html, "text/html")
    for attachment in parts.attachments:
        message.attach(_mime_file(attachment))
    # anymail's own attributes (anymail/message.py): the webhook events carry them back
    message.tags = list(parts.tags)  # type: ignore[attr-defined]
    message.metadata = dict(parts.metadata)  # type: ignore[attr-defined]
    return message


def _mime_file(attachment: Attachment) -> MIMEBase:
    """A file as a MIME part, which anymail reads back byte for byte (a (name, content,
    type) tuple would have Django decode a text/* file and anymail encode it again).
    Inline parts keep their Content-ID: anymail sends them as the provider's inline images."""
    maintype, _, subtype = attachment.content_type.partition("/")
    part = MIMEBase(maintype, subtype)
    part.set_payload(attachment.data)
    encoders.encode_base64(part)
    part.add_header(
        "Content-Disposition", "inline" if attachment.inline else "attachment", filename=attachment.filename
    )
    if attachment.content_id is not None:
        part.add_header("Content-ID", f"<{attachment.content_id}>")
    return part


#: a top-level type that can hold files (core.message writes mixed and related)
_WITH_FILES: Final = re.compile(rb"^content-type:[ \t]*multipart/(?:mixed|related)", re.I | re.M)


def with_files(parts: Parts, raw: bytes) -> Parts:
    """``parts`` with the files of the stored MIME ``raw``. Only a multipart/mixed or
    related message is parsed: most messages have no files and cost one search."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    if parts.attachments or not _WITH_FILES.search(head):
        return parts
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return dataclasses.replace(parts, attachments=files_in(parsed))


class StoredMimeMessage(EmailMultiAlternatives):
    """A Django message whose MIME is the stored bytes. anymail's SES backend asks for
    ``message()`` and sends what it gets; compat32 keeps the stored headers as they are."""

    def __init__(self, raw: bytes, *, from_email: str, recipients: Sequence[str]) -> None:
        super().__init__(from_email=from_email, bcc=list(recipients))
        self._raw = raw

    def message(self) -> StdMessage:  # type: ignore[override]
        parsed = email.message_from_bytes(self._raw, policy=email.policy.compat32)
        # the envelope is in Destination; a Bcc header would show every hidden recipient
        del parsed["Bcc"]
        return parsed


def raw_message(delivery: TransportDelivery) -> StoredMimeMessage:
    return StoredMimeMessage(
        delivery.raw, from_email=delivery.envelope_from or _from_of(delivery), recipients=delivery.recipients
    )


def _from_of(delivery: TransportDelivery) -> str:
    if delivery.parts is not None:
        return delivery.parts.from_address
    parsed = email.message_from_bytes(delivery.raw, policy=email.policy.default)
    return getaddresses([str(parsed.get("From", ""))])[0][1]


def parts_from_raw(raw: bytes) -> Parts:
    """Rebuild the structured parts from stored MIME, for a delivery enqueued without them."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, StdEmailMessage)  # policy.default parses into EmailMessage
    name, address = getaddresses([str(parsed.get("From", ""))])[0]
    headers: Mapping[str, str] = {k: str(v) for k, v in parsed.items() if k.lower() not in _API_OWNED}
    return Parts(
        from_address=address,
        from_name=name,
        subject=str(parsed.get("Subject", "")),
        text=_body(parsed, "plain"),
        html=_body(parsed, "html"),
        to=tuple(str(a) for a in parsed.get_all("To", [])),
        cc=tuple(str(a) for a in parsed.get_all("Cc", [])),
        reply_to=tuple(str(a) for a in parsed.get_all("Reply-To", [])),
        headers=headers,
        attachments=files_in(parsed),
    )


def _body(parsed: StdEmailMessage, subtype: str) -> str | None:
    part = parsed.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None
