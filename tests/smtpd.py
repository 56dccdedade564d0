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

import asyncio
import contextlib
import datetime as dt
import email.parser
import email.policy
import itertools
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

T = TypeVar("T")
TlsMode = Literal["none", "starttls", "implicit"]
#: seconds any setup/teardown call into a server thread may take
_THREAD_CALL_TIMEOUT = 10.0
_KNOWN_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
_queue_ids = itertools.count(1)


class _LoopThread:
    """An event loop running in a daemon thread, for one server."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(_THREAD_CALL_TIMEOUT)

    def stop(self) -> None:
        """Cancel what still runs, stop the loop, join the thread. Idempotent."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)

        with contextlib.suppress(Exception):
            self.call(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_THREAD_CALL_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


def server_context(cert: trustme.LeafCert, sni: list[str] | None = None) -> ssl.SSLContext:
    """A server-side context serving ``cert``; SNI names clients send go to ``sni``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if sni is not None:

        def record(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            sni.append(name or "")

        context.sni_callback = record  # type: ignore[assignment]
    return context


def _reply_text(reply: str | Sequence[str]) -> str:
    """One reply as sent: lines joined by CRLF (a ``\\n`` in a string separates lines)."""
    lines = reply.splitlines() if isinstance(reply, str) else list(reply)
    return "\r\n".join(lines)


# ------------------------------------------------------------------------------ aiosmtpd


@dataclass
class Injection:
    """Answer ``command`` (whose argument contains ``match``, case-insensitive) with
    ``reply``, ``times`` times (None: always), after ``delay`` seconds, then close the
    connection if ``close`` (default: for 421, RFC 5321 §3.8). ``command`` is the verb
    (EHLO, HELO, STARTTLS, AUTH, MAIL, RCPT, RSET, NOOP, QUIT), ``"DATA_CMD"`` for the
    reply to the DATA command itself, or ``"DATA"`` for the reply to the end of data
    (there ``match`` is looked for in the message content)."""

    command: str
    #: None sends nothing (with ``close=True``: the server hangs up instead of answering)
    reply: str | Sequence[str] | None
    match: str | None = None
    times: int | None = None
    close: bool | None = None
    delay: float = 0.0
    used: int = 0

    def applies(self, command: str, arg: str) -> bool:
        if command != self.command or (self.times is not None and self.used >= self.times):
            return False
        return self.match is None or self.match.lower() in arg.lower()

    @property
    def closes(self) -> bool:
        if self.close is not None:
            return self.close
        return self.reply is not None and _reply_text(self.reply).startswith("421")


@dataclass(frozen=True)
class ReceivedMessage:
    """What the server got for one DATA, and what it answered."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str]
    rcpt_options: list[str]
    peer: Any
    ehlo: str | None
    login: str | None
    tls: bool
    reply: str
    queue_id: str | None

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("2")

    @property
    def message_id(self) -> str | None:
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(self.data)
        value = headers.get("Message-ID")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class SmtpdOptions:
    """How a :class:`SmtpServer` behaves. ``data_reply`` may contain ``{queue_id}``."""

    host: str = "127.0.0.1"
    hostname: str = "smtpd.test"
    tls: TlsMode = "none"
    require_starttls: bool = False
    cert: trustme.LeafCert | None = None
    #: accepted credentials; AUTH is offered only when set
    users: Mapping[str, str] | None = None
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    auth_required: bool = False
    auth_require_tls: bool = True
    #: advertised SIZE and enforced limit; None for no SIZE extension
    size_limit: int | None = 10_240_000
    smtputf8: bool = False
    pipelining: bool = True
    #: the whole greeting, e.g. ["220-mx.test ESMTP", "220 hello"]
    greeting: str | Sequence[str] | None = None
    #: the whole EHLO reply, replacing aiosmtpd's
    ehlo: Sequence[str] | None = None
    ehlo_extra: Sequence[str] = ()
    ehlo_drop: Sequence[str] = ()
    data_reply: str = "250 OK"


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        options = self.server.options
        if options.ehlo is not None:
            return list(options.ehlo)
        drop = {d.upper() for d in options.ehlo_drop} | (set() if options.users is not None else {"AUTH"})
        keywords = [r[4:] for r in responses[1:] if r[4:].split(" ")[0].upper() not in drop]
        keywords += list(options.ehlo_extra) + (["PIPELINING"] if options.pipelining else [])
        lines = [responses[0], *(f"250-{k}" for k in keywords)]
        return [*lines[:-1], "250 " + lines[-1][4:]]

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        injection = self.server.take("DATA", data.decode("utf-8", "replace"))
        template = self.server.options.data_reply
        if injection is not None:
            template = "" if injection.reply is None else _reply_text(injection.reply)
        queue_id = f"Q{next(_queue_ids):08d}" if "{queue_id}" in template else None
        reply = template.replace("{queue_id}", queue_id or "")
        transport = smtp.transport
        self.server.messages.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=data,
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
                peer=session.peer,
                ehlo=session.host_name,
                login=self.server.logins.get(id(session)),
                tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
                reply=reply,
                queue_id=queue_id,
            )
        )
        if injection is not None:
            await asyncio.sleep(injection.delay)
            if injection.reply is None and transport is not None:
                transport.close()  # hang up instead of answering; aiosmtpd's own reply goes nowhere
            elif injection.closes and transport is not None:
                asyncio.get_running_loop().call_soon(transport.close)
        return reply or "250 OK"

    async def auth_CRAM__MD5(self, smtp: SMTP, args: list[str]) -> AuthResult:
        # Offered only when a test asks (auth_mechanisms), to have a mechanism we do not speak.
        return AuthResult(success=False)

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.server.auth_attempts.append((mechanism, login))
        ok = (self.server.options.users or {}).get(login) == password
        if ok:
            self.server.logins[id(session)] = login
        return AuthResult(success=ok, handled=False)


