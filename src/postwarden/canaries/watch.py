"""One look into a canary mailbox: every mail of this canary, in which folder.

The folders looked in are the inbox first, then the junk folder (SPECIAL-USE ``\\Junk`` or
a usual name), then the others a rule could have moved it to, skipping the ones that only
mirror others (``\\All``, ``\\Flagged``) or hold our own copies (``\\Sent``, ``\\Drafts``).
In each, one ``UID SEARCH HEADER`` for the canary's key finds this canary's mails and
nothing else: the mailbox is never scanned.

Finding and removing are two steps on one session, so the caller records what was found
before anything is deleted: a crash in between leaves the mail to be found again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from postwarden.canaries.verdicts import TOKEN_HEADER, Verdicts, read_headers
from postwarden.core.imap import Folder, ImapSession, find_junk

#: virtual or outgoing folders: a canary found there would be counted twice or is ours
_SKIPPED_USES: Final = frozenset({"\\All", "\\Flagged", "\\Sent", "\\Drafts"})
#: folders looked in at most (a mailbox with hundreds of folders is not a canary mailbox)
MAX_FOLDERS: Final = 25


@dataclass(frozen=True, slots=True)
class Found:
    #: the folder as the server names it (for SELECT) and as people read it
    folder_name: str
    folder: str
    #: inbox, junk or other
    placement: str
    uid: int
    verdicts: Verdicts
    #: the receiving server's INTERNALDATE (its clock)
    server_received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Look:
    """Every copy of every mail of the canary now in the mailbox."""

    found: tuple[Found, ...]
    #: the junk folder's name, or "" when the mailbox has none
    junk_folder: str

    def of(self, token: str) -> list[Found]:
        return [f for f in self.found if f.verdicts.token == token]


def find(imap: ImapSession, key: str) -> Look:
    """The canary's mails (headers only, \\Seen untouched). Raises ImapError."""
    folders = imap.folders()
    junk = find_junk(folders)
    found: list[Found] = []
    for folder, placement in _ordered(folders, junk):
        imap.select(folder.name, readonly=True)
        for uid in imap.search_header(TOKEN_HEADER, key):
            fetched = imap.fetch(uid, headers_only=True)
            if fetched is None:
                continue
            verdicts = read_headers(fetched.raw)
            if verdicts.token.startswith(key):
                found.append(
                    Found(folder.name, folder.display, placement, uid, verdicts, fetched.internal_date)
                )
    return Look(tuple(found), junk.display if junk else "")


def remove(imap: ImapSession, found: Iterable[Found]) -> None:
    """Delete these mails (by folder and UID). Raises ImapError."""
    by_folder: dict[str, list[int]] = {}
    for item in found:
        by_folder.setdefault(item.folder_name, []).append(item.uid)
    for folder, uids in by_folder.items():
        imap.select(folder)
        imap.delete(uids)


def _ordered(folders: list[Folder], junk: Folder | None) -> list[tuple[Folder, str]]:
    inbox = [f for f in folders if f.is_inbox]
    rest = [
        f
        for f in folders
        if f.selectable and not f.is_inbox and f != junk and f.special_use not in _SKIPPED_USES
    ]
    ordered = (
        [(f, "inbox") for f in inbox] + ([(junk, "junk")] if junk else []) + [(f, "other") for f in rest]
    )
    return ordered[:MAX_FOLDERS]
