"""The relay for tests: a real :class:`~postwarden.relay.server.Relay` on free loopback
ports in a background event loop (its database thread writes to the test database), a
raw socket client that shows exactly what the relay answers, and a real worker that
delivers what the relay stored."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from postwarden.core.config.model import (
    DeliverySettings,
    RelaySettings,
    ServiceSettings,
    Settings,
)
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from postwarden.relay.gateway import Gateway
from postwarden.relay.server import Relay, RelayServerConfig
from tests.factories import make_settings

T = TypeVar("T")
LOOPBACK_V4 = (ipaddress.ip_network("127.0.0.0/8"),)
#: seconds any wait in these helpers may take
TIMEOUT = 10.0
_FINAL_LINE = re.compile(rb"^\d{3} ", re.MULTILINE)


def relay_settings(
    data_dir: Path,
    *,
    smtp_port: int | None = None,
    trusted: tuple[str, ...] = (),
    max_message_bytes: int = 10 * 1024 * 1024,
    **sending: Any,
) -> Settings:
    """Settings as the relay and the worker see them (tests/factories.make_settings), with
    the relay listening on a free port and trusting ``trusted``."""
    base = make_settings(
        smtp_port=smtp_port,
        delivery=DeliverySettings(max_message_bytes=max_message_bytes),
        service=ServiceSettings(data_dir=data_dir, smtp_listen_port=0),
        **sending,
    )
    return replace(base, relay=RelaySettings(trusted_networks=trusted))


class RelayThread:
    """A started relay; :meth:`stop` ends it (the fixture does, whatever the test did)."""

    def __init__(self, config: RelayServerConfig, settings: Settings) -> None:
        self.settings = settings
        self.gateway = Gateway(settings, lambda: self.settings)
        self.relay = Relay(config, self.gateway)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="relay-loop", daemon=True)

    def start(self) -> RelayThread:
        self._thread.start()
        self.call(self.relay.start())
        return self

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    @property
    def port(self) -> int:
        return self.relay.addresses[0][1]

    @property
    def smtps_port(self) -> int:
        return self.relay.addresses[1][1]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.relay.stop(grace=0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Wire:
    """A raw client: bytes out exactly as given, replies in as the relay sent them."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    #: the client's own address (another loopback address plays another host)
    source: str | None = None
    sock: socket.socket = field(init=False)
    _buffer: bytes = b""

    def __post_init__(self) -> None:
        bind = (self.source, 0) if self.source else None
        raw = socket.create_connection((self.host, self.port), timeout=TIMEOUT, source_address=bind)
        self.sock = self.tls.wrap_socket(raw, server_hostname="localhost") if self.tls else raw
        self.greeting = self.reply()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        """The next complete reply (all its lines), without the final CRLF."""
        while True:
            end = self._complete()
            if end is not None:
                text, self._buffer = self._buffer[:end], self._buffer[end:]
                return text.decode("utf-8", "replace").rstrip("\r\n")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the relay; unanswered bytes: {self._buffer!r}")
            self._buffer += chunk

    def _complete(self) -> int | None:
        for found in _FINAL_LINE.finditer(self._buffer):
            end = self._buffer.find(b"\r\n", found.start())
            if end != -1:
                return end + 2
        return None

    def command(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        """True once the relay closed the connection, with no reply left unread."""
        try:
            rest = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return not self._buffer
        if rest:
            self._buffer += rest
            return False
        return not self._buffer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def deliver(settings: Settings, rounds: int = 2) -> Worker:
    """Run a real worker over the outbox: claim, send, record, ``rounds`` times."""

    async def steps() -> Worker:
        worker = Worker(
            WorkerOptions(worker_id="relay-test", retry_base=0.01), settings_source=lambda: settings
        )
        for _ in range(rounds):
            await worker.claim_step()
            while not worker.jobs.empty():
                job = worker.jobs.get_nowait()
                assert job is not None
                await worker.send_job(job)
            await worker.flush_step()
        await worker.close()
        return worker

    return asyncio.run(steps())


def message(public_id_reply: str) -> str:
    """The public id in ``250 2.0.0 Ok: queued as m_…``."""
    found = re.search(r"queued as (m_[0-9a-f]+)", public_id_reply)
    assert found, public_id_reply
    return found.group(1)


def simple_mail(
    subject: str = "Hello", *, sender: str = "app@example.com", to: str = "alice@example.net"
) -> bytes:
    return (
        f"From: App <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@app.example.com>\r\n\r\nHello there.\r\n"
    ).encode()
