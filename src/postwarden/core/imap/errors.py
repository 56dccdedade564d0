"""The one exception family of the IMAP client, and the one place that maps to it.

Every failure of :mod:`postwarden.core.imap.session` is an :class:`ImapError` carrying

* ``.stage``  -- the :class:`ImapStage` where it happened,
* ``.detail`` -- the server's words (``"[AUTHENTICATIONFAILED] Authentication failed."``)
  or the socket/TLS exception text (``"Connection refused"``).

``str(e)`` is ``"<stage>: <what happened>: <detail>"`` and never contains a secret: no
credential is passed to a constructor here, and the login step scrubs the password from
whatever the server echoed. Where a stdlib type fits, the class inherits it too::

    ImapError
    ├── ImapNetworkError
    │   ├── ImapConnectError ·············· (ConnectionError)  refused, unreachable, no such host
    │   ├── ImapTimeout ··················· (TimeoutError)     no answer in time, at any stage
    │   └── ImapDisconnected ·············· (ConnectionError)  closed mid-session, BYE
    ├── ImapTlsError
    │   ├── ImapCertificateError            .reason: untrusted | expired | hostname_mismatch
    │   └── ImapStartTlsUnavailable         security=starttls, STARTTLS not offered
    ├── ImapLoginRefused                    the server said NO to the credentials (its words)
    │   └── ImapPlaintextRefused            LOGINDISABLED and no TLS: credentials never sent
    └── ImapCommandRefused                  NO/BAD to SELECT, SEARCH, FETCH, STORE …

Configuration errors (an unknown security mode, an empty host, a header name that is not
one) are ``ValueError``, outside the family: they are the operator's mistake, not the
server's answer.
"""

from __future__ import annotations

import enum
import imaplib
import os
import re
import ssl
from typing import ClassVar, Final


class ImapStage(enum.StrEnum):
    CONNECT = "connect"  # TCP connect and, for security=ssl, the TLS handshake
    GREETING = "greeting"  # the server's * OK banner
    STARTTLS = "starttls"  # the STARTTLS command and its handshake
    LOGIN = "login"  # AUTHENTICATE PLAIN or LOGIN
    LIST = "list"
    SELECT = "select"
    SEARCH = "search"
    FETCH = "fetch"
    STORE = "store"  # flags, delete, expunge, move
    LOGOUT = "logout"


class ImapError(Exception):
    """Base class: the IMAP session failed at ``stage``."""

    summary: ClassVar[str] = "the IMAP session failed"

    def __init__(self, stage: ImapStage, *, detail: str = "") -> None:
        self.stage = stage
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.stage}: {self.summary}" + (f": {self.detail}" if self.detail else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.stage.value!r}, detail={self.detail!r})"


class ImapNetworkError(ImapError):
    summary = "the IMAP server could not be reached"


class ImapConnectError(ImapNetworkError, ConnectionError):
    summary = "could not connect to the IMAP server"


class ImapTimeout(ImapNetworkError, TimeoutError):
    summary = "the IMAP server did not answer in time"


class ImapDisconnected(ImapNetworkError, ConnectionError):
    summary = "the IMAP server closed the connection"


class ImapTlsError(ImapError):
    summary = "TLS with the IMAP server failed"


class ImapCertificateError(ImapTlsError):
    """``reason``: ``"untrusted"``, ``"expired"`` or ``"hostname_mismatch"``."""

    summary = "the IMAP server's certificate was not accepted"

    def __init__(self, stage: ImapStage, *, detail: str = "", reason: str = "untrusted") -> None:
        self.reason = reason
        super().__init__(stage, detail=detail)


class ImapStartTlsUnavailable(ImapTlsError):
    summary = "the IMAP server does not offer STARTTLS"


class ImapLoginRefused(ImapError):
    summary = "the IMAP server refused the login"


class ImapPlaintextRefused(ImapLoginRefused):
    summary = "the IMAP server refuses a login without TLS (LOGINDISABLED); use ssl or starttls"


class ImapCommandRefused(ImapError):
    summary = "the IMAP server refused the command"


#: OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h) -> the certificate's fault
_VERIFY_REASONS: Final = {
    9: "expired",  # CERT_NOT_YET_VALID
    10: "expired",  # CERT_HAS_EXPIRED
    62: "hostname_mismatch",  # HOSTNAME_MISMATCH
    64: "hostname_mismatch",  # IP_ADDRESS_MISMATCH
}
_SSL_LOCATION: Final = re.compile(r"\s*\(_ssl\.c:\d+\)$")


def exception_text(exc: BaseException) -> str:
    """The stable, human part of an exception: ``"Connection refused"`` rather than
    ``"[Errno 111] Connection refused"``; an imaplib error's server words as text."""
    if isinstance(exc, ssl.SSLError):
        text = str(exc.args[1]) if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
        return _SSL_LOCATION.sub("", text)
    if isinstance(exc, OSError):
        if isinstance(exc.errno, int) and exc.errno > 0:
            return os.strerror(exc.errno)
        if exc.strerror:
            return str(exc.strerror)
    if exc.args and isinstance(exc.args[0], bytes):
        return exc.args[0].decode("utf-8", "replace")
    return str(exc) or type(exc).__name__


def map_exception(exc: BaseException, stage: ImapStage) -> ImapError:
    """The :class:`ImapError` for an exception raised by imaplib, ssl or socket at
    ``stage``. The most specific match wins; anything else is a command refusal."""
    if isinstance(exc, ImapError):
        return exc
    detail = exception_text(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(exc.verify_code or 0, "untrusted")
        return ImapCertificateError(stage, detail=detail, reason=reason)
    if isinstance(exc, TimeoutError):
        return ImapTimeout(stage, detail=detail if detail != "TimeoutError" else "timed out")
    if isinstance(exc, ssl.SSLError):
        if stage in (ImapStage.CONNECT, ImapStage.STARTTLS):
            return ImapTlsError(stage, detail=detail)
        return ImapDisconnected(stage, detail=detail)
    if isinstance(exc, imaplib.IMAP4.abort):
        return ImapDisconnected(stage, detail=detail)
    if isinstance(exc, OSError):
        if stage is ImapStage.CONNECT:
            return ImapConnectError(stage, detail=detail)
        return ImapDisconnected(stage, detail=detail)
    if isinstance(exc, imaplib.IMAP4.error) and stage is ImapStage.LOGIN:
        return ImapLoginRefused(stage, detail=detail)
    return ImapCommandRefused(stage, detail=detail)
