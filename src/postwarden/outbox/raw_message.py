"""Messages the application composed itself (the SMTP relay): keep its headers, add only
what a message must have.

What changes and why: the relay's Received field goes on top (RFC 5321 4.4), line
endings become CRLF (RFC 5322 2.1; DKIM signs the bytes as sent), a ``Message-ID`` and
a ``Date`` are added when absent (RFC 5322 3.6: Date is required, Message-ID should be
there and every retry must carry the same one), and ``Bcc`` is removed, as Postfix's
cleanup does on submission, so blind copies stay blind.

A header block that breaks RFC 5322 (:mod:`postwarden.outbox.raw_headers` says how) is
refused with field ``headers``: the relay answers it at the end of DATA with
``550 5.6.0``, rather than accepting a message that cannot be signed or would be signed
ambiguously.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from postwarden.core.addresses import Address, InvalidAddress, parse_address
from postwarden.outbox import raw_headers
from postwarden.outbox.errors import Refused


@dataclass(frozen=True, slots=True)
class RawMessage:
    raw: bytes
    message_id: str
    envelope_from: str
    #: the From header's addr-spec ("" when absent or unreadable)
    from_address: str
    subject: str
    #: (address, kind): kind is "to"/"cc" when the header lists it, else "bcc"
    recipients: tuple[tuple[str, str], ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    needs_smtputf8: bool

    @property
    def size(self) -> int:
        return len(self.raw)


def prepare_raw(
    raw: bytes, envelope_from: str, recipients: Sequence[str], *, now: datetime, trace: bytes = b""
) -> RawMessage:
    """Check the envelope and normalize ``raw``; ``trace`` (the relay's Received field)
    goes on top. Raises :class:`Refused`."""
    sender = _envelope_address("envelope_from", envelope_from)
    rcpts = list(dict.fromkeys(_envelope_address("recipients", r).addr_spec for r in recipients))
    if not rcpts:
        raise Refused("recipients", "the message has no recipients")
    head, body = _split(_crlf(raw))
    fields = _fields(head)
    from_address = _check_from(fields)
    added: list[bytes] = []
    message_id = _first(fields, "message-id").strip()
    if not message_id:
        message_id = f"<{secrets.token_hex(16)}@{sender.domain}>"
        added.append(f"Message-ID: {message_id}\r\n".encode("ascii"))
    if not _first(fields, "date"):
        added.append(_date_line(now))
    to = _listed(fields.get("to", []))
    cc = _listed(fields.get("cc", []))
    kinds = tuple((r, "to" if r.lower() in to else "cc" if r.lower() in cc else "bcc") for r in rcpts)
    final = trace + b"".join(added) + _without_bcc(head) + b"\r\n" + body
    return RawMessage(
        final,
        message_id,
        sender.addr_spec,
        from_address,
        _first(fields, "subject"),
        kinds,
        tuple(to),
        tuple(cc),
        # RFC 6532: UTF-8 header text (checked to be UTF-8 by the scan) needs SMTPUTF8 too
        sender.needs_smtputf8 or any(not r.isascii() for r in rcpts) or not head.isascii(),
    )


def _envelope_address(field: str, text: str) -> Address:
    try:
        return parse_address(text, allow_display_name=False)
    except InvalidAddress as exc:
        raise Refused(field, f"{field}: {exc}") from None


def _crlf(raw: bytes) -> bytes:
    if b"\n" not in raw.replace(b"\r\n", b""):
        return raw  # already CRLF: the common case costs one scan
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """``(header lines, each CRLF-terminated; body)``."""
    if raw.startswith(b"\r\n"):
        return b"", raw[2:]
    head, sep, body = raw.partition(b"\r\n\r\n")
    return (head + b"\r\n", body) if sep else (raw if raw.endswith(b"\r\n") else raw + b"\r\n", b"")


def _without_bcc(head: bytes) -> bytes:
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line[:4].lower() == b"bcc:"
        if not dropping:
            kept.append(line)
    return b"".join(line + b"\r\n" for line in kept)


#: the last Date line made: a batch shares one ``now`` (format_datetime per message showed in
#: the batch API's profile)
_last_date: tuple[datetime, bytes] | None = None


def _date_line(now: datetime) -> bytes:
    global _last_date  # a tuple swapped whole: safe when threads share it
    last = _last_date
    if last is None or last[0] != now or last[0].tzinfo != now.tzinfo:
        last = _last_date = (now, f"Date: {email.utils.format_datetime(now)}\r\n".encode("ascii"))
    return last[1]


def _fields(head: bytes) -> dict[str, list[str]]:
    """The needed fields (raw_headers.WANTED) as compat32 reads them: scanned, or parsed
    when the block holds UTF-8. Raises :class:`Refused` for a malformed block."""
    try:
        scanned = raw_headers.scan(head)
    except raw_headers.MalformedHeaders as exc:
        raise Refused("headers", str(exc)) from None
    if scanned is not None:
        return scanned
    # the scan checked the block: it is UTF-8 (RFC 6532), read as text, not as bytes
    # (which compat32 would turn into surrogate escapes)
    parsed = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(head.decode("utf-8") + "\r\n")
    return {
        name.decode("ascii"): [str(v) for v in parsed.get_all(name.decode("ascii"), [])]
        for name in raw_headers.WANTED
    }


def _first(fields: dict[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[0] if values else ""


def _listed(values: list[str]) -> list[str]:
    simple = raw_headers.simple_addresses(", ".join(values)) if values else []
    if simple is not None:
        return [addr.lower() for addr in simple]
    return [addr.lower() for _, addr in email.utils.getaddresses(values) if addr]


def _check_from(fields: dict[str, list[str]]) -> str:
    """The From field's first addr-spec (as compat32 and getaddresses read it). Raises
    :class:`Refused` when it names no address, or several without a Sender (RFC 5322
    3.6.2)."""
    value = _first(fields, "from")
    simple = raw_headers.simple_addresses(value)
    authors = simple if simple is not None else [addr for _, addr in email.utils.getaddresses([value])]
    named = [addr for addr in authors if addr]
    if not named:
        raise Refused("headers", "the From field holds no address (RFC 5322 3.6.2)")
    if len(named) > 1 and not _first(fields, "sender").strip():
        raise Refused(
            "headers", "the From field lists several authors and there is no Sender field (RFC 5322 3.6.2)"
        )
    return authors[0]
