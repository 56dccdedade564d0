"""Folders as an IMAP server lists them, and finding the junk folder among them.

A folder's ``name`` is kept exactly as the server sent it (modified UTF-7, RFC 3501
5.1.3), because that is what SELECT needs; ``display`` is the decoded form for people.
The junk folder is the one carrying the SPECIAL-USE ``\\Junk`` attribute (RFC 6154) when
the server marks one; otherwise the first folder whose name is one of the names mail
clients and providers use (:data:`JUNK_NAMES`), compared without case, on the whole name
or its last level (``INBOX.Spam``, ``[Gmail]/Spam``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: the RFC 6154 attributes, in the order a folder's role is named by them
SPECIAL_USES: Final = ("\\Junk", "\\Sent", "\\Trash", "\\Drafts", "\\Archive", "\\All", "\\Flagged")

#: names used for a junk folder where the server marks none, most common first
#: (Dovecot/Thunderbird, Gmail, Outlook/Exchange, Yahoo, Courier/cPanel, French/German clients)
JUNK_NAMES: Final = (
    "junk",
    "spam",
    "[gmail]/spam",
    "[google mail]/spam",
    "junk e-mail",
    "junk email",
    "junk mail",
    "bulk mail",
    "bulk",
    "courrier indésirable",
    "spamverdacht",
)

_LIST_LINE: Final = re.compile(
    rb'^\((?P<flags>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)*") ?(?P<name>.*)$', re.DOTALL
)


@dataclass(frozen=True, slots=True)
class Folder:
    #: as the server names it (modified UTF-7), for SELECT
    name: str
    #: the hierarchy delimiter, or "" for a flat namespace
    delimiter: str
    attributes: frozenset[str]

    @property
    def display(self) -> str:
        return decode_modified_utf7(self.name)

    @property
    def special_use(self) -> str | None:
        """The folder's RFC 6154 role (``"\\Junk"``), or None."""
        lowered = {attribute.lower() for attribute in self.attributes}
        return next((use for use in SPECIAL_USES if use.lower() in lowered), None)

    @property
    def selectable(self) -> bool:
        lowered = {attribute.lower() for attribute in self.attributes}
        return not lowered & {"\\noselect", "\\nonexistent"}

    @property
    def is_inbox(self) -> bool:
        return self.name.upper() == "INBOX"


def parse_list(lines: Sequence[bytes | tuple[bytes, bytes] | None]) -> list[Folder]:
    """The folders in imaplib's ``LIST`` answer. A name sent as a literal comes as a
    ``(prefix, literal)`` tuple; lines that are not LIST data are skipped."""
    folders: list[Folder] = []
    for item in lines:
        if item is None:
            continue
        head, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        match = _LIST_LINE.match(head.strip())
        if match is None:
            continue
        folders.append(
            Folder(
                name=_astring(match["name"].strip())
                if literal is None
                else literal.decode("utf-8", "replace"),
                delimiter="" if match["delim"] == b"NIL" else _astring(match["delim"]),
                attributes=frozenset(match["flags"].decode("ascii", "replace").split()),
            )
        )
    return folders


def find_junk(folders: Iterable[Folder]) -> Folder | None:
    """The junk folder: marked ``\\Junk`` first, then by name; None when there is none."""
    candidates = [folder for folder in folders if folder.selectable and not folder.is_inbox]
    marked = [folder for folder in candidates if folder.special_use == "\\Junk"]
    if marked:
        return marked[0]
    for wanted in JUNK_NAMES:
        for folder in candidates:
            if wanted in _names_to_compare(folder):
                return folder
    return None


def _names_to_compare(folder: Folder) -> set[str]:
    whole = folder.display.casefold()
    names = {whole}
    if folder.delimiter:
        names.add(whole.rsplit(folder.delimiter.casefold(), 1)[-1])
    return names


def _astring(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def decode_modified_utf7(name: str) -> str:
    """RFC 3501 5.1.3: ``&``-shifted base64 of UTF-16BE, ``,`` for ``/``, ``&-`` for ``&``.
    A malformed shift is left as it is: a name is shown, never refused."""
    return re.sub(r"&([^-]*)-", _decode_shift, name)


def _decode_shift(match: re.Match[str]) -> str:
    body = match[1]
    if not body:
        return "&"
    padded = body.replace(",", "/") + "=" * (-len(body) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        return match[0]
