"""Compose a message: a :class:`Draft` in, the exact bytes for DATA out.

The bytes are built once, when the message is enqueued, and stored; every retry sends
the same bytes with the same Message-ID (docs/architecture.md: at-least-once delivery, one
stable Message-ID), as zulip fixes ``Date`` when it builds a mail.

Header injection is impossible by construction: every value is checked for CR, LF and
NUL, and every header line is produced here from validated tokens. Custom headers cannot
replace the structural ones this module writes.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from postwarden.core import mime
from postwarden.core.addresses import (
    Address,
    InvalidAddress,
    clean_display_name,
    parse_address,
    parse_address_list,
)
from postwarden.core.attachments import Attachment
from postwarden.core.config.model import RecipientMode

#: random bytes drawn from the OS at a time for :func:`random_hex`
_RANDOM_POOL: Final = 4096
_random = threading.local()


def random_hex(nbytes: int) -> str:
    """``nbytes`` random bytes from the OS CSPRNG, as hex (like ``secrets.token_hex``).

    Two of these per message (its Message-ID and its public id) were a visible share of a
    batch request's time as a ``getrandom`` call each (docs/performance.md); the bytes are
    now drawn 4 KiB at a time per thread and never handed out twice. A forked child starts with an empty pool,
    so parent and child can never share bytes."""
    pool: str = getattr(_random, "pool", "")
    at: int = getattr(_random, "at", 0)
    end = at + 2 * nbytes
    if end > len(pool):
        pool, at, end = os.urandom(max(_RANDOM_POOL, nbytes)).hex(), 0, 2 * nbytes
        _random.pool = pool
    _random.at = end
    return pool[at:end]


def ordered_hex(nbytes: int) -> str:
    """The Unix time in whole seconds as eight hex digits, then :func:`random_hex`
    (``nbytes`` random bytes): as unguessable as ``random_hex(nbytes)``, and sorting by
    creation time to the second.

    For ids kept under a unique or searched index (public ids, Message-IDs): a random
    key lands on a random page of an index that grows with the outbox, so on a large
    outbox every insert rewrote a page of its own, and these were most of what storing a
    message wrote (docs/performance.md); keys that grow with time are appended where the
    last ones went."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{random_hex(nbytes)}"


def _forget_random() -> None:
    _random.pool, _random.at = "", 0


os.register_at_fork(after_in_child=_forget_random)


class InvalidMessage(ValueError):
    """The draft cannot become a message; the text names the field and the reason."""


@dataclass(frozen=True, slots=True)
class Draft:
    """What the caller asks for. Addresses may carry display names (``"Ops <ops@x>"``);
    ``to``/``cc``/``bcc``/``reply_to`` may also be one comma-separated string."""

    from_address: str
    from_name: str | None = None
    to: Sequence[str] = ()
    cc: Sequence[str] = ()
    bcc: Sequence[str] = ()
    reply_to: Sequence[str] = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    #: custom headers (X-…, List-Unsubscribe …); structural ones are refused
    headers: Mapping[str, str] = field(default_factory=dict)
    recipient_mode: RecipientMode = RecipientMode.BCC
    #: generated when None: ``<{random}@{from domain}>``
    message_id: str | None = None
    #: now (UTC) when None; must be timezone-aware
    date: datetime | None = None
    #: files (core.attachments.make checks them); those with a content_id go inline
    attachments: Sequence[Attachment] = ()


RecipientKind = Literal["to", "cc", "bcc"]


@dataclass(frozen=True, slots=True)
class EnvelopeRecipient:
    """One envelope recipient. ``kind`` is how the composed message treats it: a To
    recipient hidden by bcc mode is ``"bcc"`` (providers' APIs need exactly that)."""

    address: str
    kind: RecipientKind


@dataclass(frozen=True, slots=True)
class Composed:
    """The message as it will be stored and sent, byte for byte, on every attempt."""

    #: CRLF line endings, ready for DATA (no dot-stuffing: the session does that)
    raw: bytes
    #: with angle brackets
    message_id: str
    #: addr-spec for MAIL FROM
    envelope_from: str
    #: de-duplicated, in to, cc, bcc order
    recipients: tuple[EnvelopeRecipient, ...]
    needs_smtputf8: bool
    size: int


