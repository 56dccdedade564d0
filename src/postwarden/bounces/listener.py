"""The bounce listener (POSTWARDEN_BOUNCE_LISTEN): the MX of BOUNCE_DOMAIN.

It is the relay's SMTP session (:class:`postwarden.relay.protocol.RelaySMTP`: strict
framing, PIPELINING, STARTTLS, the size limit with 552, timeouts) with other rules:

- no AUTH at all (nobody signs in to send bounces) and no client needs it;
- RCPT is accepted only for a return path of BOUNCE_DOMAIN whose token verifies; anything
  else is refused there (``550 5.7.1`` not ours: it is no open relay; ``550 5.1.1`` a
  token that does not verify, counted as forged);
- at the end of DATA the mail goes to the one intake (:mod:`postwarden.bounces.intake`) on
  a database thread. When the intake cannot take it (the database is down, more mail waits
  than :data:`MAX_WAITING`: a storm, or the worker has not yet recorded the message it is
  about) the answer is ``451``: the remote MTA keeps the bounce and tries again, so nothing
  is lost.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from django.db import close_old_connections

from postwarden.bounces import intake
from postwarden.core.config.model import Settings
from postwarden.core.verp import BadToken, Verp
from postwarden.relay import tls
from postwarden.relay.handler import SessionHandler
from postwarden.relay.protocol import LOCAL_ERROR, ClientSlots, RelaySMTP, Rules

log = logging.getLogger("postwarden.bounces")

#: every client may send without AUTH: a bounce comes from any MTA on the internet
EVERYONE: Final = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
#: sessions served at once, and per client address; more are told 421
MAX_CONNECTIONS: Final = 256
MAX_PER_CLIENT: Final = 20
#: mails read but not yet through the intake; more are told 451 (a bounce storm)
MAX_WAITING: Final = 64
#: a bounce carries the returned mail: the largest message Postwarden sends, plus the report
REPORT_ROOM: Final = 1024 * 1024

NOT_OURS: Final = "550 5.7.1 Error: this server takes mail only for bounce addresses (relay access denied)"
FORGED: Final = "550 5.1.1 Error: no such bounce address"
BUSY: Final = "451 4.3.2 Error: too many bounces waiting; try again later"
NOT_YET: Final = "451 4.3.0 Error: that message is still being sent; try again later"
ACCEPTED: Final = "250 2.0.0 Ok: bounce received"


class BounceSMTP(RelaySMTP):
    """A relay session that never offers or takes AUTH."""

    async def smtp_AUTH(self, arg: str | None) -> None:
        await self.push("502 5.5.1 Error: AUTH is not offered here")


@dataclass
class BounceHandler(SessionHandler):
    session_log = log
    session_failed = "bounce session failed"

    verp: Verp
    #: the intake's single database thread (SQLite has one writer; the order is kept)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "bounce-intake"))
    waiting: int = 0
    received: int = 0

    async def check_recipient(self, session: Any, address: str) -> str | None:
        if not self.verp.is_ours(address):
            return NOT_OURS
        try:
            self.verp.check(address)
        except BadToken as exc:
            peer = getattr(session, "peer", None)
            origin = str(peer[0]) if isinstance(peer, tuple) and peer else ""
            await self._db(intake.forged, address, str(exc), source="smtp", origin=origin)
            return FORGED
        return None

    async def deliver(self, smtp: RelaySMTP, session: Any, envelope: Any) -> str:
        if self.waiting >= MAX_WAITING:
            await self._db(intake.count, "busy")
            return BUSY
        arrival = intake.Arrival(
            raw=bytes(envelope.content),
            source="smtp",
            return_paths=tuple(envelope.rcpt_tos),
            mail_from=envelope.mail_from or "",
            origin=smtp.client_ip,
        )
        self.waiting += 1
        try:
            await self._db(intake.take, arrival, self.verp)
        except intake.NotYet as exc:
            log.info("bounce deferred: its message is still being sent", extra={"why": str(exc)})
            return NOT_YET
        except Exception as exc:
            log.error("bounce intake failed; the sender will retry", exc_info=exc)
            return LOCAL_ERROR
        finally:
            self.waiting -= 1
        self.received += 1
        return ACCEPTED

    async def _db(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def call() -> Any:
            close_old_connections()
            return fn(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)


@dataclass(frozen=True)
class ListenerConfig:
    host: str
    port: int
    tls_context: ssl.SSLContext | None
    size_limit: int
    hostname: str = field(default_factory=socket.getfqdn)
    timeout: float = 300.0


def config_from_settings(settings: Settings, **overrides: Any) -> ListenerConfig:
    """The listener of ``settings`` (POSTWARDEN_BOUNCE_LISTEN; the relay's certificate
    for STARTTLS). Raises ValueError when no listener is configured, and
    :class:`~postwarden.relay.tls.TlsConfigError`."""
    listen = settings.bounces.listen
    if listen is None and "port" not in overrides:
        raise ValueError("POSTWARDEN_BOUNCE_LISTEN is not set")
    host, port = listen or ("127.0.0.1", 0)
    relay, service = settings.relay, settings.service
    if relay.cert_file and relay.key_file:
        cert, key = relay.cert_file, relay.key_file
    else:
        cert, key = tls.self_signed_pair(service.data_dir, tls.default_names(host))
    values: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls_context": tls.server_context(cert, key),
        "size_limit": settings.delivery.max_message_bytes + REPORT_ROOM,
    }
    values.update(overrides)
    return ListenerConfig(**values)


class BounceListener:
    """Serves :class:`ListenerConfig`; returns paths are checked with ``verp``."""

    def __init__(self, config: ListenerConfig, verp: Verp) -> None:
        self.config = config
        self.handler = BounceHandler(verp)
        self._server: asyncio.Server | None = None
        self._sessions: set[BounceSMTP] = set()
        self._per_client = ClientSlots(MAX_PER_CLIENT)
        self.address: tuple[str, int] = (config.host, config.port)

    async def start(self) -> None:
        """Listen. Raises OSError when the address is taken (or port 25 needs privileges)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, self.config.host, self.config.port)
        name = self._server.sockets[0].getsockname()
        self.address = (str(name[0]), int(name[1]))
        log.info("bounce listener listening", extra={"listen": f"{self.address[0]}:{self.address[1]}"})

    async def stop(self, grace: float = 10.0) -> None:
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._sessions and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self.handler.executor.shutdown(wait=True)

    def _session(self) -> BounceSMTP:
        admit, release = self._per_client.session()

        def closed() -> None:
            self._sessions.discard(session)
            release()

        session = BounceSMTP(
            self.handler,
            rules=Rules(trusted=EVERYONE, plain_auth=()),
            size_limit=self.config.size_limit,
            busy=len(self._sessions) >= MAX_CONNECTIONS,
            on_close=closed,
            admit=admit,
            hostname=self.config.hostname,
            tls_context=self.config.tls_context,
            timeout=self.config.timeout,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session
