"""Files given with a message, turned into checked attachments or a :class:`Refused`
that names the file (``attachments[2]``) and the limit or rule it breaks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from postwarden.core.attachments import Attachment, InvalidAttachment, make
from postwarden.core.config.model import Settings
from postwarden.outbox.errors import Refused


@dataclass(frozen=True, slots=True)
class FileIn:
    """A file as a caller gives it: ``content`` as bytes, or as base64 text (the API)."""

    filename: str
    content: bytes | str
    content_type: str | None = None
    #: makes it an inline part, referenced from the HTML as ``cid:<content_id>``
    content_id: str | None = None


def checked(files: Sequence[FileIn], settings: Settings) -> tuple[Attachment, ...]:
    """Decode and check ``files``. Raises :class:`Refused`: 413 for a file over
    POSTWARDEN_MAX_ATTACHMENT_BYTES, 400 for bad base64, a bad name or type, a repeated
    content_id or an executable."""
    limit = settings.delivery.max_attachment_bytes
    out: list[Attachment] = []
    seen_ids: set[str] = set()
    for index, given in enumerate(files):
        where = f"attachments[{index}]"
        data = _content(given.content, where, limit)
        if len(data) > limit:
            raise Refused(
                where,
                f"{where} ({given.filename!r}) is {len(data)} bytes; the limit per attachment is "
                f"{limit} bytes (POSTWARDEN_MAX_ATTACHMENT_BYTES)",
                status=413,
            )
        try:
            attachment = make(given.filename, data, given.content_type, given.content_id)
        except InvalidAttachment as exc:
            raise Refused(where, f"{where}: {exc}") from None
        if attachment.content_id is not None:
            if attachment.content_id in seen_ids:
                raise Refused(where, f"{where}: content_id {attachment.content_id!r} is given twice")
            seen_ids.add(attachment.content_id)
        out.append(attachment)
    return tuple(out)


def _content(content: bytes | str, where: str, limit: int) -> bytes:
    if isinstance(content, bytes):
        return content
    text = "".join(content.split())
    # refused before decoding: four base64 characters carry three bytes
    if len(text) // 4 * 3 > limit + 2:
        raise Refused(
            where,
            f"{where} is about {len(text) // 4 * 3} bytes; the limit per attachment is {limit} bytes "
            "(POSTWARDEN_MAX_ATTACHMENT_BYTES)",
            status=413,
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{where}.content", f"{where}.content is not valid base64") from None
