"""Real SMTP servers on loopback for tests, and the certificates to serve TLS with.

* :class:`SmtpServer` -- aiosmtpd in a background thread, configured per test
  (plain / STARTTLS offered or required / implicit TLS, AUTH PLAIN/LOGIN with accepted
  credentials, SIZE, SMTPUTF8, PIPELINING, custom greeting and EHLO lines), recording
  every message, command, AUTH attempt and SNI name, and answering any command with a
  reply injected by the test (multi-line, delayed, N times, closing the connection)::

      def test_it_retries(smtpd_factory):
          server = smtpd_factory(tls="starttls", users={"u": "p"}, auth_require_tls=True)
          server.inject("DATA", "421 4.7.0 Try again later", times=1)   # then 250
          server.inject("RCPT", "550 5.1.1 <x@y.test>: no such user", match="x@y.test")
          ... Endpoint(**server.endpoint_args()) ...
          assert [m.rcpt_tos for m in server.delivered] == [["a@y.test"]]

  aiosmtpd 1.4 does not advertise PIPELINING, although it reads commands from a stream
  and so answers pipelined commands in order; ``pipelining=True`` (the default, as at
  Postfix, Exim and Gmail) adds the keyword through the ``handle_EHLO`` hook.
* :class:`RawServer` -- a bare asyncio server for what aiosmtpd cannot do: no greeting
  (:func:`silent`), a 421/554 greeting or an IMAP banner (:func:`banner`), a close at
  once (:func:`close_at_once`), slow or scripted replies (:func:`scripted`). It records
  every chunk received, so a test can see which commands arrived in one segment.
* trustme fixtures: ``ca``, ``untrusted_ca``, ``server_cert`` (localhost, 127.0.0.1,
  ::1), ``expired_cert``, ``wrong_host_cert``, ``untrusted_cert``, and ``ssl_cert_file``,
  which points ``SSL_CERT_FILE`` at the trusted CA for the test.

Servers listen on a free port of 127.0.0.1 (or ``host="::1"``) and are stopped at fixture
teardown, whatever the test did. Registered in tests/conftest.py as a pytest plugin.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.smtpd.aio import Injection, ReceivedMessage, SmtpdOptions, SmtpServer, TlsMode
from tests.smtpd.loop import server_context
from tests.smtpd.raw import Behaviour, RawServer, banner, close_at_once, scripted, silent

__all__ = [
    "Behaviour",
    "Injection",
    "RawServer",
    "ReceivedMessage",
    "SmtpServer",
    "SmtpdOptions",
    "TlsMode",
    "banner",
    "close_at_once",
    "scripted",
    "server_context",
    "silent",
]


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd warns on every connection when AUTH is required without TLS; tests that
    # ask for that combination mean it. (Raised in the server thread, so only a filter
    # that pytest applies to every test catches it.)
    config.addinivalue_line("filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def untrusted_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture(scope="session")
def expired_cert(ca: trustme.CA) -> trustme.LeafCert:
    now = dt.datetime.now(dt.UTC)
    return ca.issue_cert(
        "localhost",
        "127.0.0.1",
        "::1",
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )


@pytest.fixture(scope="session")
def wrong_host_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("wrong.example")


@pytest.fixture(scope="session")
def untrusted_cert(untrusted_ca: trustme.CA) -> trustme.LeafCert:
    return untrusted_ca.issue_cert("localhost", "127.0.0.1", "::1")


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "trusted-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def ssl_cert_file(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``SSL_CERT_FILE`` names the trusted test CA for this test."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    return ca_file


@pytest.fixture
def smtpd_factory(server_cert: trustme.LeafCert) -> Iterator[Callable[..., SmtpServer]]:
    """``smtpd_factory(**SmtpdOptions fields) -> SmtpServer``, started; all stopped at teardown.
    ``cert`` defaults to ``server_cert`` (trusted CA, localhost/127.0.0.1/::1)."""
    servers: list[SmtpServer] = []

    def start(**options: Any) -> SmtpServer:
        options.setdefault("cert", server_cert)
        server = SmtpServer(SmtpdOptions(**options))
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def smtpd(smtpd_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain server (no TLS, no AUTH) that offers PIPELINING and SIZE."""
    return smtpd_factory()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port where connecting times out: it listens with a backlog of 0 and
    its one queue slot is taken, so the kernel drops further SYNs (a firewall that
    drops, without leaving loopback)."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        filler.connect(("127.0.0.1", port))
        yield port


@pytest.fixture
def closed_port() -> int:
    """A loopback port where nothing listens (connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def raw_smtpd_factory() -> Iterator[Callable[..., RawServer]]:
    """``raw_smtpd_factory(behaviour, host="127.0.0.1") -> RawServer``, started; stopped at teardown."""
    servers: list[RawServer] = []

    def start(behaviour: Behaviour, host: str = "127.0.0.1") -> RawServer:
        server = RawServer(behaviour, host)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
