"""One SMTP client session, step by step, each step timed and tagged with its stage.

resolve → connect → (implicit TLS) → greeting → EHLO (HELO on 500/502) → STARTTLS →
EHLO → AUTH → [MAIL → RCPT… → DATA]… → QUIT

The doctor, ``postwarden send-test`` and the worker all drive this class, so what the
doctor proves is what the worker does. We do not use aiosmtplib: it has no PIPELINING
(RFC 2920) and tags no stages, and it tops out at 4.4k msg/s on this machine where a
pipelining client reaches 16k (docs/reference/send-baselines.md). With PIPELINING a
message costs two round trips (MAIL+RCPT+DATA, then the content) instead of 3 + n.

Every failure is an :class:`~postwarden.core.smtp.errors.SmtpError`; refusals keep the
connection usable (after RSET where a transaction is open), anything else closes it.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from types import TracebackType

from postwarden.core.config.model import Security
from postwarden.core.i18n import Text
from postwarden.core.oauth.cache import TokenCache
from postwarden.core.oauth.errors import TokenError
from postwarden.core.oauth.token import AccessToken
from postwarden.core.secrets import MASK
from postwarden.core.smtp import auth
from postwarden.core.smtp.batch import Batching
from postwarden.core.smtp.connection import S
from postwarden.core.smtp.envelope import Capabilities, parse_ehlo
from postwarden.core.smtp.errors import (
    AuthRejected,
    ProtocolError,
    ResolveError,
    StartTlsUnavailable,
    error_for_reply,
    exception_text,
    translate,
)
from postwarden.core.smtp.model import Endpoint, Resolver, SendResult, SmtpOutgoing, Step, system_resolver
from postwarden.core.smtp.reader import ReplyReader
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.tls import How, client_context, tls_info

__all__ = ["Endpoint", "Resolver", "SendResult", "SmtpOutgoing", "SmtpSession", "Step", "system_resolver"]


@functools.cache
def local_fqdn() -> str:
    # getfqdn() may ask DNS for a reverse lookup; done once, in a thread (see _ehlo_name).
    return socket.getfqdn()


def _address_literal(ip: str) -> str:
    # RFC 5321 §4.1.3; smtplib does the same when the FQDN has no dot.
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class SmtpSession(Batching):
    """An SMTP client session; an async context manager (``open()`` … ``quit()``)::

        SmtpSession(endpoint, *, resolver=None, transcript=None, ssl_context=None,
                    loopback=is_loopback, record_steps=None)

    ``resolver`` replaces the system's (the doctor's ``--dns-server``); ``transcript``
    records the conversation, AUTH redacted; ``ssl_context`` replaces the one built at
    connect time from the system trust store (``SSL_CERT_FILE`` honoured);
    ``loopback(ip)`` decides which peers may get credentials in clear (tests use it).

    After :meth:`open`: ``extensions`` (last EHLO, upper-case keywords), ``tls``
    (:class:`TlsInfo` or None), ``auth_mechanism``, ``peer``, ``greeting``,
    ``opened_at`` (monotonic), ``is_connected``; ``messages_sent`` counts successes.
    ``steps`` lists the steps of ``open()`` always, and those of every transaction when
    a transcript is attached or ``record_steps=True`` (the worker's hot path records none).
    One session is one connection: after ``quit()`` or an error, make a new one.

    Transactions: :meth:`send` (two round trips with PIPELINING), :meth:`send_many`
    (one round trip a message: prefer it for batches), :meth:`probe` (MAIL, RCPT, RSET);
    and :meth:`rset`, :meth:`noop`, :meth:`quit`, :meth:`abort`.
    """

    async def __aenter__(self) -> SmtpSession:
        await self.open()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.quit()

    # -- opening ---------------------------------------------------------------------

    async def open(self) -> None:
        """Resolve, connect, TLS, greeting, EHLO, STARTTLS, AUTH, as the endpoint says.

        Raises an :class:`SmtpError` subclass tagged with the failing stage, after
        recording the step and closing the connection.
        """
        if self._reader is not None:
            raise RuntimeError("this session was opened already; make a new one")
        security = self.endpoint.security
        try:
            await self._connect(await self._resolve())
            if security is Security.SSL:
                with self._step(S.TLS) as step:
                    step.detail = await self._handshake(S.TLS, "implicit")
            await self._greet()
            await self._hello()
            if security in (Security.STARTTLS, Security.OPPORTUNISTIC):
                await self._starttls()
            if self.endpoint.wants_auth:
                await self._authenticate()
        except BaseException:
            self.abort()
            raise
        self.opened_at = time.monotonic()

    async def _resolve(self) -> list[tuple[str, int]]:
        host, port = self.endpoint.host, self.endpoint.port
        with self._step(S.RESOLVE) as step:
            literal = _ip_literal(host)
            if literal is not None:
                addresses = [(literal, port)]
            else:
                addresses = await asyncio.wait_for(self._resolver(host, port), self._timeout)
            if not addresses:
                raise ResolveError(S.RESOLVE, detail=Text("{host} has no address", host=host))
            step.detail = ", ".join(f"{ip}:{p}" for ip, p in addresses)
        return addresses

    async def _connect(self, addresses: list[tuple[str, int]]) -> None:
        loop = asyncio.get_running_loop()
        with self._step(S.CONNECT) as step:
            failures: list[tuple[str, BaseException]] = []
            for ip, port in addresses:
                reader = ReplyReader(loop)
                try:
                    connecting = loop.create_connection(lambda: reader, ip, port)  # noqa: B023
                    transport, _ = await asyncio.wait_for(connecting, self._timeout)
                except TimeoutError:
                    failures.append(
                        (f"{ip}:{port}", TimeoutError(f"no connection within {self._timeout:g} s"))
                    )
                    continue
                except OSError as exc:
                    failures.append((f"{ip}:{port}", exc))
                    continue
                self._transport, self._reader, self.peer = transport, reader, (ip, port)
                step.detail = Text("connected to {ip}:{port}", ip=ip, port=port)
                return
            raise _connect_failure(failures)

    async def _handshake(self, stage: SmtpStage, how: How) -> str:
        assert self._transport is not None
        assert self._reader is not None
        context = self._ssl_context or client_context(verify=self.endpoint.verify_certificate)
        upgrading = asyncio.get_running_loop().start_tls(
            self._transport,
            self._reader,
            context,
            server_hostname=self.endpoint.host.strip("[]"),
            ssl_handshake_timeout=self._timeout + 5,  # ours below fires first, with our stage
        )
        transport = await asyncio.wait_for(upgrading, self._timeout)
        assert isinstance(transport, asyncio.Transport)
        self._transport = self._reader.transport = transport
        verified = context.verify_mode != ssl.CERT_NONE
        self.tls = tls_info(transport.get_extra_info("ssl_object"), how=how, verified=verified)
        summary: str = f"{self.tls.version} {self.tls.cipher}"
        if not verified:
            summary = Text("{cipher} (certificate not verified)", cipher=summary)
        if self.transcript is not None:
            self.transcript.note("client", f"[TLS established: {summary}]")
        return summary

    async def _greet(self) -> None:
        with self._step(S.GREETING) as step:
            reply = await self._read(S.GREETING)
            self.greeting = reply
            if reply.code != 220:
                raise error_for_reply(S.GREETING, reply)
            step.detail = str(reply)

    async def _ehlo_name(self) -> str:
        if self.endpoint.ehlo_name:
            return self.endpoint.ehlo_name
        fqdn = await asyncio.get_running_loop().run_in_executor(None, local_fqdn)
        if "." in fqdn:
            return fqdn
        assert self._transport is not None
        return _address_literal(str(self._transport.get_extra_info("sockname")[0]))

    async def _hello(self) -> None:
        with self._step(S.EHLO) as step:
            name = await self._ehlo_name()
            reply = await self._command(S.EHLO, f"EHLO {name}")
            extensions = parse_ehlo(reply)
            if reply.code in (500, 502):  # RFC 5321 §4.1.4: an old server; fall back to HELO
                reply = await self._command(S.EHLO, f"HELO {name}")
                extensions = {}
            if reply.code != 250:
                raise error_for_reply(S.EHLO, reply)
            self.extensions, self._caps = extensions, Capabilities.from_extensions(extensions)
            step.detail = " ".join(sorted(extensions)) or Text("(no extensions)")

    async def _starttls(self) -> None:
        required = self.endpoint.security is Security.STARTTLS
        with self._step(S.STARTTLS) as step:
            if "STARTTLS" not in self.extensions:
                if required:
                    raise StartTlsUnavailable(
                        S.STARTTLS, detail=Text("the server's EHLO does not list STARTTLS")
                    )
                step.detail = Text("not offered; continuing without TLS")
                return
            reply = await self._command(S.STARTTLS, "STARTTLS")
            if reply.code != 220:
                if required:
                    raise error_for_reply(S.STARTTLS, reply)
                step.detail = Text("refused ({reply}); continuing without TLS", reply=str(reply))
                return
            assert self._reader is not None
            if self._reader.has_pending():
                # RFC 3207 §5 / CVE-2011-0411: bytes sent before the handshake could be
                # injected commands or replies; nothing from before TLS may be trusted.
                raise ProtocolError(S.STARTTLS, detail=Text("the server sent data after its 220 to STARTTLS"))
            step.detail = await self._handshake(S.STARTTLS, "starttls")
        await self._hello()  # RFC 3207 §4.2: forget what the plaintext EHLO said

    async def _authenticate(self) -> None:
        assert self.peer is not None
        cache = self.endpoint.token
        with self._step(S.AUTH) as step:
            mechanisms = auth.check_can_authenticate(
                self.extensions,
                encrypted=self.tls is not None,
                peer_ip=self.peer[0],
                loopback=self._loopback,
                bearer=cache is not None,
            )
            if cache is not None:
                step.detail = await self._sign_in_with_token(cache, mechanisms[0])
                return
            user, password = self.endpoint.user or "", self.endpoint.password
            self.auth_mechanism = await auth.authenticate(self, mechanisms, user, password)
            step.detail = Text("authenticated with {mechanism}", mechanism=self.auth_mechanism)

    async def _sign_in_with_token(self, cache: TokenCache, mechanism: str) -> str:
        """AUTH with the cached token; when the server refuses it, once more with a fresh
        one: a token can expire or be revoked before the time it was issued for (a
        server's clock ahead of ours, an admin's revocation), and only the server knows."""
        user, host, port = self.endpoint.user or "", self.endpoint.host, self.endpoint.port
        token = await self._token(cache)
        try:
            await auth.bearer(self, mechanism, user, token.value, host=host, port=port)
        except AuthRejected:
            if not self.is_connected:
                cache.forget()  # the next session starts with a fresh token
                raise
            token = await self._token(cache, instead_of=token)
            await auth.bearer(self, mechanism, user, token.value, host=host, port=port)
            self.auth_mechanism = mechanism
            return Text(
                "authenticated with {mechanism} after the first token was refused", mechanism=mechanism
            )
        self.auth_mechanism = mechanism
        return Text("authenticated with {mechanism}", mechanism=mechanism)

    async def _token(self, cache: TokenCache, instead_of: AccessToken | None = None) -> AccessToken:
        """A token from the cache, recorded as the TOKEN step (its value never)."""
        started = time.perf_counter()
        try:
            token, fetched = await cache.get(instead_of=instead_of)
        except TokenError as exc:
            if self.transcript is not None:
                self.transcript.note("client", f"[OAuth2 {exc}]")
            raise
        detail = token.describe() if fetched else Text("{token} (cached)", token=token.describe())
        self.record(Step(S.TOKEN, True, round((time.perf_counter() - started) * 1000, 3), detail))
        if self.transcript is not None:
            self.transcript.note("client", f"[OAuth2 {detail}: {MASK}]")
        return token


def _connect_failure(failures: list[tuple[str, BaseException]]) -> BaseException:
    """The last failure, its detail naming every address tried when there were several."""
    last = failures[-1][1]
    if len(failures) == 1:
        return last
    mapped = translate(last, S.CONNECT)
    assert mapped is not None
    detail = "; ".join(f"{where}: {exception_text(exc)}" for where, exc in failures)
    return type(mapped)(S.CONNECT, detail=detail)