class _Smtpd(SMTP):
    """aiosmtpd's SMTP with a custom greeting and injected replies for every command."""

    def __init__(self, server: SmtpServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._server = server
        self._greeted = False

    async def push(self, status: Any) -> None:
        if not self._greeted:
            self._greeted = True
            if self._server.options.greeting is not None:
                status = _reply_text(self._server.options.greeting)
        await super().push(status)

    async def _injected(self, command: str, arg: str | None) -> bool:
        shown = arg.split(" ")[0] if command == "AUTH" and arg else arg  # not the credentials
        self._server.commands.append(f"{command} {shown}".strip() if shown else command)
        injection = self._server.take(command, arg or "")
        if injection is None:
            return False
        await asyncio.sleep(injection.delay)
        if injection.reply is not None:
            await super().push(_reply_text(injection.reply))
        if injection.closes and self.transport is not None:
            self.transport.close()
        return True

    async def smtp_EHLO(self, arg: str) -> None:
        if not await self._injected("EHLO", arg):
            await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg: str) -> None:
        if not await self._injected("HELO", arg):
            await super().smtp_HELO(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        if not await self._injected("STARTTLS", arg):
            await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        if not await self._injected("AUTH", arg):
            await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str) -> None:
        if not await self._injected("MAIL", arg):
            await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str) -> None:
        if not await self._injected("RCPT", arg):
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if not await self._injected("DATA_CMD", arg):
            await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg: str) -> None:
        if not await self._injected("RSET", arg):
            await super().smtp_RSET(arg)

    async def smtp_NOOP(self, arg: str) -> None:
        if not await self._injected("NOOP", arg):
            await super().smtp_NOOP(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        if not await self._injected("QUIT", arg):
            await super().smtp_QUIT(arg)


class SmtpServer:
    """aiosmtpd on a free loopback port, in its own thread. See the module docstring."""

    def __init__(self, options: SmtpdOptions) -> None:
        self.options = options
        self.messages: list[ReceivedMessage] = []
        self.commands: list[str] = []
        self.auth_attempts: list[tuple[str, str]] = []
        self.logins: dict[int, str] = {}
        self.sni: list[str] = []
        self.connections = 0
        self.injections: list[Injection] = []
        self._lock = threading.Lock()
        self._protocols: list[_Smtpd] = []
        self._thread = _LoopThread(f"smtpd-{options.tls}")
        self._server: asyncio.Server | None = None
        self.host, self.port = options.host, 0

    @property
    def delivered(self) -> list[ReceivedMessage]:
        return [m for m in self.messages if m.accepted]

    @property
    def security(self) -> str:
        """The client security mode that fits: none, ssl or starttls."""
        return {"none": "none", "implicit": "ssl", "starttls": "starttls"}[self.options.tls]

    def endpoint_args(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``postwarden.core.smtp.session.Endpoint`` reaching this server."""
        from postwarden.core.config.model import Security

        args: dict[str, Any] = {"host": self.host, "port": self.port, "security": Security(self.security)}
        args.update(timeout=5.0, ehlo_name="client.test")
        args.update(overrides)
        return args

    def inject(self, command: str, reply: str | Sequence[str] | None, **kwargs: Any) -> Injection:
        """Add an :class:`Injection`; the first one that applies answers."""
        injection = Injection(command.upper(), reply, **kwargs)
        with self._lock:
            self.injections.append(injection)
        return injection

    def take(self, command: str, arg: str) -> Injection | None:
        with self._lock:
            for injection in self.injections:
                if injection.applies(command, arg):
                    injection.used += 1
                    return injection
        return None

    def _factory(self) -> _Smtpd:
        o = self.options
        tls_context = server_context(o.cert, self.sni) if o.cert is not None and o.tls == "starttls" else None
        offered = set(o.auth_mechanisms) if o.users is not None else set()
        handler = _Handler(self)
        protocol = _Smtpd(
            self,
            handler,
            hostname=o.hostname,
            data_size_limit=o.size_limit,
            enable_SMTPUTF8=o.smtputf8,
            tls_context=tls_context,
            require_starttls=o.require_starttls,
            auth_required=o.auth_required,
            auth_require_tls=o.auth_require_tls,
            auth_exclude_mechanism=[m for m in _KNOWN_MECHANISMS if m not in offered],
            authenticator=handler.authenticate,
            loop=self._thread.loop,
        )
        self._protocols.append(protocol)
        self.connections += 1
        return protocol

    def start(self) -> SmtpServer:
        o = self.options
        implicit = server_context(o.cert, self.sni) if o.tls == "implicit" and o.cert is not None else None

        async def listen() -> asyncio.Server:
            loop = asyncio.get_running_loop()
            return await loop.create_server(self._factory, o.host, 0, ssl=implicit)

        self._server = self._thread.call(listen())
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for protocol in self._protocols:
                if protocol.transport is not None:
                    protocol.transport.abort()

        if not self._thread.loop.is_closed():
            with contextlib.suppress(Exception):
                self._thread.call(close())
        self._thread.stop()


# ------------------------------------------------------------------------------- raw server

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


async def _hold(reader: asyncio.StreamReader) -> None:
    """Read and ignore until the client closes (or the server stops)."""
    while await reader.read(65536):
        pass


def silent() -> Behaviour:
    """Accept the connection and never send a byte: no greeting."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await _hold(reader)

    return run


def close_at_once() -> Behaviour:
    """Close the connection right after accepting it."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        writer.close()

    return run


def banner(*lines: str, then: Behaviour | None = None) -> Behaviour:
    """Send ``lines`` (e.g. ``"421 4.7.0 Too many connections"`` or an IMAP banner), then
    behave as ``then`` (default: say nothing more). ``then=close_at_once()`` closes."""
    after = then or silent()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await writer.drain()
        await after(reader, writer, server)

    return run


def scripted(
    replies: Mapping[str, str | Sequence[str]] | None = None,
    *,
    greeting: str = "220 raw.test ESMTP",
    ehlo: Sequence[str] = ("250-raw.test", "250-PIPELINING", "250 8BITMIME"),
    delay: float = 0.0,
    greeting_delay: float = 0.0,
) -> Behaviour:
    """A minimal SMTP responder: ``replies`` by verb (``"."`` for the end of data,
    default 250), every reply after ``delay`` seconds. Records chunks in ``server.chunks``."""
    table: dict[str, str] = {"EHLO": _reply_text(ehlo), "DATA": "354 go ahead", "QUIT": "221 bye"}
    table.update({k.upper(): _reply_text(v) for k, v in (replies or {}).items()})

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer) -> None:
        await asyncio.sleep(greeting_delay)
        writer.write(f"{greeting}\r\n".encode())
        in_data, buffer = False, b""
        while chunk := await reader.read(65536):
            server.chunks.append(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if in_data:
                    in_data = line.rstrip(b"\r") != b"."
                    verb = "" if in_data else "."
                else:
                    verb = line.decode("utf-8", "replace").strip().split(" ")[0].upper()
                    in_data = verb == "DATA" and table["DATA"].startswith("354")
                if verb:
                    await asyncio.sleep(delay)
                    writer.write((table.get(verb, "250 ok") + "\r\n").encode())
                if verb == "QUIT":
                    writer.close()
                    return

    return run


class RawServer:
    """A bare asyncio TCP server running ``behaviour`` for each connection."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.host, self.port = host, 0
        self.chunks: list[bytes] = []
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._thread = _LoopThread("raw-smtpd")
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await self.behaviour(reader, writer, self)

    def start(self) -> RawServer:
        async def listen() -> asyncio.Server:
            return await asyncio.start_server(self._serve, self.host, 0)

        self._server = self._thread.call(listen())
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in self._writers:
                writer.transport.abort()

        if not self._thread.loop.is_closed():
            with contextlib.suppress(Exception):
                self._thread.call(close())
        self._thread.stop()


# ------------------------------------------------------------------------------ fixtures


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
