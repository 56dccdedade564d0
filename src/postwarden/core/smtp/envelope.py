"""What goes on the wire for one message: EHLO keywords, MAIL FROM parameters, content.

Pure functions, no I/O. This is the per-message hot path of the worker, so the content
is handled as ``bytes`` with whole-buffer operations (``count``, ``replace``, ``in``)
that run at memchr speed; nothing here loops over lines in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from postwarden.core.smtp.errors import MessageTooLarge, SmtpUtf8Unavailable
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

_ANY_EOL: Final = re.compile(rb"\r\n|\r|\n")
#: every byte but CR and LF, for bytes.translate(None, …) to delete
_NOT_CRLF: Final = bytes(b for b in range(256) if b not in b"\r\n")


def _is_crlf_only(data: bytes) -> bool:
    """Every CR and every LF in ``data`` belongs to a CRLF pair.

    Two C passes: the line-end bytes alone must read CRLFCRLF…, and as many CRLF pairs
    must be adjacent in ``data``. (Three bytes.count() calls cost a third more: count
    scans without memchr. This runs once per message on the worker's hot path.)
    """
    ends = data.translate(None, _NOT_CRLF)
    pairs = len(ends) // 2
    return ends == b"\r\n" * pairs and data.count(b"\r\n") == pairs


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """The service extensions of an EHLO reply, upper-case keyword -> parameters:
    ``{"PIPELINING": "", "SIZE": "10240000", "AUTH": "PLAIN LOGIN"}``.

    The first line is the server's name, not an extension. ``AUTH=LOGIN`` (the pre-RFC
    form old Exchange servers still send beside ``AUTH LOGIN``) is merged into ``AUTH``.
    """
    extensions: dict[str, str] = {}
    for raw in reply.lines[1:]:
        line = raw[4:].strip() if len(raw) > 3 and raw[:3].isdigit() else raw.strip()
        keyword, _, params = line.partition(" ")
        key = keyword.upper()
        if key.startswith("AUTH="):
            key, params = "AUTH", f"{keyword[5:]} {params}"
        if not key:
            continue
        params = " ".join(params.split())
        if key == "AUTH" and extensions.get("AUTH"):
            known = extensions["AUTH"].split()
            params = " ".join(known + [m for m in params.split() if m not in known])
        extensions[key] = params
    return extensions


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the last EHLO allows, decoded once per EHLO rather than once per message."""

    pipelining: bool = False
    #: RFC 1870: SIZE advertised at all (then MAIL FROM carries SIZE=n)
    size: bool = False
    #: the advertised maximum; None when SIZE is absent or 0 ("no fixed limit")
    size_limit: int | None = None
    eight_bit_mime: bool = False
    smtputf8: bool = False

    @classmethod
    def from_extensions(cls, extensions: dict[str, str]) -> Capabilities:
        limit_text = extensions.get("SIZE", "")
        limit = int(limit_text) if limit_text.isdigit() and int(limit_text) > 0 else None
        return cls(
            pipelining="PIPELINING" in extensions,
            size="SIZE" in extensions,
            size_limit=limit,
            eight_bit_mime="8BITMIME" in extensions,
            smtputf8="SMTPUTF8" in extensions,
        )


def check_addresses(sender: str, recipients: Sequence[str]) -> bool:
    """Refuse what would break the command syntax; return True when an address is not
    ASCII (so the envelope needs SMTPUTF8, RFC 6531).

    Raises ValueError: a line break or angle bracket inside an address would let it
    smuggle a command of its own; an empty recipient list sends nothing.
    """
    if not recipients:
        raise ValueError("no recipients")
    joined = sender + "".join(recipients)
    if "\r" in joined or "\n" in joined or "<" in joined or ">" in joined or "\x00" in joined:
        raise ValueError("an address contains a line break, an angle bracket or NUL")
    if not all(recipients):
        raise ValueError("an empty recipient address")
    return not joined.isascii()


#: why a message whose only non-ASCII is in its header fields was not sent
HEADERS_NEED_SMTPUTF8: Final = (
    "the message's header fields carry UTF-8 text (RFC 6532) and the server's EHLO does not list SMTPUTF8"
)


def mail_parameters(
    caps: Capabilities, *, size: int | None, eight_bit: bool, utf8_needed: bool, utf8_asked: bool
) -> str:
    """The ESMTP parameters of MAIL FROM, with a leading space when there are any.

    Raises :class:`MessageTooLarge` when ``size`` exceeds the advertised SIZE (before a
    byte of content is sent) and :class:`SmtpUtf8Unavailable` when an address needs
    SMTPUTF8, or the message does (``utf8_asked``: UTF-8 in its header fields, RFC 6532),
    and the server does not offer it. The message is not sent without it: a server that
    does not offer SMTPUTF8 may refuse or mangle the 8-bit header text, and a recipient's
    client may show it garbled (Postfix bounces such mail the same way, 5.6.7).
    """
    params = ""
    if size is not None and caps.size:
        if caps.size_limit is not None and size > caps.size_limit:
            raise MessageTooLarge(
                SmtpStage.MAIL,
                detail=f"the message is {size} bytes; the server accepts at most {caps.size_limit} (SIZE)",
                limit=caps.size_limit,
                size=size,
            )
        params = f" SIZE={size}"
    if eight_bit and caps.eight_bit_mime:
        params += " BODY=8BITMIME"
    if utf8_needed or utf8_asked:
        if caps.smtputf8:
            params += " SMTPUTF8"
        elif utf8_needed:
            raise SmtpUtf8Unavailable(SmtpStage.MAIL, detail="the server's EHLO does not list SMTPUTF8")
        else:
            raise SmtpUtf8Unavailable(SmtpStage.MAIL, detail=HEADERS_NEED_SMTPUTF8)
    return params


def prepare_content(data: bytes) -> tuple[int, bytes]:
    """``(size, wire)`` for an RFC 5322 message: ``size`` is its length with CRLF line
    ends (what SIZE= declares, RFC 1870 §4), ``wire`` the same with leading dots doubled
    (RFC 5321 §4.5.2) and the ``CRLF.CRLF`` terminator appended."""
    if b"\r" not in data:
        if b"\n" in data:
            data = data.replace(b"\n", b"\r\n")
    elif not _is_crlf_only(data):
        data = _ANY_EOL.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"  # the last line's end: part of the content (RFC 5321 §4.1.1.4)
    size = len(data)
    data = data.replace(b"\r\n.", b"\r\n..")  # returns data itself when there is none
    if data[:1] == b".":
        data = b"." + data
    return size, data + b".\r\n"
