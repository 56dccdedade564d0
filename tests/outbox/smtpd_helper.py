"""A recording aiosmtpd server on a loopback port with scripted replies, for the
pipeline's tests (the worker, the SMTP transport, send-test).

Replies are scripted per stage: ``rcpt["x@example.com"] = ["550 5.1.1 …"]`` refuses that
recipient once (then accepts), ``data = ["451 4.7.1 …", "451 …"]`` refuses the next two
messages at end of data. Every accepted message is recorded with its Message-ID.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.ports import free_port

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: str
    #: time.time() when the end of data was answered
    at: float = 0.0

    @property
    def message_id(self) -> str:
        found = _MESSAGE_ID.search(self.data.split(b"\r\n\r\n", 1)[0])
        return found.group(1).decode() if found else ""


@dataclass
class Handler:
    """aiosmtpd handler: records accepted messages, answers from the scripts first."""

    pipelining: bool = True
    mail: list[str] = field(default_factory=list)
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    #: seconds to wait before answering the end of data (messages in flight)
    data_delay: float = 0.0
    #: messages whose content arrived (answered or not)
    data_started: int = 0
    #: close the connection just after answering this many messages (a server's idle
    #: timeout, as the client sees it on its next write)
    hang_up_after: int | None = None
    #: set once the server has closed the connection for ``hang_up_after``
    hung_up: threading.Event = field(default_factory=threading.Event)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if self.mail:
                return self.mail.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            script = self.rcpt.get(address)
            if script:
                return script.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.data_started += 1
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            if self.data:
                return self.data.pop(0)
            self.received.append(
                Received(
                    envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.content),
                    str(session.peer[0]),
                    time.time(),
                )
            )
            if self.hang_up_after is not None and len(self.received) == self.hang_up_after:
                asyncio.get_running_loop().call_later(0.05, self._hang_up, server)
            return f"250 2.0.0 Ok: queued as Q{len(self.received):05d}"

    def _hang_up(self, server: Any) -> None:
        server.transport.close()
        self.hung_up.set()

    def message_ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]


@dataclass
class Server:
    port: int
    handler: Handler
    controller: Controller


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """A plain (no TLS, no AUTH) recording server on 127.0.0.1; stopped at teardown."""
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test")
    controller.start()
    try:
        yield Server(port, handler, controller)
    finally:
        controller.stop()
