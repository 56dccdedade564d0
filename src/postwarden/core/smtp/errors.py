"""The one exception family of the SMTP session, and the one place that maps to it.

Every failure of :mod:`postwarden.core.smtp.session` is an :class:`SmtpError` carrying

* ``.stage``  -- the :class:`~postwarden.core.smtp.stages.SmtpStage` where it happened,
* ``.reply``  -- the server's :class:`~postwarden.core.smtp.reply.Reply` verbatim, or None,
* ``.detail`` -- the server's words, or the socket/TLS exception text
  (``"[SSL: WRONG_VERSION_NUMBER] wrong version number"``, ``"Connection refused"``).

``str(e)`` is ``"<stage>: <what happened>: <detail>"`` and never contains a secret: no
credential is ever passed to a constructor here. Where a stdlib type fits, the class
inherits it too, so ``except TimeoutError`` and ``except ConnectionError`` keep working::

    SmtpError
    ├── NetworkError
    │   ├── ResolveError
    │   │   └── ResolveTimeout ·············· (SmtpTimeout)
    │   ├── ConnectError ···················· (ConnectionError)
    │   │   ├── ConnectionRefused ··········· (ConnectionRefusedError)
    │   │   └── ConnectTimeout ·············· (SmtpTimeout)
    │   ├── NoGreeting ······················ (SmtpTimeout)   connected, no 220 in time
    │   ├── ServiceRefused                    421/554 greeting, or closed at once
    │   └── ServerDisconnected ·············· (ConnectionError) closed mid-session
    ├── SmtpTimeout ························· (TimeoutError)
    │   └── ReplyTimeout                      any later reply did not come in time
    ├── TlsError
    │   ├── TlsHandshakeFailed
    │   │   └── TlsTimeout ·················· (SmtpTimeout)
    │   ├── CertificateError                  .reason: untrusted | expired | hostname_mismatch
    │   │   ├── CertificateUntrusted
    │   │   │   └── CertificateExpired
    │   │   └── HostnameMismatch
    │   ├── StartTlsUnavailable               security=starttls, not offered (or 454)
    │   └── StartTlsRequired                  530 "Must issue a STARTTLS command first"
    ├── AuthError
    │   ├── AuthRequired                      530 at MAIL/RCPT/DATA, no credentials given
    │   ├── AuthUnavailable                   no AUTH offered, no mechanism in common, 504
    │   ├── AuthEncryptionRequired            538, or AUTH offered only after STARTTLS
    │   │   └── PlaintextAuthRefused          we refuse to send credentials in clear
    │   ├── AuthRejected                      535 and friends
    │   │   └── TokenRejected                 … to an OAuth2 token (XOAUTH2, OAUTHBEARER)
    │   └── TokenFailed                       no OAuth2 token (SMTP_AUTH=oauth2)
    │       ├── TokenUnreachable              the token endpoint did not answer
    │       └── TokenRefused                  the identity platform refused (AADSTS…, invalid_grant)
    ├── EnvelopeError
    │   ├── SenderRefused                     MAIL FROM refused
    │   ├── RecipientsRefused                 every RCPT TO refused; .replies per address
    │   ├── DataRefused                       DATA or end-of-data refused
    │   ├── MessageTooLarge                   over the advertised SIZE, or 552 5.3.4
    │   └── SmtpUtf8Unavailable               non-ASCII address, no SMTPUTF8 offered
    ├── CommandRefused                        EHLO/HELO, RSET, NOOP, QUIT refused
    └── ProtocolError                         not SMTP (an IMAP banner), line too long

Configuration errors (no host set, a malformed address handed to ``send``) are NOT in
this family, for the reason anymail gives for ``AnymailConfigurationError``: they are
the operator's mistake, not a delivery failure, and must never be retried or counted
against a server. They are ``ValueError``.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
from asyncio import IncompleteReadError, LimitOverrunError
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar, Final

from postwarden.core.i18n import Text, join
from postwarden.core.oauth.errors import TokenEndpointUnreachable, TokenError
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage


class SmtpError(Exception):
    """Base class: the session failed at ``stage``."""

    summary: ClassVar[str] = Text("the SMTP session failed")

    def __init__(self, stage: SmtpStage, *, reply: Reply | None = None, detail: str | None = None) -> None:
        self.stage = stage
        self.reply = reply
        self.detail = detail if detail is not None else (str(reply) if reply is not None else "")
        super().__init__(f"{stage.value}: {self.summary}" + (f": {self.detail}" if self.detail else ""))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.summary

    def said(self) -> Text:
        """``str(self)`` for a person: the summary in the reader's language, the stage and
        the detail (the server's or the system's words) as they are."""
        return join(": ", [self.stage.value, self.summary, *([self.detail] if self.detail else [])])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(stage={self.stage.value!r}, reply={self.reply!r}, detail={self.detail!r})"
        )


class SmtpTimeout(SmtpError, TimeoutError):
    summary = Text("no answer in time")


class NetworkError(SmtpError):
    summary = Text("the network connection failed")


class ResolveError(NetworkError):
    summary = Text("the host name has no address")


class ResolveTimeout(ResolveError, SmtpTimeout):
    summary = Text("the host name lookup timed out")


class ConnectError(NetworkError, ConnectionError):
    summary = Text("could not connect")


class ConnectionRefused(ConnectError, ConnectionRefusedError):
    summary = Text("nothing accepts connections on that port")


class ConnectTimeout(ConnectError, SmtpTimeout):
    summary = Text("the connection attempt timed out")


class NoGreeting(NetworkError, SmtpTimeout):
    summary = Text("connected, but the server sent no 220 greeting in time")


class ServiceRefused(NetworkError):
    summary = Text("the server refused service")


class ServerDisconnected(NetworkError, ConnectionError):
    summary = Text("the server closed the connection")


class ReplyTimeout(SmtpTimeout):
    summary = Text("the server did not reply in time")


class TlsError(SmtpError):
    summary = Text("TLS failed")


class TlsHandshakeFailed(TlsError):
    summary = Text("the TLS handshake failed")


class TlsTimeout(TlsHandshakeFailed, SmtpTimeout):
    summary = Text("the TLS handshake timed out")


class CertificateError(TlsError):
    """The certificate was not accepted. ``reason`` is ``"untrusted"``, ``"expired"``
    or ``"hostname_mismatch"``; ``verify_code`` is OpenSSL's X509_V_ERR number."""

    summary = Text("the server's certificate was not accepted")
    reason: ClassVar[str] = "untrusted"

    def __init__(
        self, stage: SmtpStage, *, reply: Reply | None = None, detail: str | None = None, verify_code: int = 0
    ) -> None:
        self.verify_code = verify_code
        super().__init__(stage, reply=reply, detail=detail)


