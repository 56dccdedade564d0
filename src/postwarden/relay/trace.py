"""The relay's ``Received:`` trace field (RFC 5321 4.4: a server that takes a message
MUST add one at the top), naming the client (its EHLO name and address), the TLS it
used, the API key it authenticated with (by name: never the key) and the queue id.

Everything in it comes from the client or an admin, so it is checked or made printable
ASCII before it goes into a header: an EHLO name that is not a domain or an address
literal is shown in a comment, with anything outside printable ASCII, parentheses,
backslashes and quotes replaced by "?".
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: RFC 5321 4.1.2 Domain (dot-separated labels) or address-literal
_DOMAIN: Final = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_LITERAL: Final = re.compile(r"\[(?:IPv6:)?[0-9A-Fa-f:.]+\]")
_UNSAFE: Final = re.compile(r'[^\x20-\x7e]|[()\\"]')
#: the longest EHLO name or key name quoted
_SHOWN: Final = 64


@dataclass(frozen=True, slots=True)
class Tls:
    version: str
    cipher: str
    bits: int


def received(
    *,
    client_ip: str,
    helo: str | None,
    by: str,
    protocol: str,
    tls: Tls | None,
    key_name: str | None,
    queue_id: str,
    now: datetime,
) -> bytes:
    """The ``Received:`` field, folded, CRLF-terminated, ASCII."""
    literal = _address_literal(client_ip)
    name = (helo or "").strip()
    if len(name) <= 255 and (_DOMAIN.fullmatch(name) or _LITERAL.fullmatch(name)):
        origin = f"from {name} ({literal})"
    else:
        origin = f"from unknown ({literal}) (HELO {_safe(name) or 'not given'})"
    by_name = by if _DOMAIN.fullmatch(by) else "localhost"
    lines = [f"Received: {origin}", f"\tby {by_name} (Postwarden) with {protocol} id {queue_id}"]
    if tls is not None:
        lines.append(f"\t({_safe(tls.version)} with cipher {_safe(tls.cipher)} ({tls.bits} bits))")
    if key_name is not None:
        lines.append(f'\t(authenticated with the API key "{_safe(key_name)}")')
    lines[-1] += ";"
    lines.append(f"\t{_date(now)}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def protocol(*, extended: bool, tls: bool, authenticated: bool, utf8: bool) -> str:
    """The ``with`` keyword (RFC 3848, RFC 6531 7.1): SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA,
    or UTF8SMTP and its S/A/SA forms when the client asked for SMTPUTF8."""
    if not extended:
        return "SMTP"
    suffix = ("S" if tls else "") + ("A" if authenticated else "")
    return ("UTF8SMTP" if utf8 else "ESMTP") + suffix


#: the last date written, by whole second: a busy relay stamps many messages a second
_last_date: tuple[int, str] | None = None


def _date(now: datetime) -> str:
    global _last_date  # a tuple swapped whole: safe when threads share it
    second = int(now.timestamp())
    last = _last_date
    if last is None or last[0] != second:
        last = _last_date = (second, email.utils.format_datetime(now.replace(microsecond=0)))
    return last[1]


def _address_literal(client_ip: str) -> str:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return "[unknown]"
    return f"[IPv6:{address.compressed}]" if address.version == 6 else f"[{address}]"


def _safe(text: str) -> str:
    return _UNSAFE.sub("?", text[:_SHOWN])
