"""Proxy headers, believed only from the reverse proxies the operator names
(POSTWARDEN_TRUSTED_PROXIES, docs/configuration.md). A WSGI middleware ``postwarden web``
puts in front of Django; waitress's own handling is off, since it trusts one address or
everyone, not networks.

- From a trusted proxy, ``REMOTE_ADDR`` becomes the client X-Forwarded-For names: the
  rightmost entry that is not itself a trusted proxy. Entries left of it were written by
  the client and prove nothing (a client can send ``X-Forwarded-For: 1.2.3.4`` and the proxy
  appends the real peer after it), so rotating them escapes no log-in throttle.
- From anyone else, every proxy header is dropped: X-Forwarded-For is whatever a client
  wants it to be. X-Forwarded-Proto is the exception under POSTWARDEN_HTTPS: a client
  reaching the port directly can at most claim https, which changes nothing (cookies are
  Secure anyway), and without it Django behind the proxy saw http, sent no HSTS and refused
  every form ("Origin checking failed").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: the WSGI keys of the headers a proxy sets
HEADERS: Final = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_BY",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)
#: where the address the request really came from is kept
PEER: Final = "postwarden.peer"


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ProxyHeaders:
    """The middleware; ``trusted`` are CIDR networks (already validated by the resolver)."""

    def __init__(self, app: WsgiApp, *, trusted: Iterable[str], https: bool) -> None:
        self.app = app
        self.trusted: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in trusted)
        self.https = https

    def is_trusted(self, text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in self.trusted)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client of a request from the trusted proxy ``peer``."""
        for entry in reversed([e for e in forwarded_for.split(",") if e.strip()]):
            address = _address(entry)
            if address is None:
                break  # a garbled entry: nothing left of it can be trusted either
            if not self.is_trusted(str(address)):
                return str(address)
        return peer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        peer = str(environ.get("REMOTE_ADDR") or "")
        environ[PEER] = peer
        if self.trusted and self.is_trusted(peer):
            environ["REMOTE_ADDR"] = self.client(peer, str(environ.get("HTTP_X_FORWARDED_FOR", "")))
            if not self.https:
                environ.pop("HTTP_X_FORWARDED_PROTO", None)
        else:
            for key in HEADERS:
                if not (self.https and key == "HTTP_X_FORWARDED_PROTO"):
                    environ.pop(key, None)
        return self.app(environ, start_response)