class CertificateUntrusted(CertificateError):
    summary = Text("the server's certificate is not trusted")


class CertificateExpired(CertificateUntrusted):
    summary = Text("the server's certificate has expired or is not yet valid")
    reason = "expired"


class HostnameMismatch(CertificateError):
    summary = Text("the server's certificate does not name the host connected to")
    reason = "hostname_mismatch"


class StartTlsUnavailable(TlsError):
    summary = Text("the server does not offer STARTTLS")


class StartTlsRequired(TlsError):
    summary = Text("the server requires STARTTLS first")


class AuthError(SmtpError):
    summary = Text("authentication failed")


class AuthRequired(AuthError):
    summary = Text("the server requires authentication")


class AuthUnavailable(AuthError):
    summary = Text("the server offers no usable AUTH mechanism")


class AuthEncryptionRequired(AuthError):
    summary = Text("authentication needs an encrypted connection")


class PlaintextAuthRefused(AuthEncryptionRequired):
    summary = Text("refusing to send credentials over an unencrypted connection")


class AuthRejected(AuthError):
    summary = Text("the server rejected the credentials")


class TokenRejected(AuthRejected):
    """The server refused an OAuth2 token; ``detail`` has its reply and, when it sent one,
    its decoded error challenge. The reply knowledge base reads the detail (it starts
    with the summary) rather than the reply: Exchange's ``535 5.7.3`` means a wrong
    password after AUTH LOGIN and an unauthorized app after XOAUTH2."""

    summary = Text("OAuth2 token refused by the SMTP server")


def failure_text(error: SmtpError) -> str:
    """The words to store and classify for ``error``: its detail, and for a refused OAuth2
    token the summary first, so ``535 5.7.3`` is not read as a wrong password."""
    return f"{error.summary}: {error.detail}" if isinstance(error, TokenRejected) else error.detail


class TokenFailed(AuthError):
    """No OAuth2 access token; ``detail`` holds the identity platform's words. Raised at
    the AUTH stage (the path to the server is broken, not the message); the step the
    session records for it is the TOKEN step (``step_stage``)."""

    summary = Text("no OAuth2 token")
    step_stage: ClassVar[SmtpStage] = SmtpStage.TOKEN


class TokenUnreachable(TokenFailed):
    summary = Text("the token endpoint cannot be reached")


