"""IMAP access to mailboxes Postwarden watches: canary mailboxes (did our mail arrive,
in which folder, with what verdicts) and bounce mailboxes (read, then delete or flag).

Framework-free, on the stdlib ``imaplib``: :mod:`.session` (connect, TLS, login, select,
search, fetch, flag, delete, move), :mod:`.folders` (LIST parsing, the junk folder by
SPECIAL-USE or name) and :mod:`.errors` (one exception family with stages).
"""

from postwarden.core.imap.errors import (
    ImapCertificateError,
    ImapCommandRefused,
    ImapConnectError,
    ImapDisconnected,
    ImapError,
    ImapLoginRefused,
    ImapNetworkError,
    ImapPlaintextRefused,
    ImapStage,
    ImapStartTlsUnavailable,
    ImapTimeout,
    ImapTlsError,
)
from postwarden.core.imap.folders import JUNK_NAMES, Folder, decode_modified_utf7, find_junk, parse_list
from postwarden.core.imap.session import (
    DEFAULT_PORTS,
    FetchedMessage,
    ImapEndpoint,
    ImapSecurity,
    ImapSession,
    open_session,
)

__all__ = [
    "DEFAULT_PORTS",
    "JUNK_NAMES",
    "FetchedMessage",
    "Folder",
    "ImapCertificateError",
    "ImapCommandRefused",
    "ImapConnectError",
    "ImapDisconnected",
    "ImapEndpoint",
    "ImapError",
    "ImapLoginRefused",
    "ImapNetworkError",
    "ImapPlaintextRefused",
    "ImapSecurity",
    "ImapSession",
    "ImapStage",
    "ImapStartTlsUnavailable",
    "ImapTimeout",
    "ImapTlsError",
    "decode_modified_utf7",
    "find_junk",
    "open_session",
    "parse_list",
]
