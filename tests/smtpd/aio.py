"""aiosmtpd in a background thread: configurable, recording, answering what a test injects."""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import email.parser
import email.policy
import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.smtpd.loop import LoopThread, reply_text, server_context

TlsMode = Literal["none", "starttls", "implicit"]
_KNOWN_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER")
_queue_ids = itertools.count(1)
_AUTH_LINE = 12288


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
        return self.reply is not None and reply_text(self.reply).startswith("421")


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
    #: OAuth2: judges XOAUTH2/OAUTHBEARER tokens (tests/oauthd.py BearerCheck); AUTH is then
    #: offered with ``auth_mechanisms`` (e.g. ("XOAUTH2",) as Exchange, ("XOAUTH2",
    #: "OAUTHBEARER", "PLAIN", "LOGIN") as Gmail)
    bearer: Any = None
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
        auth_offered = options.users is not None or options.bearer is not None
        drop = {d.upper() for d in options.ehlo_drop} | (set() if auth_offered else {"AUTH"})
        keywords = [r[4:] for r in responses[1:] if r[4:].split(" ")[0].upper() not in drop]
        keywords += list(options.ehlo_extra) + (["PIPELINING"] if options.pipelining else [])
        lines = [responses[0], *(f"250-{k}" for k in keywords)]
        return [*lines[:-1], "250 " + lines[-1][4:]]

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        injection = self.server.take("DATA", data.decode("utf-8", "replace"))
        template = self.server.options.data_reply
        if injection is not None:
            template = "" if injection.reply is None else reply_text(injection.reply)
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
                # closed once the reply is written (smtp_DATA below), as a server that
                # answers and then hangs up does
                assert isinstance(smtp, _Smtpd)
                smtp.close_after_reply = True
        return reply or "250 OK"

    async def auth_XOAUTH2(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(smtp, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, smtp: SMTP, args: list[str]) -> AuthResult:
        return await self._bearer(smtp, args, "OAUTHBEARER")

    async def _bearer(self, smtp: SMTP, args: list[str], mechanism: str) -> AuthResult:
        check = self.server.options.bearer
        if check is None:
            return AuthResult(success=False)
        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Cannot decode response")
        else:
            answer = await smtp.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(
            part.split("=", 1) for part in blob.decode("utf-8", "replace").split("\x01") if "=" in part
        )
        user = fields.get("user", "")
        if mechanism == "OAUTHBEARER":
            gs2 = blob.decode("utf-8", "replace").split("\x01", 1)[0]  # n,a=user,
            user = gs2.split(",")[1][2:].replace("=2C", ",").replace("=3D", "=") if "a=" in gs2 else ""
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        self.server.auth_attempts.append((mechanism, user))
        verdict = check.judge(user, token)
        if verdict == "ok":
            self.server.logins[id(smtp.session)] = user
            return AuthResult(success=True, auth_data=user)
        challenge, final = check.refusal(verdict)
        if challenge is not None:
            answer = await smtp.challenge_auth(challenge)  # the client answers with an empty line or ^A
        return AuthResult(success=False, handled=False, message=final)

    async def auth_CRAM__MD5(self, smtp: SMTP, args: list[str]) -> AuthResult:
        # Offered only when a test asks (auth_mechanisms), to have a mechanism we do not speak.
        return AuthResult(success=False)

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.server.auth_attempts.append((mechanism, login))
        self.server.credentials.append((mechanism, login, password))
        ok = (self.server.options.users or {}).get(login) == password
        if ok:
            self.server.logins[id(session)] = login
        return AuthResult(success=ok, handled=False)


class _Smtpd(SMTP):
    """aiosmtpd's SMTP with a custom greeting and injected replies for every command."""

    def __init__(self, server: SmtpServer, handler: _Handler, **kwargs: Any) -> None:
        bearer = server.options.bearer is not None
        if bearer:  # RFC 4954 4: AUTH lines up to 12288 octets (an OAuth2 token alone is 1-2 KB)
            self.line_length_limit = _AUTH_LINE + 2
        super().__init__(handler, **kwargs)
        if bearer:
            self.command_size_limits = collections.defaultdict(lambda: _AUTH_LINE)
        self._server = server
        self._greeted = False
        self.close_after_reply = False

    async def push(self, status: Any) -> None:
        if not self._greeted:
            self._greeted = True
            if self._server.options.greeting is not None:
                status = reply_text(self._server.options.greeting)
        await super().push(status)

    async def _injected(self, command: str, arg: str | None) -> bool:
        shown = arg.split(" ")[0] if command == "AUTH" and arg else arg  # not the credentials
        self._server.commands.append(f"{command} {shown}".strip() if shown else command)
        injection = self._server.take(command, arg or "")
        if injection is None:
            return False
        await asyncio.sleep(injection.delay)
        if injection.reply is not None:
            await super().push(reply_text(injection.reply))
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
        if self.close_after_reply and self.transport is not None:
            self.transport.close()

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
        #: (mechanism, login, password) as received: what a test asserts no secret reached
        self.credentials: list[tuple[str, str, str]] = []
        self.logins: dict[int, str] = {}
        self.sni: list[str] = []
        self.connections = 0
        self.injections: list[Injection] = []
        self._lock = threading.Lock()
        self._protocols: list[_Smtpd] = []
        self._thread = LoopThread(f"smtpd-{options.tls}")
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
        offered = set(o.auth_mechanisms) if (o.users is not None or o.bearer is not None) else set()
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
