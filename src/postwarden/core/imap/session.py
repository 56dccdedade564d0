"""A small IMAP client for mailboxes Postwarden watches (canary mailboxes, bounce
mailboxes), on the stdlib ``imaplib``.

::

    endpoint = ImapEndpoint(host="imap.example.com", port=993, security="ssl",
                            user="canary@example.com", password=Secret("…"))
    with open_session(endpoint) as imap:
        junk = imap.junk_folder()
        imap.select("INBOX")
        for uid in imap.search_header("X-Postwarden-Canary", token):
            message = imap.fetch(uid, headers_only=True)

Certificates are verified (the system trust store, honouring ``SSL_CERT_FILE``) unless
``verify_tls=False``; every socket operation is bounded by ``timeout``. Every failure is
an :class:`~postwarden.core.imap.errors.ImapError` naming its stage, with the server's
own words; the password is never in one (it leaves only inside AUTHENTICATE PLAIN or
LOGIN, and is scrubbed from anything the server echoes).

Messages are addressed by UID (RFC 3501 2.3.1.1), never by sequence number, so an
expunge by another client between SEARCH and FETCH cannot make us touch the wrong mail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import imaplib
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from postwarden.core.imap.errors import (
    ImapCommandRefused,
    ImapDisconnected,
    ImapError,
    ImapPlaintextRefused,
    ImapStage,
    ImapStartTlsUnavailable,
    map_exception,
)
from postwarden.core.imap.folders import Folder, find_junk, parse_list
from postwarden.core.secrets import Secret
from postwarden.core.smtp.tls import client_context

DEFAULT_TIMEOUT: Final = 30.0
#: RFC 5322 3.6.8 field-name: printable ASCII except ":"
_FIELD_NAME: Final = re.compile(r"[!-9;-~]+")
#: what a searched value may hold: printable ASCII without the quoted-string specials
_SEARCH_VALUE: Final = re.compile(r"[ !#-\[\]-~]+")
_FETCH_UID: Final = re.compile(rb"UID (\d+)")
_FETCH_FLAGS: Final = re.compile(rb"FLAGS \(([^)]*)\)")
_FETCH_DATE: Final = re.compile(rb'INTERNALDATE "([^"]+)"')


class ImapSecurity(enum.StrEnum):
    NONE = "none"
    SSL = "ssl"  # implicit TLS, port 993
    STARTTLS = "starttls"  # plain connect, then STARTTLS, port 143


DEFAULT_PORTS: Final = {ImapSecurity.NONE: 143, ImapSecurity.SSL: 993, ImapSecurity.STARTTLS: 143}


@dataclass(frozen=True, slots=True)
class ImapEndpoint:
    host: str
    port: int
    security: ImapSecurity
    user: str
    password: Secret = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    verify_tls: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "security", ImapSecurity(self.security))  # ValueError when unknown
        if not self.host.strip():
            raise ValueError("the IMAP host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"the IMAP port {self.port} is not a TCP port (1-65535)")
        if self.timeout <= 0:
            raise ValueError("the IMAP timeout must be positive")


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    uid: int
    #: the header block (``headers_only=True``) or the whole message, as the server sent it
    raw: bytes
    flags: frozenset[str]
    #: when the receiving server stored it, on the server's clock (RFC 3501 INTERNALDATE)
    internal_date: dt.datetime | None


class ImapSession:
    """A logged-in session. Use :func:`open_session`; every method raises
    :class:`ImapError` (stage, server's words) and nothing else from the network."""

    def __init__(self, client: imaplib.IMAP4) -> None:
        self._client = client
        self.selected: str | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(str(cap).upper() for cap in self._client.capabilities)

    def folders(self) -> list[Folder]:
        data = self._call(ImapStage.LIST, self._client.list)
        return parse_list(data)

    def junk_folder(self) -> Folder | None:
        """The folder marked SPECIAL-USE ``\\Junk``, or by one of the usual names; None
        when the mailbox has none (see :mod:`postwarden.core.imap.folders`)."""
        return find_junk(self.folders())

    def select(self, folder: str, *, readonly: bool = False) -> int:
        """Select ``folder`` (as the server names it); returns how many messages it holds."""
        data = self._call(ImapStage.SELECT, lambda: self._client.select(_quote(folder), readonly))
        self.selected = folder
        try:
            return int(data[0] or 0)
        except (TypeError, ValueError):
            return 0

    def search_header(self, name: str, value: str) -> list[int]:
        """UIDs of the messages in the selected folder whose header ``name`` contains
        ``value`` (``UID SEARCH HEADER``: the server searches; nothing is downloaded).
        Raises ``ValueError`` for a name that is not a header field name or a value that
        cannot be sent as a quoted string."""
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"not a header field name: {name!r}")
        if not _SEARCH_VALUE.fullmatch(value):
            raise ValueError("a searched header value must be printable ASCII without quotes or backslashes")
        return self.search("HEADER", _quote(name), _quote(value))

    def search(self, *criteria: str) -> list[int]:
        """UIDs matching ``criteria``, given as IMAP SEARCH atoms (``"UNSEEN"``,
        ``"UNKEYWORD", "$Processed"``). The criteria are sent as they are: never pass
        text from outside here; :meth:`search_header` quotes and checks its value."""
        data = self._call(ImapStage.SEARCH, lambda: self._client.uid("SEARCH", *criteria))
        found = b" ".join(part for part in data if isinstance(part, bytes))
        return [int(uid) for uid in found.split()]

    def fetch(self, uid: int, *, headers_only: bool = False) -> FetchedMessage | None:
        """The message with ``uid`` in the selected folder (without setting \\Seen), or
        None when it is gone."""
        part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
        query = f"(UID FLAGS INTERNALDATE {part})"
        data = self._call(ImapStage.FETCH, lambda: self._client.uid("FETCH", str(uid), query))
        return _fetched(uid, data)

    def add_flags(self, uids: Sequence[int], *flags: str) -> None:
        """Add ``flags`` (``"\\Seen"``, a keyword such as ``"$Processed"``) to ``uids``."""
        if uids:
            joined = " ".join(flags)
            self._call(
                ImapStage.STORE,
                lambda: self._client.uid("STORE", _uid_set(uids), "+FLAGS.SILENT", f"({joined})"),
            )

    def delete(self, uids: Sequence[int]) -> None:
        """Remove ``uids`` from the selected folder. With UIDPLUS (RFC 4315, most servers)
        only these are expunged; without it the folder's EXPUNGE also removes whatever
        another client had already marked \\Deleted, as a mail client's "compact" does."""
        if not uids:
            return
        self.add_flags(uids, "\\Deleted")
        if "UIDPLUS" in self.capabilities:
            self._call(ImapStage.STORE, lambda: self._client.uid("EXPUNGE", _uid_set(uids)))
        else:
            self._call(ImapStage.STORE, self._client.expunge)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move ``uids`` to ``folder`` (MOVE, RFC 6851; COPY and delete where it is missing)."""
        if not uids:
            return
        if "MOVE" in self.capabilities:
            self._call(ImapStage.STORE, lambda: self._client.uid("MOVE", _uid_set(uids), _quote(folder)))
        else:
            self._call(ImapStage.STORE, lambda: self._client.uid("COPY", _uid_set(uids), _quote(folder)))
            self.delete(uids)

    def noop(self) -> None:
        """Ask the server for news (new messages show up to a later SEARCH)."""
        self._call(ImapStage.SELECT, self._client.noop)

    def logout(self) -> None:
        with contextlib.suppress(ImapError, OSError, imaplib.IMAP4.error):
            self._call(ImapStage.LOGOUT, self._client.logout)
        with contextlib.suppress(OSError):
            self._client.shutdown()

    def _call(self, stage: ImapStage, command: Callable[[], tuple[str, list[Any]]]) -> list[Any]:
        try:
            kind, data = command()
        except Exception as exc:
            raise map_exception(exc, stage) from exc
        if kind != "OK":
            raise ImapCommandRefused(stage, detail=_words(data))
        return data


@contextlib.contextmanager
def open_session(endpoint: ImapEndpoint) -> Iterator[ImapSession]:
    """Connect, secure and log in; log out when the block ends. Raises :class:`ImapError`."""
    client = connect(endpoint)
    session = ImapSession(client)
    try:
        login(client, endpoint)
        yield session
    finally:
        session.logout()


def connect(endpoint: ImapEndpoint) -> imaplib.IMAP4:
    """A connected, greeted and (for ssl/starttls) encrypted client, not logged in."""
    progress: list[ImapStage] = [ImapStage.CONNECT]
    context = client_context(verify=endpoint.verify_tls)
    try:
        client: imaplib.IMAP4
        if endpoint.security is ImapSecurity.SSL:
            client = _TlsClient(endpoint, progress, context)
        else:
            client = _PlainClient(endpoint, progress)
    except Exception as exc:
        raise _greeting_error(exc, progress[-1]) from exc
    if endpoint.security is ImapSecurity.STARTTLS:
        _starttls(client, context)
    return client


def login(client: imaplib.IMAP4, endpoint: ImapEndpoint) -> None:
    """AUTHENTICATE PLAIN when offered (it carries UTF-8 credentials), LOGIN otherwise."""
    capabilities = {str(cap).upper() for cap in client.capabilities}
    if "LOGINDISABLED" in capabilities:
        raise ImapPlaintextRefused(ImapStage.LOGIN)
    password = endpoint.password.reveal()
    try:
        if "AUTH=PLAIN" in capabilities:
            payload = f"\0{endpoint.user}\0{password}".encode()
            client.authenticate("PLAIN", lambda _challenge: payload)
        else:
            client.login(endpoint.user, password)
    except Exception as exc:
        error = map_exception(exc, ImapStage.LOGIN)
        if password:
            error.detail = error.detail.replace(password, "••••")
            error.args = (str(error),)
        with contextlib.suppress(OSError):
            client.shutdown()
        # not chained: the imaplib exception's own text could hold what the server echoed
        raise error from None


class _PlainClient(imaplib.IMAP4):
    def __init__(self, endpoint: ImapEndpoint, progress: list[ImapStage]) -> None:
        self._progress = progress
        super().__init__(endpoint.host, endpoint.port, timeout=endpoint.timeout)

    def _create_socket(self, timeout: float | None) -> Any:
        sock = super()._create_socket(timeout)  # type: ignore[misc]
        self._progress.append(ImapStage.GREETING)
        return sock


class _TlsClient(imaplib.IMAP4_SSL):
    def __init__(self, endpoint: ImapEndpoint, progress: list[ImapStage], context: ssl.SSLContext) -> None:
        self._progress = progress
        super().__init__(endpoint.host, endpoint.port, ssl_context=context, timeout=endpoint.timeout)

    def _create_socket(self, timeout: float | None) -> Any:
        sock = super()._create_socket(timeout)  # type: ignore[misc]  # the TLS handshake is in here
        self._progress.append(ImapStage.GREETING)
        return sock


def _greeting_error(exc: BaseException, stage: ImapStage) -> ImapError:
    if stage is ImapStage.GREETING and type(exc) is imaplib.IMAP4.error:
        # a BYE or NO greeting: the server is there and will not serve us
        return ImapDisconnected(stage, detail=_words([exc.args[0] if exc.args else b""]))
    return map_exception(exc, stage)


def _starttls(client: imaplib.IMAP4, context: ssl.SSLContext) -> None:
    if "STARTTLS" not in {str(cap).upper() for cap in client.capabilities}:
        with contextlib.suppress(OSError):
            client.shutdown()
        raise ImapStartTlsUnavailable(ImapStage.STARTTLS)
    try:
        client.starttls(ssl_context=context)
    except Exception as exc:
        with contextlib.suppress(OSError):
            client.shutdown()
        raise map_exception(exc, ImapStage.STARTTLS) from exc


def _fetched(uid: int, data: Iterable[Any]) -> FetchedMessage | None:
    meta = b""
    raw: bytes | None = None
    for item in data:
        if isinstance(item, tuple):
            prefix, body = item[0], item[1]
            if int((_FETCH_UID.search(prefix) or [b"0", b"0"])[1]) not in (uid, 0):
                continue
            meta += prefix
            raw = body
        elif isinstance(item, bytes) and raw is not None:
            meta += b" " + item  # attributes the server sent after the literal
    if raw is None:
        return None
    flags = _FETCH_FLAGS.search(meta)
    date = _FETCH_DATE.search(meta)
    return FetchedMessage(
        uid=uid,
        raw=raw,
        flags=frozenset(flags[1].decode("ascii", "replace").split()) if flags else frozenset(),
        internal_date=_internal_date(date[1]) if date else None,
    )


def _internal_date(raw: bytes) -> dt.datetime | None:
    parsed = imaplib.Internaldate2tuple(b'INTERNALDATE "' + raw + b'"')
    if parsed is None:
        return None
    return dt.datetime.fromtimestamp(time.mktime(parsed), tz=dt.UTC)


def _uid_set(uids: Sequence[int]) -> str:
    return ",".join(str(int(uid)) for uid in uids)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _words(data: Sequence[Any]) -> str:
    """The server's text from an imaplib answer."""
    parts = [
        part.decode("utf-8", "replace") if isinstance(part, bytes) else str(part) for part in data if part
    ]
    return " ".join(parts).strip()


__all__ = [
    "DEFAULT_PORTS",
    "FetchedMessage",
    "ImapEndpoint",
    "ImapSecurity",
    "ImapSession",
    "connect",
    "login",
    "open_session",
]
