"""The four security modes against real servers, and every way TLS can fail."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
import trustme

from postwarden.core.config.model import Security
from postwarden.core.smtp.errors import (
    CertificateExpired,
    CertificateUntrusted,
    HostnameMismatch,
    NoGreeting,
    StartTlsUnavailable,
    TlsHandshakeFailed,
)
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from tests.core.smtp.support import run
from tests.smtpd import SmtpServer

MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"


async def _send(endpoint: Endpoint) -> SmtpSession:
    async with SmtpSession(endpoint) as session:
        await session.send("from@example.test", ["to@example.test"], MESSAGE)
    return session


def test_it_sends_in_clear_with_security_none(smtpd: SmtpServer) -> None:
    session = run(_send(Endpoint(**smtpd.endpoint_args())))

    assert session.tls is None
    assert [m.tls for m in smtpd.delivered] == [False]
    assert [s.stage for s in session.steps] == [
        SmtpStage.RESOLVE, SmtpStage.CONNECT, SmtpStage.GREETING, SmtpStage.EHLO,
    ]  # fmt: skip


def test_it_sends_over_implicit_tls(smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object) -> None:
    server = smtpd_factory(tls="implicit")

    session = run(_send(Endpoint(**server.endpoint_args(host="localhost"))))

    assert session.tls is not None
    assert session.tls.how == "implicit"
    assert session.tls.verified is True
    assert session.tls.version in ("TLSv1.2", "TLSv1.3")
    assert "DNS:localhost" in session.tls.san
    assert server.sni == ["localhost"]
    assert [m.tls for m in server.delivered] == [True]
    assert session.steps[2].stage is SmtpStage.TLS


def test_it_upgrades_with_required_starttls(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls", require_starttls=True)

    session = run(_send(Endpoint(**server.endpoint_args(security=Security.STARTTLS, host="localhost"))))

    assert session.tls is not None
    assert session.tls.how == "starttls"
    assert server.commands[:3] == ["EHLO client.test", "STARTTLS", "EHLO client.test"]
    assert "STARTTLS" not in session.extensions  # the EHLO after TLS no longer offers it
    assert [m.tls for m in server.delivered] == [True]


def test_it_upgrades_opportunistically_when_offered(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls")

    session = run(_send(Endpoint(**server.endpoint_args(security=Security.OPPORTUNISTIC, host="localhost"))))

    assert session.tls is not None
    assert [m.tls for m in server.delivered] == [True]


def test_it_goes_on_in_clear_opportunistically_when_not_offered(smtpd: SmtpServer) -> None:
    session = run(_send(Endpoint(**smtpd.endpoint_args(security=Security.OPPORTUNISTIC))))

    assert session.tls is None
    starttls = [s for s in session.steps if s.stage is SmtpStage.STARTTLS]
    assert [(s.ok, s.detail) for s in starttls] == [(True, "not offered; continuing without TLS")]
    assert [m.tls for m in smtpd.delivered] == [False]


def test_it_goes_on_in_clear_opportunistically_when_starttls_is_refused(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls")
    server.inject("STARTTLS", "454 4.7.0 TLS not available due to local problem")

    session = run(_send(Endpoint(**server.endpoint_args(security=Security.OPPORTUNISTIC))))

    assert session.tls is None
    assert [m.tls for m in server.delivered] == [False]


def test_it_reports_ssl_against_a_plain_port_as_a_tls_failure(smtpd: SmtpServer) -> None:
    with pytest.raises(TlsHandshakeFailed) as caught:
        run(_send(Endpoint(**smtpd.endpoint_args(security=Security.SSL))))

    assert caught.value.stage is SmtpStage.TLS
    assert caught.value.detail == "[SSL: WRONG_VERSION_NUMBER] wrong version number"
    assert smtpd.messages == []


def test_it_reports_starttls_against_an_implicit_tls_port_as_no_greeting(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="implicit")

    with pytest.raises(NoGreeting) as caught:
        run(_send(Endpoint(**server.endpoint_args(security=Security.STARTTLS, timeout=0.5))))

    assert caught.value.stage is SmtpStage.GREETING
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.detail == "no reply within 0.5 s"


def test_it_refuses_to_go_on_when_required_starttls_is_not_offered(smtpd: SmtpServer) -> None:
    with pytest.raises(StartTlsUnavailable) as caught:
        run(_send(Endpoint(**smtpd.endpoint_args(security=Security.STARTTLS))))

    assert caught.value.stage is SmtpStage.STARTTLS
    assert caught.value.detail == "the server's EHLO does not list STARTTLS"
    assert "MAIL" not in " ".join(smtpd.commands)


def test_it_quotes_the_refusal_when_required_starttls_is_refused(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(tls="starttls")
    server.inject("STARTTLS", "454 4.7.0 TLS not available due to local problem")

    with pytest.raises(StartTlsUnavailable) as caught:
        run(_send(Endpoint(**server.endpoint_args(security=Security.STARTTLS))))

    assert str(caught.value.reply) == "454 4.7.0 TLS not available due to local problem"


@pytest.mark.parametrize(
    ("cert", "host", "error", "reason", "detail"),
    [
        ("untrusted_cert", "localhost", CertificateUntrusted, "untrusted",
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
         "unable to get local issuer certificate"),
        ("expired_cert", "localhost", CertificateExpired, "expired",
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired"),
        ("wrong_host_cert", "localhost", HostnameMismatch, "hostname_mismatch",
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
         "certificate is not valid for 'localhost'."),
        ("wrong_host_cert", "127.0.0.1", HostnameMismatch, "hostname_mismatch",
         "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch, "
         "certificate is not valid for '127.0.0.1'."),
    ],
)  # fmt: skip
@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_it_names_what_is_wrong_with_the_certificate(
    request: pytest.FixtureRequest,
    smtpd_factory: Callable[..., SmtpServer],
    ssl_cert_file: object,
    tls: str,
    cert: str,
    host: str,
    error: type[Exception],
    reason: str,
    detail: str,
) -> None:
    server = smtpd_factory(tls=tls, cert=request.getfixturevalue(cert))

    with pytest.raises(error) as caught:
        run(_send(Endpoint(**server.endpoint_args(host=host))))

    assert caught.value.stage is (SmtpStage.TLS if tls == "implicit" else SmtpStage.STARTTLS)  # type: ignore[attr-defined]
    assert caught.value.reason == reason  # type: ignore[attr-defined]
    assert caught.value.detail == detail  # type: ignore[attr-defined]
    assert server.messages == []


def test_it_trusts_only_the_store_ssl_cert_file_names(
    smtpd_factory: Callable[..., SmtpServer], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    server = smtpd_factory(tls="implicit")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")

    with pytest.raises(CertificateUntrusted):
        run(_send(Endpoint(**server.endpoint_args(host="localhost"))))


def test_it_connects_to_any_certificate_when_verification_is_off(
    smtpd_factory: Callable[..., SmtpServer], untrusted_cert: trustme.LeafCert
) -> None:
    server = smtpd_factory(tls="implicit", cert=untrusted_cert)

    session = run(_send(Endpoint(**server.endpoint_args(verify_certificate=False))))

    assert session.tls is not None
    assert session.tls.verified is False
    assert session.tls.not_after is not None
    assert "IP:127.0.0.1" in session.tls.san
    assert [m.tls for m in server.delivered] == [True]


def test_it_uses_the_ssl_context_it_is_given(
    smtpd_factory: Callable[..., SmtpServer], ca: trustme.CA
) -> None:
    server = smtpd_factory(tls="implicit")
    context = ssl.create_default_context()
    ca.configure_trust(context)

    async def send() -> None:
        async with SmtpSession(Endpoint(**server.endpoint_args()), ssl_context=context) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)

    run(send())

    assert len(server.delivered) == 1
