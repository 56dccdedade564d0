"""A receiving mail server on loopback, as a mailbox provider runs one: aiosmtpd takes the
mail, judges it as Gmail or Outlook would, writes a real ``Authentication-Results`` header
(RFC 8601) and a ``Received`` line on top, and files it into a Dovecot mailbox
(tests/dovecot.py), in the inbox or the junk folder by a rule the test chooses.

The verdicts come from independent implementations asking the tests' DNS server:
DKIM from Perl's Mail::DKIM (tests/mail_dkim.py), SPF from Perl's Mail::SPF
(tests/mail_spf.py); DMARC (RFC 7489) is decided here from those two, the ``_dmarc``
record and relaxed alignment on organizational domains (the public suffix list)::

    mx = mx_factory(mailbox=dovecot, dns=dns_server, rule=lambda mail: "Junk")
    ... SMTP_HOST=127.0.0.1 SMTP_PORT=mx.port ...
    assert mx.received[0].dkim == "pass"
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Final

import dns.resolver
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from publicsuffixlist import PublicSuffixList

from tests.dnsd import DnsTestServer
from tests.dovecot import DovecotServer
from tests.mail_dkim import mail_dkim
from tests.mail_spf import mail_spf
from tests.ports import free_port

AUTHSERV_ID: Final = "mx.receiver.test"
_psl = PublicSuffixList()

#: the folder a received mail goes to ("INBOX", "Junk" …), given the mail as judged
Rule = Callable[["Judged"], str]


@dataclass(frozen=True)
class Judged:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    spf: str
    dkim: str
    dkim_detail: str
    dmarc: str
    header_from: str
    #: the mail as filed, with our Authentication-Results and Received on top
    data: bytes
    folder: str = ""


@dataclass
class MxServer:
    mailbox: DovecotServer
    dns: DnsTestServer
    rule: Rule = field(default=lambda judged: "INBOX")
    #: deliver each mail this many times (a duplicate delivery)
    copies: int = 1
    #: hold mail instead of filing it (for a late arrival): release() files it
    hold: bool = False
    #: the reply to the end of data instead of accepting ("554 5.7.1 …")
    refuse: str | None = None
    #: seconds this server's clock is off (its Received line and the mailbox's INTERNALDATE)
    clock_offset: float = 0.0
    received: list[Judged] = field(default_factory=list)
    held: list[tuple[Judged, str]] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse is not None:
            return self.refuse
        data = bytes(envelope.original_content or b"")
        judged = self.judge(envelope.mail_from or "", tuple(envelope.rcpt_tos), data, session.host_name or "")
        folder = self.rule(judged)
        judged = dataclasses.replace(judged, folder=folder)
        with self._lock:
            self.received.append(judged)
            if self.hold:
                self.held.append((judged, folder))
                return "250 2.0.0 Ok: queued (held)"
        self._file(judged, folder)
        return "250 2.0.0 Ok: queued"

    def release(self) -> None:
        """File the held mail now (it arrives late)."""
        with self._lock:
            held, self.held = self.held, []
            self.hold = False
        for judged, folder in held:
            self._file(judged, folder)

    def _file(self, judged: Judged, folder: str) -> None:
        for _ in range(self.copies):
            for rcpt in judged.rcpt_tos:
                self.mailbox.deliver(
                    judged.data, folder=folder, user=rcpt, when=time.time() + self.clock_offset
                )

    def judge(self, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes, helo: str) -> Judged:
        header_from = _from_domain(data)
        spf = mail_spf(self.dns, ip="127.0.0.1", mail_from=mail_from, helo=helo or "localhost")
        detail = mail_dkim(data, self.dns)
        dkim = detail.split(" ", 1)[0] if detail else "none"
        signer = _signing_domain(data) if dkim == "pass" else ""
        dmarc = self._dmarc(header_from, spf, mail_from, dkim, signer)
        mail_domain = mail_from.rsplit("@", 1)[-1].lower()
        results = (
            f"Authentication-Results: {AUTHSERV_ID};\r\n"
            f"\tspf={spf} smtp.mailfrom={mail_domain or 'unknown'};\r\n"
            f"\tdkim={dkim}{_reason(detail)} header.d={signer or _signing_domain(data) or 'none'};\r\n"
            f"\tdmarc={dmarc} header.from={header_from or 'unknown'}\r\n"
        )
        received = (
            f"Received: from {helo or 'unknown'} (localhost [127.0.0.1])\r\n"
            f"\tby {AUTHSERV_ID} with ESMTP; {email.utils.formatdate(time.time() + self.clock_offset)}\r\n"
        )
        filed = results.encode() + received.encode() + data
        return Judged(mail_from, rcpt_tos, spf, dkim, detail, dmarc, header_from, filed)

    def _dmarc(self, header_from: str, spf: str, mail_from: str, dkim: str, signer: str) -> str:
        if not header_from:
            return "none"
        try:
            answer = _resolver(self.dns).resolve(f"_dmarc.{_org(header_from)}", "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return "none"
        records = [b"".join(r.strings).decode() for r in answer]
        if not any(r.lower().startswith("v=dmarc1") for r in records):
            return "none"
        spf_aligned = spf == "pass" and _org(mail_from.rsplit("@", 1)[-1]) == _org(header_from)
        dkim_aligned = dkim == "pass" and bool(signer) and _org(signer) == _org(header_from)
        return "pass" if spf_aligned or dkim_aligned else "fail"

    def start(self) -> MxServer:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _from_domain(data: bytes) -> str:
    headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    _name, address = email.utils.parseaddr(str(headers.get("From", "")))
    return address.rsplit("@", 1)[-1].lower() if "@" in address else ""


def _signing_domain(data: bytes) -> str:
    headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    signature = re.sub(r"\s+", "", str(headers.get("DKIM-Signature", "")))
    found = re.search(r"(?:^|;)d=([^;]+)", signature)
    return found[1].lower() if found else ""


def _reason(detail: str) -> str:
    reason = detail.split(" ", 1)[1] if " " in detail else ""
    reason = reason.strip("()").replace("(", "").replace(")", "")
    return f" ({reason})" if reason else ""


def _org(domain: str) -> str:
    return _psl.privatesuffix(domain.lower().rstrip(".")) or domain.lower()


def _resolver(server: DnsTestServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.host]
    resolver.nameserver_ports = {server.host: server.port}
    resolver.lifetime = 5
    return resolver


@pytest.fixture
def mx_factory() -> Iterator[Callable[..., MxServer]]:
    """``mx_factory(mailbox=…, dns=…, rule=…, copies=1, hold=False) -> MxServer``, started."""
    servers: list[MxServer] = []

    def start(**options: Any) -> MxServer:
        server = MxServer(**options)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
