"""The header block of a message the application composed: checked against RFC 5322,
and the few fields :mod:`postwarden.outbox.raw_message` needs, read without email.parser.

The check (:func:`scan` raises :class:`MalformedHeaders`) refuses what no two readers agree on,
so nothing is accepted that the DKIM signer cannot parse or that verifiers and mail
clients would read differently: a line that is neither a field nor a folded
continuation (``Subject : x``, a tab before the colon, a line without a colon, an mbox
``From `` separator, a first line that is a continuation), a bare CR or LF, 8-bit bytes
that are not UTF-8 (RFC 6532), no ``From:`` or two, and a second instance of any field
RFC 5322 3.6 allows once (Date, From, Sender, Reply-To, To, Cc, Bcc, Message-ID,
In-Reply-To, References, Subject): verifiers pick different instances, and a mail
client may show the unsigned one.

The relay stores thousands of messages a second and needs seven fields of each (Message-ID,
Date, From, Sender, Subject, To, Cc). ``email.parser`` with the compat32 policy builds a whole
Message for that, and ``email.utils.getaddresses`` runs a character-by-character parser
on every address list: together more than the relay's SMTP work (docs/performance.md).

:func:`scan` gives exactly what ``BytesHeaderParser(policy=compat32)`` would give for
those fields when the block is ASCII; for UTF-8 header text it answers None and the
caller asks the parser (the block has been checked by then). :func:`simple_addresses`
likewise reads only plain address lists (``a@b``, ``Name <a@b>``) and answers None for
anything with quotes, comments, groups, encoded words or domain literals, which go to
``getaddresses``.
"""

from __future__ import annotations

import re
from typing import Final

#: lower-cased field name -> the key of :func:`scan`'s answer
WANTED: Final = frozenset({b"message-id", b"date", b"from", b"sender", b"subject", b"to", b"cc"})
#: RFC 5322 3.6: the fields a message has at most once (From exactly once)
ONCE: Final = (
    b"from",
    b"sender",
    b"reply-to",
    b"to",
    b"cc",
    b"bcc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
)
_ONCE_SET: Final = frozenset(ONCE)
#: how a field's name is written in a reason ("Message-ID", not "message-id")
_SPELLED: Final = {b"message-id": "Message-ID", b"in-reply-to": "In-Reply-To", b"reply-to": "Reply-To"}

#: what the stdlib's feedparser takes for a field line (its ``headerRE``), name not empty
_NAME: Final = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
#: RFC 5322 4.5.3 obs-optional: white space between the name and the colon
_SPACED_NAME: Final = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")
#: the longest piece of a bad line a reason quotes
_QUOTED: Final = 40

#: RFC 5322 3.2.3 atext; a plain addr-spec is a dot-atom at a dotted host name
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR: Final = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: a fold (RFC 5322 3.2.2 FWS): long To/Cc lists are folded (Java Mail, Outlook), and
#: getaddresses reads a fold as the blank after it
_FOLD: Final = re.compile(r"\r?\n(?=[ \t])")
_ELEMENT: Final = re.compile(
    rf"[ \t]*(?:({_ADDR})|(?:{_ATEXT}+(?:[ \t]+{_ATEXT}+)*[ \t]*)?<({_ADDR})>)[ \t]*\Z"
)


class MalformedHeaders(ValueError):
    """The header block breaks RFC 5322 (see the module docstring); the text says how,
    in words fit for an SMTP reply or an API error."""


def scan(head: bytes) -> dict[str, list[str]] | None:
    """Check ``head`` (header lines, each ending in CRLF) and return the values of the
    :data:`WANTED` fields, keyed by lower-case name, every occurrence in order, each value
    as compat32 returns it (leading blanks of the first line dropped, folds kept, trailing
    CR/LF stripped). None when the block holds UTF-8 (the parser decodes it). Raises
    :class:`MalformedHeaders`."""
    lines = head.count(b"\r\n")
    if head.count(b"\r") != lines or head.count(b"\n") != lines:
        raise MalformedHeaders("a header line ends in a bare CR or LF; lines end with CRLF (RFC 5322 2.2)")
    if head[:1] in (b" ", b"\t"):
        raise MalformedHeaders(
            "the header block starts with a folded continuation line, not a field (RFC 5322 2.2.3)"
        )
    found: dict[bytes, list[list[bytes]]] = {}
    counts: dict[bytes, int] = {}
    current: list[bytes] | None = None
    for number, line in enumerate(head.split(b"\r\n")[:-1], 1):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        named = _NAME.match(line)
        if named is None:
            raise MalformedHeaders(_not_a_field(line, number))
        name = line[: named.end() - 1].lower()
        current = None
        if name in _ONCE_SET:
            counts[name] = counts.get(name, 0) + 1
        if name in WANTED:
            current = [line[named.end() :].lstrip(b" \t")]
            found.setdefault(name, []).append(current)
    _check_counts(counts)
    if not head.isascii():
        _check_utf8(head)
        return None
    return {
        name.decode("ascii"): [b"\r\n".join(parts).rstrip(b"\r\n").decode("ascii") for parts in values]
        for name, values in found.items()
    }


def _not_a_field(line: bytes, number: int) -> str:
    if number == 1 and line.startswith(b"From "):
        return (
            'the first line is an mbox "From " separator, not a header field; remove it before sending '
            "(RFC 5322 2.2)"
        )
    spaced = _SPACED_NAME.match(line)
    if spaced is not None:
        name = spaced.group(1).decode("ascii")
        return (
            f'header field "{name}" has white space before its colon; write "{name}:" '
            "(RFC 5322 2.2; the obsolete form is read differently by DKIM and mail clients)"
        )
    shown = _printable(line[:_QUOTED])
    return (
        f'header line {number} ("{shown}") is neither a field "Name: value" nor a folded continuation '
        "(RFC 5322 2.2); is the blank line between headers and body missing?"
    )


def _check_counts(counts: dict[bytes, int]) -> None:
    if not counts.get(b"from"):
        raise MalformedHeaders("the message has no From field; RFC 5322 3.6 requires one")
    for name in ONCE:
        count = counts.get(name, 0)
        if count > 1:
            spelled = _SPELLED.get(name) or name.decode("ascii").title()
            raise MalformedHeaders(
                f"the message has {count} {spelled} fields; RFC 5322 3.6 allows "
                f"{'exactly' if name == b'from' else 'at most'} one (list every address in one field)"
                if name in (b"from", b"to", b"cc", b"bcc", b"reply-to")
                else f"the message has {count} {spelled} fields; RFC 5322 3.6 allows at most one"
            )


def _check_utf8(head: bytes) -> None:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedHeaders(
            "a header field holds 8-bit bytes that are not UTF-8; use UTF-8 (RFC 6532) or an "
            "encoded-word (RFC 2047)"
        ) from None


def _printable(text: bytes) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text.decode("ascii", "replace"))


def simple_addresses(value: str) -> list[str] | None:
    """The addr-specs of a plain comma-separated address list, in order, as
    ``email.utils.getaddresses`` reads them; None when the list is not plain."""
    addresses: list[str] = []
    for part in _FOLD.sub("", value).split(","):
        element = _ELEMENT.match(part)
        if element is None:
            return None
        addresses.append(element.group(1) or element.group(2))
    return addresses