class TokenRefused(TokenFailed):
    summary = Text("the identity platform refused to issue a token")


class EnvelopeError(SmtpError):
    summary = Text("the server refused the message")


class SenderRefused(EnvelopeError):
    summary = Text("the server refused the sender")


class RecipientsRefused(EnvelopeError):
    """Every recipient was refused; ``replies`` maps each address to its RCPT reply and
    ``.reply`` is the first of them."""

    summary = Text("the server refused every recipient")

    def __init__(self, replies: Mapping[str, Reply], *, stage: SmtpStage = SmtpStage.RCPT) -> None:
        self.replies = dict(replies)
        first = next(iter(self.replies.values()), None)
        super().__init__(stage, reply=first, detail=_describe_refusals(self.replies))


class DataRefused(EnvelopeError):
    """DATA or the end of data was refused: it applies to every accepted recipient.
    ``refused`` holds the recipients already refused at RCPT, if any."""

    summary = Text("the server refused the message content")

    def __init__(
        self,
        stage: SmtpStage = SmtpStage.DATA,
        *,
        reply: Reply | None = None,
        detail: str | None = None,
        refused: Mapping[str, Reply] | None = None,
    ) -> None:
        self.refused = dict(refused or {})
        super().__init__(stage, reply=reply, detail=detail)


class MessageTooLarge(EnvelopeError):
    """Over the server's limit: ``limit`` is the advertised SIZE (None when the server
    said so in a 552 instead) and ``size`` the message size in octets (RFC 1870)."""

    summary = Text("the message is larger than the server accepts")

    def __init__(
        self,
        stage: SmtpStage,
        *,
        reply: Reply | None = None,
        detail: str | None = None,
        limit: int | None = None,
        size: int | None = None,
    ) -> None:
        self.limit, self.size = limit, size
        super().__init__(stage, reply=reply, detail=detail)


class SmtpUtf8Unavailable(EnvelopeError):
    summary = Text("an address is not ASCII and the server does not offer SMTPUTF8")


class CommandRefused(SmtpError):
    summary = Text("the server refused the command")


class ProtocolError(SmtpError):
    summary = Text("the server does not speak SMTP here")


#: at most this many refusals are spelled out in RecipientsRefused's detail
_REFUSALS_SHOWN: Final = 3


def _describe_refusals(replies: Mapping[str, Reply]) -> str:
    shown = [
        f"{addr}: {reply}" if addr else str(reply) for addr, reply in list(replies.items())[:_REFUSALS_SHOWN]
    ]
    more = len(replies) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------------------
# Replies -> errors


def _says_starttls(reply: Reply) -> bool:
    return "STARTTLS" in reply.text.upper()


def _too_large(reply: Reply) -> bool:
    # RFC 1870 §6.1: 552 is "exceeded storage allocation"; RFC 3463 5.3.4 "message too big
    # for system", 5.2.3 "message length exceeds administrative limit".
    return reply.code == 552 or reply.enhanced in ("5.3.4", "5.2.3", "4.3.4")


def error_for_reply(stage: SmtpStage, reply: Reply) -> SmtpError:
    """The family member for a negative ``reply`` received at ``stage``."""
    if stage is SmtpStage.GREETING:
        return ServiceRefused(stage, reply=reply)
    if stage is SmtpStage.STARTTLS:
        return StartTlsUnavailable(stage, reply=reply)
    if stage is SmtpStage.AUTH:
        return _auth_error(reply)
    if reply.code == 530 and _says_starttls(reply):
        return StartTlsRequired(stage, reply=reply)
    if stage in (SmtpStage.MAIL, SmtpStage.RCPT, SmtpStage.DATA):
        return _envelope_error(stage, reply)
    return CommandRefused(stage, reply=reply)


def _auth_error(reply: Reply) -> AuthError:
    if reply.code == 538 or reply.code == 530 or reply.enhanced == "5.7.11":
        return AuthEncryptionRequired(SmtpStage.AUTH, reply=reply)
    if reply.code == 504:
        return AuthUnavailable(SmtpStage.AUTH, reply=reply)
    return AuthRejected(SmtpStage.AUTH, reply=reply)


def _envelope_error(stage: SmtpStage, reply: Reply) -> SmtpError:
    if reply.code == 530:
        return AuthRequired(stage, reply=reply)
    if _too_large(reply) and stage is not SmtpStage.RCPT:
        return MessageTooLarge(stage, reply=reply)
    if stage is SmtpStage.MAIL:
        return SenderRefused(stage, reply=reply)
    if stage is SmtpStage.RCPT:
        return RecipientsRefused({"": reply})
    return DataRefused(stage, reply=reply)


