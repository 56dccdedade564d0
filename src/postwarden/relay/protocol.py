"""The relay's SMTP session: aiosmtpd's SMTP with a strict command loop and a lean
MAIL / RCPT / DATA path.

Kept from aiosmtpd: EHLO/HELO, STARTTLS (and its buffer flush, RFC 3207 6), AUTH and
its challenges, NOOP, RSET, VRFY, HELP, QUIT, timeouts. Replaced:

* the command loop (:meth:`RelaySMTP.serve`), for strict framing
  (:mod:`postwarden.relay.commands`), RFC 2920 synchronization (a client that sends
  more after EHLO, DATA, STARTTLS or a challenging AUTH before the reply is refused
  and disconnected, as Postfix's ``smtpd_forbid_unauth_pipelining`` does) and no
  per-line logging (aiosmtpd logs every command at INFO, recipients included);
* MAIL, RCPT and DATA, for enhanced status codes (RFC 3463), the null sender,
  recipient policy at RCPT, the size limit with 552 5.3.4, and a DATA reader that
  refuses smuggling (:mod:`postwarden.relay.data`).

What it takes from aiosmtpd's private side is in :mod:`postwarden.relay.aiosmtpd_private`,
with why, and pinned to the aiosmtpd version it was read in.

Which rules apply depends on the client's address (:class:`Rules`): trusted networks
need no AUTH; everyone else must AUTH, within a few seconds of connecting (NOOP, RSET
and EHLO do not buy more time), and AUTH needs TLS except on the implicit-TLS listener
and, unless POSTWARDEN_RELAY_AUTH_REQUIRE_TLS is set, on loopback. One client address
holds at most a bounded share of the connections.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from aiosmtpd.smtp import Envelope, TLSSetupException

from postwarden.core.addresses import InvalidAddress, parse_address
from postwarden.outbox.groupcommit import Activity
from postwarden.relay import commands, data
from postwarden.relay.aiosmtpd_private import SessionHooks
from postwarden.relay.commands import Framing, SmtpCommand

log = logging.getLogger("postwarden.relay")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: Final[tuple[IPNetwork, ...]] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
#: unknown commands a client may send before it is disconnected (as aiosmtpd counts)
BOGUS_LIMIT: Final = 5
#: RFC 5321 4.5.3.1.8 asks for at least 100; more is a mailing list, not a notification
MAX_RECIPIENTS: Final = 1000
#: RFC 5321 4.5.3.2.7: the server waits at least five minutes for the next command
IDLE_TIMEOUT: Final = 300.0

BUSY: Final = "421 4.7.0 Error: too many connections; try again later"
BUSY_CLIENT: Final = "421 4.7.0 Error: too many connections from your address; try again later"
#: RFC 5321 4.2.3 (421: closing); 4.4.2 is "bad connection" in RFC 3463
AUTH_TIMEOUT: Final = "421 4.4.2 Error: timeout waiting for authentication; closing"
#: seconds from connecting within which a client that must AUTH has to (the setting's default)
PREAUTH_TIMEOUT: Final = 30.0
LOCAL_ERROR: Final = "451 4.3.0 Error: local problem; try again later"


@dataclass(frozen=True, slots=True)
class Rules:
    """What a listener asks of its clients."""

    #: networks that may send without AUTH (POSTWARDEN_RELAY_TRUSTED_NETWORKS)
    trusted: tuple[IPNetwork, ...] = ()
    #: networks that may AUTH without TLS
    plain_auth: tuple[IPNetwork, ...] = LOOPBACK
    #: the listener speaks TLS from the first byte (POSTWARDEN_SMTPS_LISTEN)
    implicit_tls: bool = False


class Handler(Protocol):
    """What a session asks of the relay (see :class:`postwarden.relay.handler.RelayHandler`)."""

    async def check_recipient(self, session: Any, address: str) -> str | None: ...

    async def deliver(self, smtp: RelaySMTP, session: Any, envelope: Any) -> str: ...


def peer_address(peer: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's IP from ``peername`` (IPv4-mapped IPv6 read as IPv4); None if unknown."""
    try:
        address = ipaddress.ip_address(str(peer[0]).partition("%")[0])
    except (TypeError, ValueError, IndexError):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class RelaySMTP(SessionHooks):
    """One client connection. ``on_close`` is called once when it ends."""

    #: the stream reader's limit: DATA is read in pieces of this size; command lines
    #: have their own limits (commands.LIMITS)
    line_length_limit = 64 * 1024

    def __init__(
        self,
        handler: Handler,
        *,
        rules: Rules,
        size_limit: int,
        busy: bool = False,
        on_close: Callable[[], None] | None = None,
        activity: Activity | None = None,
        admit: Callable[[str], bool] | None = None,
        preauth_timeout: float = PREAUTH_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        self._activity = activity or Activity()
        self._size_limit = size_limit
        self._in_transaction = False
        self.rules = rules
        super().__init__(
            handler,
            data_size_limit=size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            auth_required=True,
            auth_require_tls=True,
            timeout=kwargs.pop("timeout", IDLE_TIMEOUT),
            **kwargs,
        )
        self.relay_handler = handler
        self.client_ip = ""
        self._busy = busy
        self._on_close = on_close
        #: set when the session is being closed: nothing more that was buffered may be
        #: read as a command (the point of refusing a smuggled line)
        self._closing = False
        #: asked once the client's address is known: may it open one more session?
        self._admit = admit
        self._busy_reply = BUSY
        self._preauth_timeout = preauth_timeout
        self._preauth_handle: asyncio.TimerHandle | None = None

    # --------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None and self._original_transport is None
        super().connection_made(transport)
        if first:
            self._apply_rules(transport.get_extra_info("peername"))
            if not self._busy and self._admit is not None and not self._admit(self.client_ip):
                self._busy, self._busy_reply = True, BUSY_CLIENT
            if self._auth_required and not self._busy:
                # an absolute deadline: nothing but a successful AUTH lifts it, so a
                # client cannot hold a slot by sending NOOP, RSET or EHLO
                self._preauth_handle = self.loop.call_later(self._preauth_timeout, self._preauth_expired)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._cancel_preauth()
        self._leave_transaction()
        if self._on_close is not None:
            callback, self._on_close = self._on_close, None
            callback()

    def _apply_rules(self, peer: Any) -> None:
        address = peer_address(peer)
        self.client_ip = str(address) if address is not None else ""
        trusted = address is not None and any(address in net for net in self.rules.trusted)
        local = address is not None and any(address in net for net in self.rules.plain_auth)
        self._auth_required = not trusted
        self._auth_require_tls = not (local or self.rules.implicit_tls)

    def _preauth_expired(self) -> None:
        self._preauth_handle = None
        if self.session is not None and self.session.authenticated:
            return
        log.info("relay session closed: no AUTH in time", extra={"client": self.client_ip})
        writer = getattr(self, "_writer", None)
        if writer is not None and not self._closing:
            writer.write(AUTH_TIMEOUT.encode("ascii") + b"\r\n")
        self.hang_up()

    def _cancel_preauth(self) -> None:
        if self._preauth_handle is not None:
            self._preauth_handle.cancel()
            self._preauth_handle = None

    def transaction_ended(self) -> None:
        self._leave_transaction()

    def _leave_transaction(self) -> None:
        if self._in_transaction:
            self._in_transaction = False
            self._activity.end()

    def mail(self) -> Envelope:
        """The current transaction (aiosmtpd keeps one from connection_made on). A method,
        not a property: aiosmtpd's __init__ reads every attribute (inspect.getmembers)."""
        assert self.envelope is not None
        return self.envelope

    @property
    def tls(self) -> bool:
        """Whether this session is encrypted (STARTTLS done or implicit TLS)."""
        return self.rules.implicit_tls or self._tls_protocol is not None

    # ------------------------------------------------------------- command loop

    async def serve(self) -> None:
        if self._busy:
            await self.push(self._busy_reply)
            self.hang_up()
            return
        await self.push(f"220 {self.hostname} ESMTP Postwarden")
        bogus = BOGUS_LIMIT
        while self.transport is not None and not self._closing:
            try:
                command = await self._next_command()
                if command is None:
                    continue
                method = self._smtp_methods.get(command.verb)
                if method is None:
                    bogus -= 1
                    await self._unknown(command.verb, bogus)
                    continue
                if commands.must_wait(command) and data.buffered(self._reader):
                    await self.push(commands.OUT_OF_STEP.format(verb=command.verb))
                    self.hang_up()
                    continue
                self._reset_timeout()
                await method(command.arg)
            except (asyncio.CancelledError, ConnectionResetError):
                self._writer.close()
                raise
            except asyncio.IncompleteReadError:
                self.hang_up()
            except Exception as error:
                await self._failed(error)

    async def _next_command(self) -> SmtpCommand | None:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as overrun:
            await self._skip_line(overrun.consumed)
            await self.push(commands.TOO_LONG)
            return None
        parsed = commands.parse_line(line)
        if isinstance(parsed, Framing):
            await self.push(parsed.reply)
            if parsed.close:
                self.hang_up()
            return None
        if not self._tls_handshake_okay and parsed.verb != "QUIT":
            await self.push("554 5.7.0 Error: command refused due to lack of security")
            return None
        return parsed

    async def _skip_line(self, consumed: int) -> None:
        """Throw away a line longer than the reader's limit, up to its LF."""
        await self._reader.read(consumed)
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as overrun:
                await self._reader.read(overrun.consumed)

    async def _unknown(self, verb: str, budget: int) -> None:
        if budget < 1:
            await self.push("502 5.5.1 Error: too many unrecognized commands; goodbye")
            self.hang_up()
        else:
            await self.push(f'500 5.5.1 Error: command "{commands.printable(verb, 20)}" not recognized')

    async def _failed(self, error: Exception) -> None:
        if isinstance(error, TLSSetupException):
            # a client that cannot finish the handshake (old TLS, a port scanner) is
            # common and not our failure: no traceback, just the connection closed
            log.info("relay TLS handshake failed", extra={"client": self.client_ip})
            self.hang_up()
            return
        await self.push(await self.handle_exception(error))

    def hang_up(self) -> None:
        """Close the connection; nothing already received is read as a command."""
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ MAIL/RCPT

    async def smtp_MAIL(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("MAIL"):
            return
        if self.mail().mail_from is not None:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        parsed = self._path("FROM:", arg)
        if parsed is None:
            await self.push("501 5.5.4 Syntax: MAIL FROM:<address> [parameters]")
            return
        address, params = parsed
        if params and not (self.session is not None and self.session.extended_smtp):
            await self.push("501 5.5.4 Error: parameters need EHLO, not HELO")
            return
        problem = self._mail_params(params)
        if problem is not None:
            await self.push(problem)
            return
        try:
            sender = parse_address(address, allow_display_name=False).addr_spec if address else ""
        except InvalidAddress:
            await self.push("553 5.1.7 Error: bad sender address syntax")
            return
        self.mail().mail_from = sender
        self.mail().mail_options = params.split()
        self._in_transaction = True
        self._activity.begin()
        await self.push("250 2.1.0 Ok")

    def _mail_params(self, text: str) -> str | None:
        params = commands.parse_params(text)
        if params is None:
            return "501 5.5.4 Error: malformed MAIL parameters"
        body = params.pop("BODY", "7BIT")
        if not isinstance(body, str) or body.upper() not in ("7BIT", "8BITMIME"):
            return "501 5.5.4 Error: BODY is 7BIT or 8BITMIME"
        smtputf8 = params.pop("SMTPUTF8", False)
        if smtputf8 is not False and smtputf8 is not True:
            return "501 5.5.4 Error: SMTPUTF8 takes no value"
        self.mail().smtp_utf8 = smtputf8
        size = params.pop("SIZE", None)
        if size is not None and (not isinstance(size, str) or not size.isdigit()):
            return "501 5.5.4 Error: SIZE takes a number"
        if size is not None and int(size) > self._size_limit:
            return data.TOO_BIG
        params.pop("AUTH", None)  # RFC 4954 5: may be ignored by a submission server
        if params:
            return "555 5.5.4 Error: MAIL parameter not recognized: " + ", ".join(sorted(params))[:60]
        return None

    async def smtp_RCPT(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("RCPT"):
            return
        if self.mail().mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        if len(self.mail().rcpt_tos) >= MAX_RECIPIENTS:
            await self.push(f"452 4.5.3 Error: too many recipients (at most {MAX_RECIPIENTS} per message)")
            return
        parsed = self._path("TO:", arg)
        if parsed is None or not parsed[0]:
            await self.push("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        address, params = parsed
        if params:
            await self.push("555 5.5.4 Error: RCPT parameters are not supported")
            return
        try:
            recipient = parse_address(address, allow_display_name=False).addr_spec
        except InvalidAddress:
            await self.push("553 5.1.3 Error: bad recipient address syntax")
            return
        refusal = await self.relay_handler.check_recipient(self.session, recipient)
        if refusal is not None:
            await self.push(refusal)
            return
        self.mail().rcpt_tos.append(recipient)
        await self.push("250 2.1.5 Ok")

    def _path(self, keyword: str, arg: str | None) -> tuple[str, str] | None:
        rest = self._strip_command_keyword(keyword, arg) if arg else None
        if rest is None:
            return None
        found = commands.split_path(rest)
        if found is not None:
            return found
        address, params = self._getaddr(rest)
        return None if address is None else (address, (params or "").strip())

    # ----------------------------------------------------------------------- DATA

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.mail().rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = await data.read_data(self._reader, self._size_limit, self._reset_timeout)
        if received.content is None:
            self._set_post_data_state()
            await self.push(received.refusal or LOCAL_ERROR)
            return
        self.mail().content = self.mail().original_content = received.content
        try:
            status = await self.relay_handler.deliver(self, self.session, self.envelope)
        finally:
            self._set_post_data_state()
        await self.push(status)

    # ----------------------------------------------------------------------- AUTH

    async def smtp_AUTH(self, arg: str | None) -> None:
        if self.mail().mail_from is not None:
            # RFC 4954 4: not during a mail transaction
            await self.push("503 5.5.1 Error: AUTH is not allowed during a mail transaction")
            return
        await super().smtp_AUTH(arg)
        if self.session is not None and self.session.authenticated:
            self._cancel_preauth()


class ClientSlots:
    """Open sessions per client address, at most ``limit`` each: one count for the relay and
    the bounce listener. :meth:`session` gives a new session its ``admit`` (the protocol
    calls it with the client's address once it is known) and the ``release`` its close
    runs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def session(self) -> tuple[Callable[[str], bool], Callable[[], None]]:
        admitted: list[str] = []

        def admit(client: str) -> bool:
            if self._open.get(client, 0) >= self.limit:
                return False
            self._open[client] = self._open.get(client, 0) + 1
            admitted.append(client)
            return True

        def release() -> None:
            for client in admitted:
                left = self._open.get(client, 1) - 1
                if left > 0:
                    self._open[client] = left
                else:
                    self._open.pop(client, None)
            admitted.clear()

        return admit, release
