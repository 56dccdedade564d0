"""The relay's listeners: STARTTLS on POSTWARDEN_SMTP_LISTEN (default 127.0.0.1:2525),
implicit TLS on POSTWARDEN_SMTPS_LISTEN when set, one event loop, one database thread.

:func:`config_from_settings` turns resolved settings into a :class:`RelayServerConfig` (and
makes the self-signed certificate when no files are configured); :class:`Relay` serves
it. ``postwarden relay`` (cli/relay.py) runs one until SIGTERM; tests run one in a thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from postwarden.core.config.model import Settings
from postwarden.relay import tls
from postwarden.relay.auth import FailureThrottle
from postwarden.relay.gateway import Gateway
from postwarden.relay.handler import RelayHandler
from postwarden.relay.protocol import LOOPBACK, PREAUTH_TIMEOUT, ClientSlots, IPNetwork, RelaySMTP, Rules

log = logging.getLogger("postwarden.relay")

#: connections served at once; more are told 421 and closed
MAX_CONNECTIONS = 512


@dataclass(frozen=True)
class RelayServerConfig:
    host: str = "127.0.0.1"
    port: int = 2525
    #: (host, port) of the implicit-TLS listener, or None
    smtps: tuple[str, int] | None = None
    tls_context: ssl.SSLContext | None = None
    trusted: tuple[IPNetwork, ...] = ()
    #: networks that may AUTH without TLS (tests set () to play a remote client)
    plain_auth: tuple[IPNetwork, ...] = LOOPBACK
    hostname: str = field(default_factory=socket.getfqdn)
    timeout: float = 300.0
    max_connections: int = MAX_CONNECTIONS
    #: connections one client address may hold (POSTWARDEN_RELAY_MAX_CONNECTIONS_PER_CLIENT)
    max_per_client: int = 50
    #: seconds a client that must AUTH has to (POSTWARDEN_RELAY_PREAUTH_TIMEOUT)
    preauth_timeout: float = PREAUTH_TIMEOUT
    #: failures of one password, and of one address (any passwords), within the window
    auth_failures: int = 5
    auth_address_failures: int = 20
    auth_window: float = 300.0


def config_from_settings(settings: Settings, **overrides: Any) -> RelayServerConfig:
    """The relay configuration of ``settings``. Raises :class:`tls.TlsConfigError`."""
    service, relay = settings.service, settings.relay
    if relay.cert_file and relay.key_file:
        cert, key = relay.cert_file, relay.key_file
    else:
        cert, key = tls.self_signed_pair(service.data_dir, tls.default_names(service.smtp_listen_host))
    values: dict[str, Any] = {
        "host": service.smtp_listen_host,
        "port": service.smtp_listen_port,
        "smtps": _host_port(relay.smtps_listen) if relay.smtps_listen else None,
        "tls_context": tls.server_context(cert, key),
        "trusted": tuple(ipaddress.ip_network(n, strict=False) for n in relay.trusted_networks),
        # POSTWARDEN_RELAY_AUTH_REQUIRE_TLS: loopback loses its exception
        "plain_auth": () if relay.auth_require_tls else LOOPBACK,
        "max_per_client": relay.max_connections_per_client,
        "preauth_timeout": float(relay.preauth_timeout),
    }
    values.update(overrides)
    return RelayServerConfig(**values)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class Relay:
    """Serves :class:`RelayServerConfig` with ``gateway`` (started and stopped with it)."""

    def __init__(self, config: RelayServerConfig, gateway: Gateway) -> None:
        self.config = config
        self.gateway = gateway
        self.handler = RelayHandler(
            gateway,
            FailureThrottle(
                limit=config.auth_failures,
                window=config.auth_window,
                address_limit=config.auth_address_failures,
            ),
        )
        self.connections = 0
        #: open sessions per client address (for max_per_client)
        self._per_client = ClientSlots(config.max_per_client)
        self._servers: list[asyncio.Server] = []
        self._sessions: set[RelaySMTP] = set()
        #: the bound (host, port) of each listener: main first, then implicit TLS
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> None:
        """Listen. Raises OSError when an address is taken."""
        loop = asyncio.get_running_loop()
        self.gateway.start(loop)
        main = await loop.create_server(
            lambda: self._session(implicit_tls=False), self.config.host, self.config.port
        )
        self._servers.append(main)
        if self.config.smtps is not None:
            host, port = self.config.smtps
            secure = await loop.create_server(
                lambda: self._session(implicit_tls=True), host, port, ssl=self._implicit_context()
            )
            self._servers.append(secure)
        self.addresses = [_bound(server) for server in self._servers]
        log.info("relay listening", extra={"listeners": [f"{h}:{p}" for h, p in self.addresses]})

    async def stop(self, grace: float = 10.0) -> None:
        """Stop listening, give sessions ``grace`` seconds to finish, then close them and
        the database thread (which first writes what is queued)."""
        for server in self._servers:
            server.close()
        deadline = asyncio.get_running_loop().time() + grace
        while self._sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await asyncio.to_thread(self.gateway.stop)

    def _implicit_context(self) -> ssl.SSLContext:
        if self.config.tls_context is None:
            raise tls.TlsConfigError("POSTWARDEN_SMTPS_LISTEN needs a certificate")
        return self.config.tls_context

    def _session(self, *, implicit_tls: bool) -> RelaySMTP:
        config = self.config
        busy = len(self._sessions) >= config.max_connections
        rules = Rules(trusted=config.trusted, plain_auth=config.plain_auth, implicit_tls=implicit_tls)
        session: RelaySMTP
        admit, release = self._per_client.session()

        def closed() -> None:
            self._sessions.discard(session)
            release()

        session = RelaySMTP(
            self.handler,
            rules=rules,
            size_limit=self.gateway.settings.delivery.max_message_bytes,
            busy=busy,
            on_close=closed,
            activity=self.gateway.activity,
            admit=admit,
            preauth_timeout=config.preauth_timeout,
            hostname=config.hostname,
            tls_context=None if implicit_tls else config.tls_context,
            timeout=config.timeout,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        self.connections += 1
        return session


def _bound(server: asyncio.Server) -> tuple[str, int]:
    name = server.sockets[0].getsockname()
    return str(name[0]), int(name[1])