# ---------------------------------------------------------------------------------------
# Exceptions -> errors

#: "(_ssl.c:1006)" changes with every Python build; the evidence must not.
_SSL_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)$")

_TLS_STAGES: Final = frozenset({SmtpStage.TLS, SmtpStage.STARTTLS})

#: OpenSSL X509_V_ERR_* codes (include/openssl/x509_vfy.h) -> what the operator must fix
_VERIFY_CODES: Final[Mapping[int, type[CertificateError]]] = {
    9: CertificateExpired,  # CERT_NOT_YET_VALID
    10: CertificateExpired,  # CERT_HAS_EXPIRED
    62: HostnameMismatch,  # HOSTNAME_MISMATCH
    64: HostnameMismatch,  # IP_ADDRESS_MISMATCH
}


def exception_text(exc: BaseException) -> str:
    """The stable, human part of an exception: ``"Connection refused"`` rather than
    ``"[Errno 111] Connect call failed ('127.0.0.1', 1)"``."""
    if isinstance(exc, ssl.SSLError):
        text = str(exc.args[1]) if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
        return _SSL_LOCATION.sub("", text)
    if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        if isinstance(exc.errno, int) and exc.errno > 0:
            return os.strerror(exc.errno)
        if exc.strerror:
            return str(exc.strerror)
    text = str(exc)
    return text or type(exc).__name__


def _reply_of(exc: smtplib.SMTPResponseException) -> Reply:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return Reply.from_lines(exc.smtp_code, text.splitlines() or [""])


def _certificate(exc: BaseException, stage: SmtpStage) -> SmtpError:
    code = getattr(exc, "verify_code", 0) or 0
    cls = _VERIFY_CODES.get(code, CertificateUntrusted)
    return cls(stage, detail=exception_text(exc), verify_code=code)


def _tls_or_closed(exc: BaseException, stage: SmtpStage) -> SmtpError:
    """An SSL failure is a handshake failure during the handshake; afterwards it means
    the connection is gone."""
    if stage in _TLS_STAGES:
        return TlsHandshakeFailed(stage, detail=exception_text(exc))
    return closed(stage, exc)


def closed(stage: SmtpStage, exc: BaseException | None = None) -> SmtpError:
    """The error for "the connection ended" at ``stage`` (``exc``: what ended it)."""
    detail = exception_text(exc) if exc is not None else "the server closed the connection"
    if stage is SmtpStage.CONNECT:
        return ConnectError(stage, detail=detail)
    if stage is SmtpStage.GREETING:
        return ServiceRefused(stage, detail=f"closed without a greeting ({detail})")
    if stage in _TLS_STAGES:
        return TlsHandshakeFailed(stage, detail=detail)
    return ServerDisconnected(stage, detail=detail)


def timed_out(stage: SmtpStage, detail: str = "timed out") -> SmtpError:
    """The error for "nothing came in time" at ``stage``."""
    classes: Mapping[SmtpStage, type[SmtpError]] = {
        SmtpStage.RESOLVE: ResolveTimeout,
        SmtpStage.CONNECT: ConnectTimeout,
        SmtpStage.GREETING: NoGreeting,
        SmtpStage.TLS: TlsTimeout,
        SmtpStage.STARTTLS: TlsTimeout,
    }
    return classes.get(stage, ReplyTimeout)(stage, detail=detail)


def _os_error(exc: BaseException, stage: SmtpStage) -> SmtpError:
    if stage is SmtpStage.RESOLVE:
        return ResolveError(stage, detail=exception_text(exc))
    return closed(stage, exc)


def _by_reply(exc: BaseException, stage: SmtpStage) -> SmtpError:
    assert isinstance(exc, smtplib.SMTPResponseException)
    return error_for_reply(stage, _reply_of(exc))


def _at(fixed: SmtpStage) -> Callable[[BaseException, SmtpStage], SmtpError]:
    """smtplib's own exception names the stage (SMTPSenderRefused is MAIL, whenever raised)."""

    def build(exc: BaseException, stage: SmtpStage) -> SmtpError:
        return _by_reply(exc, fixed)

    return build


def _recipients(exc: BaseException, stage: SmtpStage) -> SmtpError:
    assert isinstance(exc, smtplib.SMTPRecipientsRefused)
    replies = {
        addr: Reply.from_lines(
            code, (msg.decode("utf-8", "replace") if isinstance(msg, bytes) else msg).splitlines()
        )
        for addr, (code, msg) in exc.recipients.items()
    }
    return RecipientsRefused(replies)


