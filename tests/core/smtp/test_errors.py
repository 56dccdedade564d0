"""The exception family: the map from stdlib exceptions is complete and ordered, and
every member says what happened, where, and in whose words."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl

import pytest

from postwarden.core.smtp import errors
from postwarden.core.smtp.errors import (
    EXCEPTION_MAP,
    AuthEncryptionRequired,
    AuthRejected,
    AuthRequired,
    AuthUnavailable,
    CertificateExpired,
    CertificateUntrusted,
    CommandRefused,
    ConnectError,
    ConnectionRefused,
    ConnectTimeout,
    DataRefused,
    HostnameMismatch,
    MessageTooLarge,
    NoGreeting,
    ProtocolError,
    RecipientsRefused,
    ReplyTimeout,
    ResolveError,
    SenderRefused,
    ServerDisconnected,
    ServiceRefused,
    SmtpError,
    StartTlsRequired,
    StartTlsUnavailable,
    TlsHandshakeFailed,
    TlsTimeout,
    error_for_reply,
    map_exceptions,
)
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage


def _subclasses(root: type[BaseException], module: str) -> set[type[BaseException]]:
    found = {root} if root.__module__ == module else set()
    for sub in root.__subclasses__():
        found |= _subclasses(sub, module)
    return found


def stdlib_exceptions() -> set[type[BaseException]]:
    """Every exception class socket, TLS, asyncio streams and smtplib can raise at us."""
    found = _subclasses(smtplib.SMTPException, "smtplib") | _subclasses(ssl.SSLError, "ssl")
    found |= _subclasses(ConnectionError, "builtins") | {OSError, TimeoutError, EOFError}
    found |= {socket.gaierror, socket.herror, asyncio.IncompleteReadError, asyncio.LimitOverrunError}
    return found


def instance(cls: type[BaseException]) -> BaseException:
    """An exception as the library raises it."""
    if issubclass(cls, smtplib.SMTPRecipientsRefused):
        return cls({"a@example.test": (550, b"5.1.1 no such user")})
    if issubclass(cls, smtplib.SMTPSenderRefused):
        return cls(553, b"5.7.1 sender not allowed", "a@example.test")
    if issubclass(cls, smtplib.SMTPResponseException):
        return cls(554, b"5.0.0 refused")
    if cls is asyncio.IncompleteReadError:
        return asyncio.IncompleteReadError(b"250-partial", 100)
    if cls is asyncio.LimitOverrunError:
        return asyncio.LimitOverrunError("Separator is not found, and chunk exceed the limit", 70000)
    if issubclass(cls, ssl.SSLError):
        return cls(1, "[SSL: SOMETHING] something (_ssl.c:1006)")
    if issubclass(cls, OSError) and not issubclass(cls, smtplib.SMTPException):
        return cls(0, "it failed")
    return cls("it failed")


def test_it_maps_every_stdlib_exception_explicitly() -> None:
    mapped = {cls for cls, _ in EXCEPTION_MAP}

    assert stdlib_exceptions() - mapped == set()


def test_it_lists_subclasses_before_their_bases() -> None:
    classes = [cls for cls, _ in EXCEPTION_MAP]

    shadowed = [
        (later, earlier)
        for i, earlier in enumerate(classes)
        for later in classes[i + 1 :]
        if issubclass(later, earlier)
    ]
    assert shadowed == []


@pytest.mark.parametrize("stage", list(SmtpStage))
@pytest.mark.parametrize("cls", sorted(stdlib_exceptions(), key=lambda c: c.__qualname__))
def test_it_turns_each_into_a_family_member_chained_to_the_original(
    cls: type[BaseException], stage: SmtpStage
) -> None:
    original = instance(cls)

    with pytest.raises(SmtpError) as caught, map_exceptions(stage):
        raise original

    assert caught.value.__cause__ is original
    assert caught.value.detail
    assert str(caught.value).startswith(f"{caught.value.stage.value}: {caught.value.summary}")


def _mapped(exc: BaseException, stage: SmtpStage) -> SmtpError:
    with pytest.raises(SmtpError) as caught, map_exceptions(stage):
        raise exc
    return caught.value


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                            f"{message} (_ssl.c:1006)")  # fmt: skip
    error.verify_code = code
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("exc", "stage", "expected", "detail"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), SmtpStage.RESOLVE, ResolveError,
         "Name or service not known"),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"), SmtpStage.CONNECT,
         ConnectionRefused, "Connection refused"),
        (TimeoutError(), SmtpStage.CONNECT, ConnectTimeout, "timed out"),
        (TimeoutError(), SmtpStage.GREETING, NoGreeting, "timed out"),
        (TimeoutError(), SmtpStage.STARTTLS, TlsTimeout, "timed out"),
        (TimeoutError(), SmtpStage.RCPT, ReplyTimeout, "timed out"),
        (OSError(113, "No route to host"), SmtpStage.CONNECT, ConnectError, "No route to host"),
        (ConnectionResetError(104, "Connection reset by peer"), SmtpStage.GREETING, ServiceRefused,
         "closed without a greeting (Connection reset by peer)"),
        (ConnectionResetError(104, "Connection reset by peer"), SmtpStage.DATA, ServerDisconnected,
         "Connection reset by peer"),
        (asyncio.IncompleteReadError(b"", 1), SmtpStage.MAIL, ServerDisconnected,
         "the server closed the connection"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"), SmtpStage.TLS,
         TlsHandshakeFailed, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
        (ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)"), SmtpStage.MAIL,
         ServerDisconnected, "EOF occurred in violation of protocol"),
        (_verify_error(10, "certificate has expired"), SmtpStage.TLS, CertificateExpired,
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired"),
        (_verify_error(62, "Hostname mismatch, certificate is not valid for 'mx.test'."), SmtpStage.STARTTLS,
         HostnameMismatch,
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not "
         "valid for 'mx.test'."),
        (_verify_error(19, "self-signed certificate in certificate chain"), SmtpStage.TLS,
         CertificateUntrusted,
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate "
         "chain"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), SmtpStage.EHLO, ServerDisconnected,
         "Connection unexpectedly closed"),
        (smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."), SmtpStage.AUTH,
         AuthUnavailable, "SMTP AUTH extension not supported by server."),
        (smtplib.SMTPException("No suitable authentication method found."), SmtpStage.AUTH, AuthUnavailable,
         "No suitable authentication method found."),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Username and Password not accepted"), SmtpStage.AUTH,
         AuthRejected, "535 5.7.8 Username and Password not accepted"),
        (smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "a@example.test"), SmtpStage.MAIL,
         AuthRequired, "530 5.7.0 Authentication required"),
        (smtplib.SMTPDataError(552, b"5.3.4 Message size exceeds fixed limit"), SmtpStage.DATA,
         MessageTooLarge, "552 5.3.4 Message size exceeds fixed limit"),
        (smtplib.SMTPConnectError(554, b"5.7.1 No SMTP service here"), SmtpStage.CONNECT, ServiceRefused,
         "554 5.7.1 No SMTP service here"),
        (smtplib.SMTPHeloError(501, b"5.5.4 Syntax: EHLO hostname"), SmtpStage.EHLO, CommandRefused,
         "501 5.5.4 Syntax: EHLO hostname"),
        (asyncio.LimitOverrunError("Separator is not found, and chunk exceed the limit", 70000),
         SmtpStage.EHLO, ProtocolError, "Separator is not found, and chunk exceed the limit"),
    ],
)  # fmt: skip
def test_it_maps_each_cause_to_what_the_operator_must_fix(
    exc: BaseException, stage: SmtpStage, expected: type[SmtpError], detail: str
) -> None:
    error = _mapped(exc, stage)

    assert type(error) is expected
    assert error.detail == detail


def test_it_carries_each_refused_recipient_from_smtplib() -> None:
    refused = smtplib.SMTPRecipientsRefused(
        {"a@x.test": (550, b"5.1.1 no"), "b@x.test": (451, b"4.3.0 later")}
    )

    error = _mapped(refused, SmtpStage.RCPT)

    assert isinstance(error, RecipientsRefused)
    assert {a: str(r) for a, r in error.replies.items()} == {
        "a@x.test": "550 5.1.1 no",
        "b@x.test": "451 4.3.0 later",
    }
    assert error.detail == "a@x.test: 550 5.1.1 no; b@x.test: 451 4.3.0 later"


def test_it_tells_the_kind_of_certificate_fault_by_attribute_too() -> None:
    expired = _mapped(_verify_error(10, "certificate has expired"), SmtpStage.TLS)
    mismatch = _mapped(_verify_error(64, "IP address mismatch"), SmtpStage.TLS)

    assert (expired.reason, expired.verify_code) == ("expired", 10)  # type: ignore[attr-defined]
    assert (mismatch.reason, mismatch.verify_code) == ("hostname_mismatch", 64)  # type: ignore[attr-defined]
    assert isinstance(expired, CertificateUntrusted)


@pytest.mark.parametrize("exc", [ValueError("a bug"), KeyError("k"), asyncio.CancelledError()])
def test_it_lets_what_is_not_a_delivery_failure_pass_unchanged(exc: BaseException) -> None:
    with pytest.raises(type(exc)) as caught, map_exceptions(SmtpStage.MAIL):
        raise exc

    assert caught.value is exc


def test_it_keeps_a_family_member_as_it_is() -> None:
    original = SenderRefused(SmtpStage.MAIL, reply=Reply(550, "5.7.1", "no"))

    assert _mapped(original, SmtpStage.DATA) is original


@pytest.mark.parametrize(
    ("stage", "line", "expected"),
    [
        (SmtpStage.GREETING, "421 4.7.0 Too many connections", ServiceRefused),
        (SmtpStage.EHLO, "550 5.7.1 Your HELO name is not acceptable", CommandRefused),
        (SmtpStage.STARTTLS, "454 4.7.0 TLS not available due to local problem", StartTlsUnavailable),
        (SmtpStage.AUTH, "535 5.7.8 Authentication credentials invalid", AuthRejected),
        (SmtpStage.AUTH, "534 5.7.9 Application-specific password required", AuthRejected),
        (SmtpStage.AUTH, "538 5.7.11 Encryption required for requested authentication mechanism",
         AuthEncryptionRequired),
        (SmtpStage.AUTH, "530 5.7.0 Must issue a STARTTLS command first", AuthEncryptionRequired),
        (SmtpStage.AUTH, "504 5.5.4 Unrecognized authentication type", AuthUnavailable),
        (SmtpStage.MAIL, "530 5.7.0 Must issue a STARTTLS command first", StartTlsRequired),
        (SmtpStage.MAIL, "530 5.7.0 Authentication required", AuthRequired),
        (SmtpStage.MAIL, "552 5.3.4 Message size exceeds fixed limit", MessageTooLarge),
        (SmtpStage.MAIL, "553 5.7.1 Sender address rejected: not owned by user", SenderRefused),
        (SmtpStage.RCPT, "550 5.1.1 User unknown", RecipientsRefused),
        (SmtpStage.RCPT, "552 5.2.2 Mailbox full", RecipientsRefused),
        (SmtpStage.DATA, "554 5.7.1 Message rejected as spam", DataRefused),
        (SmtpStage.DATA, "552 5.3.4 Message too big for system", MessageTooLarge),
        (SmtpStage.RSET, "500 5.5.1 Command unrecognized", CommandRefused),
    ],
)  # fmt: skip
def test_it_maps_each_refusal_by_stage_and_code(
    stage: SmtpStage, line: str, expected: type[SmtpError]
) -> None:
    reply = Reply.from_lines(int(line[:3]), [line])

    error = error_for_reply(stage, reply)

    assert type(error) is expected
    assert (error.stage, error.reply, error.detail) == (stage, reply, line)


def test_it_draws_every_member_in_the_module_docstring() -> None:
    members = _subclasses(SmtpError, errors.__name__)

    assert errors.__doc__ is not None
    assert [m.__name__ for m in members if m.__name__ not in errors.__doc__] == []


def test_it_inherits_the_stdlib_types_callers_already_catch() -> None:
    assert issubclass(ConnectTimeout, TimeoutError)
    assert issubclass(ConnectTimeout, ConnectionError)
    assert issubclass(NoGreeting, TimeoutError)
    assert issubclass(ReplyTimeout, TimeoutError)
    assert issubclass(TlsTimeout, TlsHandshakeFailed)
    assert issubclass(ConnectionRefused, ConnectionRefusedError)
    assert issubclass(ServerDisconnected, ConnectionError)
    assert not issubclass(SmtpError, ValueError)


def test_it_renders_stage_summary_and_the_servers_words() -> None:
    error = AuthRejected(SmtpStage.AUTH, reply=Reply.from_lines(535, ["535 5.7.8 Bad credentials"]))

    assert str(error) == "auth: the server rejected the credentials: 535 5.7.8 Bad credentials"
    assert repr(error) == (
        "AuthRejected(stage='auth', reply=Reply(code=535, enhanced='5.7.8', text='Bad credentials', "
        "lines=('535 5.7.8 Bad credentials',)), detail='535 5.7.8 Bad credentials')"
    )
