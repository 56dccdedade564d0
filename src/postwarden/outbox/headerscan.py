"""The few header fields :mod:`postwarden.outbox.raw` needs, read without email.parser.

The relay stores thousands of messages a second and needs six fields of each (Message-ID,
Date, From, Subject, To, Cc). ``email.parser`` with the compat32 policy builds a whole
Message for that, and ``email.utils.getaddresses`` runs a character-by-character parser
on every address list: together ~160 µs per message, more than the relay's SMTP work.

:func:`scan` gives exactly what ``BytesHeaderParser(policy=compat32)`` would give for
those fields, but only for a header block it reads the same way: ASCII, CRLF line ends (no bare CR or LF),
every line a field ``name:`` (RFC 5322 2.2: printable ASCII but the colon) or a
continuation (RFC 5322 2.2.3). Anything else (8-bit bytes, a bare CR, a first line that
is a continuation, an mbox ``From `` line, a line without a colon) answers None, and the
caller asks the parser. :func:`simple_addresses` likewise reads only plain address
lists (``a@b``, ``Name <a@b>``) and answers None for anything with quotes, comments,
groups, encoded words or domain literals, which go to ``getaddresses``.
"""

from __future__ import annotations

import re
from typing import Final

#: lower-cased field name -> the key of :func:`scan`'s answer
WANTED: Final = frozenset({b"message-id", b"date", b"from", b"subject", b"to", b"cc"})

#: what the stdlib's feedparser takes for a field line (its ``headerRE``), name not empty
_NAME: Final = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")

#: RFC 5322 3.2.3 atext; a plain addr-spec is a dot-atom at a dotted host name
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ADDR: Final = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: a fold (RFC 5322 3.2.2 FWS): long To/Cc lists are folded (Java Mail, Outlook), and
#: getaddresses reads a fold as the blank after it
_FOLD: Final = re.compile(r"\r?\n(?=[ \t])")
_ELEMENT: Final = re.compile(
    rf"[ \t]*(?:({_ADDR})|(?:{_ATEXT}+(?:[ \t]+{_ATEXT}+)*[ \t]*)?<({_ADDR})>)[ \t]*\Z"
)


def scan(head: bytes) -> dict[str, list[str]] | None:
    """The values of the :data:`WANTED` fields in ``head`` (header lines, each ending in
    CRLF), keyed by lower-case name, every occurrence in order, each value as compat32
    returns it (leading blanks of the first line dropped, folds kept, trailing CR/LF
    stripped). None when the parser must decide (see the module docstring)."""
    lines = head.count(b"\r\n")
    if not head.isascii() or head.count(b"\r") != lines or head.count(b"\n") != lines:
        return None
    if head[:1] in (b" ", b"\t"):
        return None
    found: dict[bytes, list[list[bytes]]] = {}
    current: list[bytes] | None = None
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line)
            continue
        named = _NAME.match(line)
        if named is None:
            return None
        name = line[: named.end() - 1].lower()
        current = None
        if name in WANTED:
            current = [line[named.end() :].lstrip(b" \t")]
            found.setdefault(name, []).append(current)
    return {
        name.decode("ascii"): [b"\r\n".join(parts).rstrip(b"\r\n").decode("ascii") for parts in values]
        for name, values in found.items()
    }


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