#: Fields this module writes itself, and why a caller may not set them through ``headers``.
STRUCTURAL: Final[Mapping[str, str]] = {
    "from": "use from_address / from_name",
    "sender": "Postwarden sends as from_address",
    "to": "use to",
    "cc": "use cc",
    "bcc": "use bcc (Bcc is never written into a message)",
    "reply-to": "use reply_to",
    "subject": "use subject",
    "message-id": "use message_id",
    "date": "use date",
    "mime-version": "the composer writes it",
    "return-path": "the receiving server adds it from MAIL FROM (RFC 5321 4.4)",
    "received": "servers add it on the way",
}
#: RFC 5322 3.6.6: resent fields describe a re-sending, which this composer does not do
_STRUCTURAL_PREFIXES: Final = (
    ("content-", "the composer writes the MIME fields"),
    ("resent-", "resent fields are not supported"),
)
#: RFC 5322 2.2 ftext: printable ASCII except ":"
_FIELD_NAME: Final = re.compile(r"[!-9;-~]{1,76}")
#: RFC 5322 3.6.4 msg-id, dot-atom-text on both sides (no obsolete forms)
_ATOM: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_MSG_ID: Final = re.compile(rf"<?({_ATOM}@(?:{_ATOM}|\[[!-Z^-~]*\]))>?")
_MAX_MSG_ID: Final = 900
_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def compose(draft: Draft) -> Composed:
    """Build the message bytes for ``draft``.

    Raises :class:`InvalidAddress` for a bad address (the message names the field) and
    :class:`InvalidMessage` for anything else: CR/LF/NUL in a header value, a bad or
    structural custom header name, no recipients, a naive ``date``, a malformed
    ``message_id``, text that is not valid Unicode.
    """
    sender, from_line = _sender(draft.from_address, draft.from_name)
    to = _addresses("to", draft.to)
    cc = _addresses("cc", draft.cc)
    bcc = _addresses("bcc", draft.bcc)
    reply_to = _addresses("reply_to", draft.reply_to)
    if not (to or cc or bcc):
        raise InvalidMessage("the message has no recipients: give at least one of to, cc, bcc")
    # bcc mode (Metabase's default) hides To recipients from each other; one alone is shown
    hide_to = len(to) > 1 and draft.recipient_mode is not RecipientMode.CC
    message_id = _message_id(draft.message_id, sender)
    head = [f"Date: {_format_date(draft.date)}\r\n", from_line]
    if reply_to:
        head.append(mime.field("Reply-To", mime.address_list_tokens(reply_to, "Reply-To")))
    head.append(_UNDISCLOSED if hide_to or not to else mime.field("To", mime.address_list_tokens(to, "To")))
    if cc:
        head.append(mime.field("Cc", mime.address_list_tokens(cc, "Cc")))
    head.append(_header_line("Subject", draft.subject, "subject"))
    head.append(f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n")
    head.extend(_custom_headers(draft.headers))
    raw = _head_bytes(head) + _with_attachments(draft.text, draft.html, draft.attachments)
    smtputf8 = sender.needs_smtputf8 or _any_smtputf8(to, cc, bcc, reply_to)
    recipients = _recipients(to, cc, bcc, hide_to)
    return Composed(raw, message_id, sender.addr_spec, recipients, smtputf8, len(raw))


#: RFC 5322 A.1.3: an empty group says "recipients not shown"
_UNDISCLOSED: Final = "To: undisclosed-recipients:;\r\n"


@functools.lru_cache(maxsize=64)
def _sender(from_address: str, from_name: str | None) -> tuple[Address, str]:
    """The sender and its From line. Cached on the two strings: one sender signs a whole
    batch, and strings hash once while an Address hashes all its fields every time."""
    try:
        sender = parse_address(from_address)
    except InvalidAddress as exc:
        raise InvalidAddress(f"from_address: {exc}") from None
    if from_name is not None:
        name = clean_display_name(_check_text("from_name", from_name))
        sender = Address(
            sender.addr_spec, name, sender.local, sender.domain, sender.domain_unicode, sender.needs_smtputf8
        )
    try:
        return sender, mime.field("From", mime.address_tokens(sender, mime.first_word_room(len("From"))))
    except UnicodeEncodeError:
        raise InvalidMessage("from_name is not valid Unicode (it has a lone surrogate)") from None


def _addresses(field_name: str, value: str | Sequence[str]) -> list[Address]:
    if not value:
        return []
    try:
        return parse_address_list(value)
    except InvalidAddress as exc:
        raise InvalidAddress(f"{field_name}: {exc}") from None


def _any_smtputf8(*groups: list[Address]) -> bool:
    return any(address.needs_smtputf8 for group in groups for address in group)


def _recipients(
    to: list[Address], cc: list[Address], bcc: list[Address], hide_to: bool
) -> tuple[EnvelopeRecipient, ...]:
    """Envelope recipients without exact repeats, in to, cc, bcc order.

    RFC 5321 2.4: a local part may be case-sensitive, so only identical addresses merge.
    """
    seen: set[str] = set()
    out: list[EnvelopeRecipient] = []
    to_kind: RecipientKind = "bcc" if hide_to else "to"
    for group, kind in ((to, to_kind), (cc, "cc"), (bcc, "bcc")):
        for address in group:
            if address.addr_spec not in seen:
                seen.add(address.addr_spec)
                out.append(EnvelopeRecipient(address.addr_spec, kind))
    return tuple(out)


def _check_text(field_name: str, value: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(f"{field_name} must be a string, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise InvalidMessage(
            f"{field_name} contains a line break or NUL character: refused, as it could inject headers"
        )
    return value


def _header_line(header: str, value: str, field_name: str) -> str:
    """One unstructured field, folded. Short values are cached: subjects and custom headers
    repeat across a batch, and long ones would only fill the cache."""
    if len(value) <= _CACHED_VALUE:
        return _cached_header_line(header, value, field_name)
    return _make_header_line(header, value, field_name)


#: longest header value kept in the line cache
_CACHED_VALUE: Final = 500


@functools.lru_cache(maxsize=1024)
def _cached_header_line(header: str, value: str, field_name: str) -> str:
    return _make_header_line(header, value, field_name)


def _make_header_line(header: str, value: str, field_name: str) -> str:
    _check_text(field_name, value)
    try:
        return mime.field(header, mime.unstructured_tokens(value, len(header)))
    except UnicodeEncodeError:
        raise InvalidMessage(f"{field_name} is not valid Unicode (it has a lone surrogate)") from None


def _custom_headers(headers: Mapping[str, str]) -> list[str]:
    seen: set[str] = set()
    lines: list[str] = []
    for name, value in headers.items():
        _check_header_name(name)
        key = name.lower()
        if key in seen:
            raise InvalidMessage(f"header {name!r} is given twice (header names ignore case)")
        seen.add(key)
        if not isinstance(value, str):
            raise InvalidMessage(f"header {name!r} must be a string, not {type(value).__name__}")
        lines.append(_header_line(name, value, f"header {name!r}"))
    return lines


@functools.lru_cache(maxsize=256)
def _check_header_name(name: str) -> None:
    # cached: callers send the same few custom headers with every message
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise InvalidMessage(
            f"header name {name!r} is not allowed: a field name is 1 to 76 printable "
            "ASCII characters without spaces or ':' (RFC 5322 2.2)"
        )
    key = name.lower()
    reason = STRUCTURAL.get(key) or next((why for p, why in _STRUCTURAL_PREFIXES if key.startswith(p)), None)
    if reason is not None:
        raise InvalidMessage(f"header {name!r} cannot be set through headers: {reason}")


def _message_id(given: str | None, sender: Address) -> str:
    if given is None:
        # 128 random bits: unique without coordination between workers
        return f"<{ordered_hex(16)}@{sender.domain}>"
    _check_text("message_id", given)
    if len(given) > _MAX_MSG_ID:
        # a Message-ID cannot be folded, and its line may not pass 998 octets
        raise InvalidMessage(f"message_id is {len(given)} characters long; at most {_MAX_MSG_ID} fit")
    match = _MSG_ID.fullmatch(given.strip())
    if match is None or given.strip().startswith("<") != given.strip().endswith(">"):
        raise InvalidMessage(
            f"message_id {given!r} is not a Message-ID: expected <left@right> (RFC 5322 3.6.4)"
        )
    return f"<{match.group(1)}>"


def _format_date(date: datetime | None) -> str:
    """RFC 5322 3.3 date-time, in the given zone (now, in UTC, when None)."""
    if date is None:
        return _now_header(int(time.time()))
    return _date_header(date)


@functools.lru_cache(maxsize=64)
def _date_header(date: datetime) -> str:
    offset = date.utcoffset()
    if offset is None:
        raise InvalidMessage("date must be timezone-aware (give tzinfo, e.g. datetime.now(UTC))")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{_DAYS[date.weekday()]}, {date.day:02d} {_MONTHS[date.month - 1]} {date.year:04d} "
        f"{date.hour:02d}:{date.minute:02d}:{date.second:02d} {sign}{hours:02d}{mins:02d}"
    )


@functools.lru_cache(maxsize=4)
def _now_header(second: int) -> str:
    # A batch composes thousands of messages within the same second.
    return _date_header(datetime.fromtimestamp(second, UTC))


def _head_bytes(head: list[str]) -> bytes:
    text = "".join(head)
    if text.isascii():
        return text.encode("ascii")
    # Only addresses with a non-ASCII local part are written raw (RFC 6532); the
    # message then needs SMTPUTF8 and that is reported in Composed.needs_smtputf8.
    return text.encode("utf-8")


def _body(text: str | None, html: str | None) -> bytes:
    parts = [
        (subtype, _check_body(subtype, value))
        for subtype, value in (("plain", text), ("html", html))
        if value is not None
    ]
    if not parts:
        parts = [("plain", "")]
    if len(parts) == 1:
        subtype, value = parts[0]
        cte, data = mime.encode_body(value)
        return _part_head(subtype, cte).encode("ascii") + b"\r\n" + data
    entities = []
    for subtype, value in parts:
        cte, data = mime.encode_body(value)
        entities.append(_part_head(subtype, cte).encode("ascii") + b"\r\n" + data)
    return _multipart("alternative", entities)


def _with_attachments(text: str | None, html: str | None, attachments: Sequence[Attachment]) -> bytes:
    """The body entity (its Content-* fields, a blank line, its content) with the files:

    - inline parts (with a Content-ID) and an HTML body: ``multipart/related`` holding the
      body first (RFC 2387: the root), then the inline parts, as mail clients resolve
      ``cid:`` only within the related entity;
    - attachments: ``multipart/mixed`` holding that, then each attachment.

    Without an HTML part an inline file has nothing to show it and is attached instead.
    """
    if not attachments:
        return _body(text, html)
    inline = [a for a in attachments if a.inline and html is not None]
    files = [a for a in attachments if not (a.inline and html is not None)]
    entity = _body(text, html)
    if inline:
        entity = _multipart(
            "related", [entity, *(_file_part(a, "inline") for a in inline)], 'type="text/html"'
        )
    if files:
        entity = _multipart("mixed", [entity, *(_file_part(a, "attachment") for a in files)])
    return entity


def _multipart(subtype: str, entities: list[bytes], extra: str = "") -> bytes:
    """``multipart/<subtype>`` of ``entities`` (each a head, a blank line and a body that
    ends in CRLF)."""
    boundary = _boundary(entities)
    tokens = [f"multipart/{subtype};", f'boundary="{boundary}"' + (";" if extra else "")]
    out = [(mime.field("Content-Type", tokens + ([extra] if extra else [])) + "\r\n").encode("ascii")]
    for entity in entities:
        out.append(f"--{boundary}\r\n".encode("ascii"))
        # the CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1)
        out.append(entity + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def _file_part(attachment: Attachment, disposition: str) -> bytes:
    """One file: its type and name, base64 content. The name goes in both ``filename``
    (Content-Disposition) and ``name`` (Content-Type), which older clients read."""
    try:
        name_type = mime.parameter_tokens("name", attachment.filename)
        name_disposition = mime.parameter_tokens("filename", attachment.filename)
    except UnicodeEncodeError:
        raise InvalidMessage("attachment filename is not valid Unicode (it has a lone surrogate)") from None
    head = [
        mime.field("Content-Type", [f"{attachment.content_type};", *name_type]),
        mime.field("Content-Disposition", [f"{disposition};", *name_disposition]),
        "Content-Transfer-Encoding: base64\r\n",
    ]
    if attachment.content_id is not None:
        head.append(f"Content-ID: <{attachment.content_id}>\r\n")
    return "".join(head).encode("ascii") + b"\r\n" + mime.encode_binary(attachment.data)


def _check_body(subtype: str, value: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(f"{'text' if subtype == 'plain' else 'html'} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMessage(
            f"{'text' if subtype == 'plain' else 'html'} is not valid Unicode (it has a lone surrogate)"
        ) from None
    return value


def _part_head(subtype: str, cte: str) -> str:
    return f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n'


def _boundary(bodies: Iterable[bytes]) -> str:
    datas = list(bodies)
    while True:
        # "=_" cannot occur in quoted-printable output; 7bit bodies are checked
        boundary = f"=_pw{random_hex(12)}"
        marker = f"--{boundary}".encode("ascii")
        if not any(marker in data for data in datas):
            return boundary
