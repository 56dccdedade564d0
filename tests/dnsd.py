"""A real DNS server on loopback for tests: dnslib answering from test zones.

Use the ``dns_server`` fixture (or :func:`running_dns_server`) and give it zone text::

    def test_it_finds_spf(dns_server):
        dns_server.load('''
            example.test.  300 IN TXT "v=spf1 ip4:127.0.0.1 -all"
            mail.example.test. 300 IN A 127.0.0.1
        ''')
        ... POSTWARDEN_DNS_SERVER=dns_server.address ...

It listens on one free port for both UDP and TCP (dnspython falls back to TCP for
truncated answers), answers NOERROR with no records for a name that exists without the
asked type and NXDOMAIN for a name that does not exist (RFC 2308; dnslib's own
ZoneResolver answers NXDOMAIN for both, which would hide "no record" vs "no domain"
bugs), follows CNAMEs inside the zone, and records every question it was asked, so a
test can prove that a lookup went to this server and not to the system resolver.
Faults per name: ``servfail`` and ``drop`` (never answer, the client times out).
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, RR, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

#: how many times to look for a port that is free for both UDP and TCP
_PORT_ATTEMPTS = 50


@dataclass
class _Zone:
    records: list[RR] = field(default_factory=list)
    servfail: set[str] = field(default_factory=set)
    drop: set[str] = field(default_factory=set)


def _key(name: str | DNSLabel) -> str:
    return str(name).rstrip(".").lower()


class _Dropped(Exception):
    """Raised inside the handler to send no answer at all."""


class _TestResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.zone = _Zone()
        self.lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        qname, qtype = _key(request.q.qname), QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
            zone = self.zone
        if qname in zone.drop:
            raise _Dropped(qname)
        reply = request.reply()
        if qname in zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        self._answer(reply, zone, qname, qtype)
        return reply

    def _answer(self, reply: DNSRecord, zone: _Zone, qname: str, qtype: str) -> None:
        known = False
        for _hop in range(8):  # a CNAME chain inside the zone, bounded against loops
            known_here = [rr for rr in zone.records if _key(rr.rname) == qname]
            known = known or bool(known_here)
            matches = [rr for rr in known_here if QTYPE[rr.rtype] == qtype or qtype == "ANY"]
            cname = [rr for rr in known_here if QTYPE[rr.rtype] == "CNAME"]
            for rr in matches:
                reply.add_answer(rr)
            if matches or not cname or qtype == "CNAME":
                break
            reply.add_answer(cname[0])
            qname = _key(cname[0].rdata.label)
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN


class _Handler(DNSHandler):  # type: ignore[misc]
    def handle(self) -> None:
        with contextlib.suppress(_Dropped):
            super().handle()


class DnsTestServer:
    """Both a UDP and a TCP dnslib server on ``127.0.0.1:port`` sharing one zone."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.resolver = _TestResolver()
        self._servers: list[DNSServer] = []
        self.port = 0

    @property
    def address(self) -> str:
        """``host:port``, the form of ``--dns-server`` and ``POSTWARDEN_DNS_SERVER``."""
        return f"{self.host}:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        """Every (name, type) asked so far, names lower-case without the final dot."""
        with self.resolver.lock:
            return list(self.resolver.queries)

    def asked(self, name: str, qtype: str | None = None) -> bool:
        return any(n == _key(name) and (qtype is None or t == qtype) for n, t in self.queries)

    def load(self, zone_text: str, *, servfail: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> None:
        """Replace the zone. ``zone_text`` is master-file text (``$TTL``/``$ORIGIN`` allowed)."""
        lines = "\n".join(line.strip() for line in zone_text.strip().splitlines())
        records = list(RR.fromZone(lines)) if lines else []
        zone = _Zone(records, {_key(n) for n in servfail}, {_key(n) for n in drop})
        with self.resolver.lock:
            self.resolver.zone = zone

    def add(self, zone_text: str) -> None:
        """Add records to the zone."""
        lines = "\n".join(line.strip() for line in zone_text.strip().splitlines())
        with self.resolver.lock:
            self.resolver.zone.records.extend(RR.fromZone(lines))

    def start(self) -> None:
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        for _ in range(_PORT_ATTEMPTS):
            udp = DNSServer(self.resolver, address=self.host, port=0, logger=quiet, handler=_Handler)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(
                    self.resolver, address=self.host, port=port, tcp=True, logger=quiet, handler=_Handler
                )
            except OSError as exc:
                udp.server.server_close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self.port = port
            self._servers = [udp, tcp]
            for server in self._servers:
                # a short poll keeps teardown fast (socketserver's default waits 0.5 s)
                thread = threading.Thread(
                    target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
                )
                thread.start()
            return
        raise RuntimeError("no loopback port was free for both UDP and TCP")

    def stop(self) -> None:
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()
        self._servers = []


@contextlib.contextmanager
def running_dns_server(zone_text: str = "", host: str = "127.0.0.1") -> Iterator[DnsTestServer]:
    server = DnsTestServer(host)
    server.load(zone_text)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dns_server() -> Iterator[DnsTestServer]:
    """An empty test zone on a free loopback port; ``.load(zone_text)`` fills it."""
    with running_dns_server() as server:
        yield server


def unused_udp_port() -> int:
    """A loopback UDP port where nothing answers (a resolver that times out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
