"""AUTH: PLAIN and LOGIN against real servers, every refusal named, no secret anywhere."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from postwarden.core.config.model import Security
from postwarden.core.secrets import Secret
from postwarden.core.smtp.errors import (
    AuthEncryptionRequired,
    AuthRejected,
    AuthRequired,
    AuthUnavailable,
    PlaintextAuthRefused,
    SmtpError,
)
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript
from tests.core.smtp.support import PASSWORD, USER, run
from tests.smtpd import SmtpServer

MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"
#: the password as it crosses the wire in each mechanism
WIRE_FORMS = (
    PASSWORD,
    base64.b64encode(PASSWORD.encode()).decode(),
    base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode(),
)


def _leaks(text: str) -> bool:
    return any(form in text for form in WIRE_FORMS)


def _endpoint(server: SmtpServer, **overrides: object) -> Endpoint:
    args = server.endpoint_args(user=USER, password=Secret(PASSWORD), **overrides)
    return Endpoint(**args)


async def _send(endpoint: Endpoint, transcript: Transcript | None = None, **kwargs: object) -> SmtpSession:
    async with SmtpSession(endpoint, transcript=transcript, **kwargs) as session:  # type: ignore[arg-type]
        await session.send("from@example.test", ["to@example.test"], MESSAGE)
    return session


@pytest.fixture
def auth_server(smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object) -> SmtpServer:
    return smtpd_factory(tls="starttls", users={USER: PASSWORD})


def test_it_authenticates_with_plain_after_starttls(auth_server: SmtpServer) -> None:
    transcript = Transcript()

    session = run(_send(_endpoint(auth_server, security=Security.STARTTLS, host="localhost"), transcript))

    assert session.auth_mechanism == "PLAIN"
    assert auth_server.auth_attempts == [("PLAIN", USER)]
    assert [m.login for m in auth_server.delivered] == [USER]
    assert "C: AUTH PLAIN ••••" in str(transcript).splitlines()
    assert not _leaks(str(transcript))


def test_it_authenticates_with_login_when_only_login_is_offered(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: PASSWORD}, auth_mechanisms=("LOGIN",))
    transcript = Transcript()

    session = run(_send(_endpoint(server, security=Security.STARTTLS, host="localhost"), transcript))

    assert session.auth_mechanism == "LOGIN"
    assert server.auth_attempts == [("LOGIN", USER)]
    lines = str(transcript).splitlines()
    at = lines.index("C: AUTH LOGIN")
    assert lines[at : at + 6] == ["C: AUTH LOGIN", "S: 334 ••••", "C: ••••", "S: 334 ••••", "C: ••••",
                                  "S: 235 2.7.0 Authentication successful"]  # fmt: skip
    assert not _leaks(str(transcript))


def test_it_falls_back_to_login_when_plain_is_unrecognized(auth_server: SmtpServer) -> None:
    auth_server.inject("AUTH", "504 5.5.4 Unrecognized authentication type", match="PLAIN")

    session = run(_send(_endpoint(auth_server, security=Security.STARTTLS, host="localhost")))

    assert session.auth_mechanism == "LOGIN"
    assert auth_server.commands.count("AUTH PLAIN") == 1
    assert auth_server.auth_attempts == [("LOGIN", USER)]


def test_it_quotes_the_refusal_of_bad_credentials_and_never_the_password(auth_server: SmtpServer) -> None:
    auth_server.inject("AUTH", "535-5.7.8 Username and Password not accepted. Learn more at\n"
                               "535 5.7.8  https://support.google.com/mail/?p=BadCredentials")  # fmt: skip
    transcript = Transcript()

    with pytest.raises(AuthRejected) as caught:
        run(_send(_endpoint(auth_server, security=Security.STARTTLS, host="localhost"), transcript))

    error = caught.value
    assert error.stage is SmtpStage.AUTH
    assert error.reply is not None
    assert (error.reply.code, error.reply.enhanced) == (535, "5.7.8")
    assert error.reply.text == (
        "Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials"
    )
    assert str(error) == f"auth: the server rejected the credentials: {error.reply}"
    for text in (str(error), repr(error), str(transcript), repr(error.__dict__)):
        assert not _leaks(text)
    assert auth_server.messages == []


def test_it_rejects_with_the_servers_own_535_and_never_the_password(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: "another password"}, auth_mechanisms=("LOGIN",))
    transcript = Transcript()

    with pytest.raises(AuthRejected) as caught:
        run(_send(_endpoint(server, security=Security.STARTTLS, host="localhost"), transcript))

    assert str(caught.value.reply) == "535 5.7.8 Authentication credentials invalid"
    assert not _leaks(str(transcript) + str(caught.value) + repr(caught.value))


def test_it_says_when_the_server_offers_no_auth(smtpd: SmtpServer) -> None:
    with pytest.raises(AuthUnavailable) as caught:
        run(_send(_endpoint(smtpd)))

    assert caught.value.stage is SmtpStage.AUTH
    assert caught.value.detail == "the server offers no AUTH"


def test_it_says_when_auth_is_offered_only_after_starttls(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: PASSWORD}, auth_require_tls=True)

    with pytest.raises(AuthEncryptionRequired) as caught:
        run(_send(_endpoint(server, security=Security.NONE)))

    assert (
        caught.value.detail == "the server offers AUTH only after STARTTLS, which this connection did not use"
    )
    assert not any(c.startswith("AUTH") for c in server.commands)


def test_it_says_when_no_mechanism_is_in_common(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: PASSWORD}, auth_mechanisms=("CRAM-MD5",))

    with pytest.raises(AuthUnavailable) as caught:
        run(_send(_endpoint(server, security=Security.STARTTLS, host="localhost")))

    assert (
        caught.value.detail
        == "no mechanism in common: the server offers CRAM-MD5, Postwarden speaks PLAIN LOGIN"
    )


def test_it_reports_538_as_encryption_required(auth_server: SmtpServer) -> None:
    auth_server.inject("AUTH", "538 5.7.11 Encryption required for requested authentication mechanism")

    with pytest.raises(AuthEncryptionRequired) as caught:
        run(_send(_endpoint(auth_server, security=Security.STARTTLS, host="localhost")))

    assert caught.value.reply is not None
    assert caught.value.reply.code == 538


def test_it_sends_credentials_in_clear_to_loopback(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(users={USER: PASSWORD}, auth_require_tls=False)

    session = run(_send(_endpoint(server)))

    assert session.auth_mechanism == "PLAIN"
    assert [m.login for m in server.delivered] == [USER]


def test_it_refuses_to_send_credentials_in_clear_to_a_peer_that_is_not_loopback(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    # The peer is 127.0.0.1 (tests stay on loopback); the session is told to treat it as
    # a remote address, which is what decides.
    server = smtpd_factory(users={USER: PASSWORD}, auth_require_tls=False)

    with pytest.raises(PlaintextAuthRefused) as caught:
        run(_send(_endpoint(server), loopback=lambda ip: False))

    assert isinstance(caught.value, AuthEncryptionRequired)
    assert caught.value.detail == (
        "the connection to 127.0.0.1 is not encrypted and not loopback; use security starttls or ssl"
    )
    assert server.auth_attempts == []
    assert not any(c.startswith("AUTH") for c in server.commands)


def test_it_reports_530_at_mail_as_auth_required(smtpd_factory: Callable[..., SmtpServer]) -> None:
    server = smtpd_factory(users={USER: PASSWORD}, auth_require_tls=False, auth_required=True)

    with pytest.raises(AuthRequired) as caught:
        run(_send(Endpoint(**server.endpoint_args())))

    assert caught.value.stage is SmtpStage.MAIL
    assert str(caught.value.reply) == "530 5.7.0 Authentication required"


def test_it_keeps_the_password_out_of_every_rendering_of_the_endpoint(auth_server: SmtpServer) -> None:
    endpoint = _endpoint(auth_server)
    session = SmtpSession(endpoint)

    for text in (repr(endpoint), str(endpoint), repr(session), f"{endpoint}"):
        assert not _leaks(text)


@pytest.mark.parametrize("mechanisms", [("PLAIN",), ("LOGIN",)])
def test_it_never_shows_the_password_in_the_steps(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object, mechanisms: tuple[str, ...]
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: "nope"}, auth_mechanisms=mechanisms)
    transcript = Transcript()
    session = SmtpSession(
        _endpoint(server, security=Security.STARTTLS, host="localhost"), transcript=transcript
    )

    with pytest.raises(SmtpError) as caught:
        run(session.open())

    rendered = [repr(step) for step in session.steps] + [str(transcript), repr(transcript.as_dicts())]
    rendered += [str(caught.value), repr(caught.value)]
    assert not any(_leaks(text) for text in rendered)
