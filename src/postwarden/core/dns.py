"""DNS questions for the doctor, all sent to ONE resolver.

``postwarden doctor --dns-server HOST[:PORT]`` (or ``POSTWARDEN_DNS_SERVER``) must get
every answer from that resolver, the SMTP host's own address included (docs/spec/doctor.md):
an operator checking a zone before it is public, or a test serving a zone on loopback,
needs answers that the system resolver would not give. So every lookup in the doctor goes
through one :class:`DnsClient`; nothing else calls ``socket.getaddrinfo`` or a library
with its own resolver. (checkdmarc, for one, keeps a process-wide 30-minute answer cache
keyed by name only, whichever server answered: the doctor does its own lookups.)

Without a server the client asks the system resolver, and host addresses come from the
operating system (``getaddrinfo``, which honours ``/etc/hosts`` as the worker's connect
does). Answers are memoised per client only: a client lives for one doctor run, so a
fixed record shows up on the next run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final

import dns._features

# The doctor asks plain DNS (port 53) only. dnspython imports an HTTP client at start-up
# when one is installed, for DNS over HTTPS; that costs ~0.2 s of the doctor's second.
# dnspython provides force() for switching a feature off (see dns/_features.py).
dns._features.force("doh", False)

import dns.asyncresolver  # noqa: E402 - after the feature switch above
import dns.exception  # noqa: E402
import dns.rcode  # noqa: E402
import dns.resolver  # noqa: E402

from postwarden.core.i18n import Number, Text, join  # noqa: E402

#: per-datagram wait; dnspython retries within the lifetime, so one lost UDP packet
#: costs a second, not the whole budget (the reason dig's +tries=3 exists)
_UDP_TRY: Final = 1.0


class DnsError(Exception):
    """A lookup that got no usable answer: timeout, SERVFAIL, refused, no resolver.
    ``str()`` is the evidence: the name, the type and what went wrong."""

    def __init__(self, name: str, qtype: str, reason: str) -> None:
        self.name, self.qtype, self.reason = name, qtype, reason
        super().__init__(f"{qtype} {name}: {reason}")

    def said(self) -> Text:
        """``str(self)`` that a reader gets in their language (the name and type as they are)."""
        return join(": ", [f"{self.qtype} {self.name}", self.reason])


@dataclass(frozen=True, slots=True)
class Answer:
    """The records of one name and type. ``exists`` is False for NXDOMAIN (the name
    itself is absent) and True for "the name exists but has no such record" (NODATA)."""

    name: str
    qtype: str
    records: tuple[str, ...] = ()
    exists: bool = True

    @property
    def evidence(self) -> str:
        """What the resolver answered, as the doctor quotes it."""
        if self.records:
            return "; ".join(self.records)
        return Text("no record") if self.exists else Text("no record ({name} does not exist)", name=self.name)


def parse_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"[::1]:53"``, ``"::1"``, ``"ns.example"`` -> (host, port).
    Raises ValueError with the reason."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), text)
    elif text.count(":") == 1:
        host, raw = text.split(":")
        port = _port(raw, text)
    if not host:
        raise ValueError(Text("{text} names no resolver host", text=repr(text)))
    return host, port


def _port(raw: str, text: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(Text("{text} has no valid port (1-65535)", text=repr(text)))
    return int(raw)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


class DnsClient:
    """Asks ``server`` (``host[:port]``) or, when None, the system resolver.

    All methods are coroutines and bounded by ``timeout`` seconds each. ``queries``
    counts the questions actually sent (the memo answers repeats)."""

    def __init__(self, server: str | None = None, *, timeout: float = 5.0) -> None:
        self.server = server
        self.timeout = timeout
        self.queries = 0
        self._memo: dict[tuple[str, str], asyncio.Task[Answer]] = {}
        self._resolver: dns.asyncresolver.Resolver | None = None

    @property
    def description(self) -> str:
        return (
            Text("the DNS server at {server}", server=self.server)
            if self.server
            else Text("the system resolver")
        )

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            self._resolver = self._build_resolver()
        return self._resolver

    def _build_resolver(self) -> dns.asyncresolver.Resolver:
        if self.server is None:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration as exc:
                raise DnsError("-", "-", "no system resolver is configured (/etc/resolv.conf)") from exc
        else:
            host, port = parse_server(self.server)
            if not is_ip(host):  # a resolver given by name: find its address once, from the OS
                host = str(socket.getaddrinfo(host, port, proto=socket.IPPROTO_UDP)[0][4][0])
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [host]
            resolver.port = port
        resolver.timeout = min(_UDP_TRY, self.timeout)
        resolver.lifetime = self.timeout
        return resolver

    async def lookup(self, name: str, qtype: str) -> Answer:
        """The ``qtype`` records of ``name`` as text (TXT strings joined, MX as
        ``"10 mx.example."``). Raises :class:`DnsError` when no answer can be had."""
        key = (name.rstrip(".").lower(), qtype.upper())
        task = self._memo.get(key)
        if task is None:
            task = asyncio.ensure_future(self._lookup(*key))
            self._memo[key] = task
        return await asyncio.shield(task)

    async def _lookup(self, name: str, qtype: str) -> Answer:
        resolver = self._get_resolver()
        self.queries += 1
        try:
            answer = await resolver.resolve(name, qtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(name, qtype, exists=False)
        except dns.resolver.NoAnswer:
            return Answer(name, qtype)
        except dns.resolver.LifetimeTimeout:
            said = Text(
                "no answer from {resolver} within {seconds:g} s",
                resolver=self.description,
                seconds=Number(self.timeout),
            )
            raise DnsError(name, qtype, said) from None
        except dns.resolver.NoNameservers as exc:
            said = Text(
                "{resolver} could not answer ({reason})", resolver=self.description, reason=_servfail(exc)
            )
            raise DnsError(name, qtype, said) from None
        except dns.exception.DNSException as exc:
            raise DnsError(name, qtype, f"{type(exc).__name__}: {exc}") from None
        return Answer(name, qtype, tuple(_text(rdata, qtype) for rdata in answer))

    async def txt(self, name: str) -> Answer:
        return await self.lookup(name, "TXT")

    async def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, host) sorted by preference; host ``""`` is the null MX (RFC 7505)."""
        answer = await self.lookup(name, "MX")
        found = []
        for record in answer.records:
            pref, _, host = record.partition(" ")
            found.append((int(pref), host.rstrip(".").lower()))
        return sorted(found)

    async def addresses(self, name: str) -> list[str]:
        """A and AAAA records of ``name`` (asked concurrently), IPv4 first.
        Raises :class:`DnsError` only when neither question could be answered."""
        if is_ip(name):
            return [name.strip("[]")]
        results = await asyncio.gather(
            self.lookup(name, "A"), self.lookup(name, "AAAA"), return_exceptions=True
        )
        found = [ip for r in results if isinstance(r, Answer) for ip in r.records]
        errors = [r for r in results if isinstance(r, DnsError)]
        if not found and errors:
            raise errors[0]
        return found

    async def resolve_host(self, host: str, port: int) -> list[tuple[str, int]]:
        """Where to connect for ``host``: the resolver the SMTP session calls. With a
        server configured the answer comes from it; else from the OS. Raises
        ``socket.gaierror`` when the host has no address, so the session tags it as a
        resolve failure exactly as it does for its own lookups."""
        if self.server is None or _is_localhost(host):
            loop = asyncio.get_running_loop()
            # hosts files hold names without the root's trailing dot
            name = host.rstrip(".") if _is_localhost(host) else host
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, port, type=socket.SOCK_STREAM), timeout=self.timeout
            )
            return list(dict.fromkeys((str(info[4][0]), port) for info in infos))
        try:
            ips = await self.addresses(host)
        except DnsError as exc:
            raise socket.gaierror(socket.EAI_AGAIN, str(exc)) from None
        if not ips:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: no A or AAAA record at {self.description}")
        return [(ip, port) for ip in ips]


def _is_localhost(host: str) -> bool:
    """``localhost`` and names under it are this machine's own (RFC 6761 6.3): the OS answers
    them from its hosts file, and a DNS server, the one given to the doctor included, has
    no record of them."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _servfail(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    for error in errors:
        answer = error[4] if len(error) > 4 else None
        if answer is not None and hasattr(answer, "rcode"):
            return dns.rcode.to_text(answer.rcode())
        if error[3]:
            return str(error[3])
    return "SERVFAIL"


def _text(rdata: object, qtype: str) -> str:
    if qtype == "TXT":
        strings: tuple[bytes, ...] = rdata.strings  # type: ignore[attr-defined]
        return b"".join(strings).decode("utf-8", errors="replace")
    return rdata.to_text()  # type: ignore[attr-defined, no-any-return]