def _not_supported(exc: BaseException, stage: SmtpStage) -> SmtpError:
    classes: Mapping[SmtpStage, type[SmtpError]] = {
        SmtpStage.AUTH: AuthUnavailable,
        SmtpStage.STARTTLS: StartTlsUnavailable,
        SmtpStage.MAIL: SmtpUtf8Unavailable,
    }
    return classes.get(stage, ProtocolError)(stage, detail=exception_text(exc))


def _smtplib_other(exc: BaseException, stage: SmtpStage) -> SmtpError:
    # smtplib raises the bare SMTPException for "No suitable authentication method found."
    cls = AuthUnavailable if stage is SmtpStage.AUTH else ProtocolError
    return cls(stage, detail=exception_text(exc))


def _fixed(cls: type[SmtpError]) -> Callable[[BaseException, SmtpStage], SmtpError]:
    def build(exc: BaseException, stage: SmtpStage) -> SmtpError:
        return cls(stage, detail=exception_text(exc))

    return build


Mapper = Callable[[BaseException, SmtpStage], SmtpError]

#: stdlib exception -> family member; the FIRST isinstance match wins, so subclasses come
#: before their bases (tests/core/smtp/test_errors.py checks both completeness and order).
EXCEPTION_MAP: Final[tuple[tuple[type[BaseException], Mapper], ...]] = (
    (ssl.SSLCertVerificationError, _certificate),
    (ssl.SSLZeroReturnError, _tls_or_closed),
    (ssl.SSLEOFError, _tls_or_closed),
    (ssl.SSLSyscallError, _tls_or_closed),
    (ssl.SSLWantReadError, _tls_or_closed),
    (ssl.SSLWantWriteError, _tls_or_closed),
    (ssl.SSLError, _tls_or_closed),
    (smtplib.SMTPRecipientsRefused, _recipients),
    (smtplib.SMTPSenderRefused, _at(SmtpStage.MAIL)),
    (smtplib.SMTPDataError, _at(SmtpStage.DATA)),
    (smtplib.SMTPAuthenticationError, _at(SmtpStage.AUTH)),
    (smtplib.SMTPConnectError, _at(SmtpStage.GREETING)),
    (smtplib.SMTPHeloError, _at(SmtpStage.EHLO)),
    (smtplib.SMTPResponseException, _by_reply),
    (smtplib.SMTPServerDisconnected, lambda exc, stage: closed(stage, exc)),
    (smtplib.SMTPNotSupportedError, _not_supported),
    (smtplib.SMTPException, _smtplib_other),
    (TokenEndpointUnreachable, lambda exc, stage: TokenUnreachable(SmtpStage.AUTH, detail=str(exc))),
    (TokenError, lambda exc, stage: TokenRefused(SmtpStage.AUTH, detail=str(exc))),
    (socket.gaierror, _fixed(ResolveError)),
    (socket.herror, _fixed(ResolveError)),
    (ConnectionRefusedError, _fixed(ConnectionRefused)),
    (ConnectionResetError, lambda exc, stage: closed(stage, exc)),
    (ConnectionAbortedError, lambda exc, stage: closed(stage, exc)),
    (BrokenPipeError, lambda exc, stage: closed(stage, exc)),
    (ConnectionError, lambda exc, stage: closed(stage, exc)),
    (TimeoutError, lambda exc, stage: timed_out(stage, str(exc) or "timed out")),
    (OSError, _os_error),
    (IncompleteReadError, lambda exc, stage: closed(stage, None)),
    (EOFError, lambda exc, stage: closed(stage, None)),
    (LimitOverrunError, _fixed(ProtocolError)),
)


def translate(exc: BaseException, stage: SmtpStage) -> SmtpError | None:
    """The family member for ``exc`` at ``stage``; ``exc`` itself if it is one already;
    None for anything else (a programming error must not pass as a delivery failure)."""
    if isinstance(exc, SmtpError):
        return exc
    for cls, build in EXCEPTION_MAP:
        if isinstance(exc, cls):
            return build(exc, stage)
    return None


@contextlib.contextmanager
def map_exceptions(stage: SmtpStage) -> Iterator[None]:
    """Turn socket, TLS, asyncio and smtplib exceptions raised inside into the family,
    tagged with ``stage`` and chained (``raise … from``) to the original.

    Raises the mapped :class:`SmtpError`; exceptions outside :data:`EXCEPTION_MAP`
    (``ValueError``, ``CancelledError`` …) pass through unchanged.
    """
    try:
        yield
    except Exception as exc:
        mapped = translate(exc, stage)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc
