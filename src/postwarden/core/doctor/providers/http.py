"""A small HTTP client for provider probes, whose DNS goes through the doctor's resolver.

The host of every API URL is resolved by :class:`~postwarden.core.dns.DnsClient`
(``--dns-server`` included), then ``http.client`` connects to that address while TLS
still verifies the certificate for the host name (SNI and hostname check), against the
system trust store, which honours ``SSL_CERT_FILE``. Requests run in a worker thread:
``http.client`` is blocking, and a probe makes two or three requests.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from postwarden.core.dns import DnsClient
from postwarden.core.i18n import Number, Text

#: provider bodies worth quoting are short; a proxy's HTML error page is not
MAX_BODY: Final = 1 << 20


class HttpFailure(Exception):
    """No HTTP answer. ``kind``: ``dns`` (the host has no address), ``connect``
    (refused or unreachable), ``timeout``, ``tls``. ``str()`` is the evidence."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """The first of ``addresses`` that accepts, in order (as the OS resolver's caller would)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the resolved ``addresses`` but speaks TLS and HTTP to the URL's host name."""

    def __init__(
        self, host: str, port: int, addresses: list[str], timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses

    def connect(self) -> None:
        raw = _connect(self._addresses, self.port, self.timeout)  # type: ignore[arg-type]
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)  # type: ignore[arg-type]


async def request(
    dns: DnsClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> HttpResponse:
    """One request. Raises :class:`HttpFailure` when no HTTP answer comes; any HTTP
    status (401, 500 …) is an answer and is returned."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpFailure("connect", Text("{url!r} is not an http(s) URL", url=url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await dns.resolve_host(parts.hostname, port)
    except (OSError, TimeoutError) as exc:
        text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        raise HttpFailure("dns", text if parts.hostname in text else f"{parts.hostname}: {text}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    all_headers = {"User-Agent": "postwarden-doctor", "Accept": "application/json", **(headers or {})}
    ips = [ip for ip, _ in addresses]
    return await asyncio.to_thread(
        _send, parts.scheme, parts.hostname, port, ips, method, path, all_headers, body, timeout
    )


def _send(
    scheme: str,
    host: str,
    port: int,
    ips: list[str],
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float,
) -> HttpResponse:
    conn: http.client.HTTPConnection
    address = ", ".join(ips)
    if scheme == "https":
        conn = _PinnedHTTPSConnection(host, port, ips, timeout, ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(host, port, ips, timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(MAX_BODY)
        return HttpResponse(response.status, data, {k.lower(): v for k, v in response.getheaders()})
    except ssl.SSLError as exc:
        raise HttpFailure(
            "tls", Text("TLS with {host}:{port} failed: {error}", host=host, port=port, error=str(exc))
        ) from None
    except TimeoutError:
        raise HttpFailure(
            "timeout",
            Text(
                "no answer from {host}:{port} ({address}) within {timeout:g} s",
                host=host,
                port=port,
                address=address,
                timeout=Number(timeout),
            ),
        ) from None
    except ConnectionRefusedError:
        raise HttpFailure(
            "connect",
            Text("{host}:{port} ({address}) refused the connection", host=host, port=port, address=address),
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise HttpFailure("connect", f"{host}:{port} ({address}): {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
