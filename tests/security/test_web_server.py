"""What the HTTP server under ``postwarden web`` guarantees against clients that take their
time or send too much, checked on a real process over loopback: a client trickling a
request body holds a connection, never one of the request threads (the server reads the
whole request before it starts the application), so the console and API keep answering
while more slow uploads are open than there are threads; a request whose headers are over
the limit is refused before Django sees it. granian 2.8.9 failed the first and the
underscore test in test_trusted_proxies.py, which is why the server stays waitress
(docs/performance.md)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.security.web_process import running_web

pytestmark = pytest.mark.slow
#: ``postwarden web``'s request threads by default (its --threads)
THREADS = 16
#: the largest request head the server takes (waitress's max_request_header_size)
HEADER_LIMIT = 256 * 1024
#: the head and the start of a log-in form that never comes in full; with a CSRF cookie,
#: Django reads the form for its token before it can refuse the request
SLOW_FORM = (
    b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: csrftoken=" + b"a" * 32 + b"\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername="
)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_web(tmp_path_factory.mktemp("web")) as running:
        yield running


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30)


def _status(sock: socket.socket) -> int:
    """The status code of the answer that comes on ``sock``."""
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return int(head.split(b" ", 2)[1])


def test_slow_uploads_hold_connections_not_the_request_threads(url: str) -> None:
    held: list[socket.socket] = []
    try:
        for _ in range(2 * THREADS):
            upload = _connect(url)
            upload.sendall(SLOW_FORM)
            held.append(upload)
        # answered while every upload is still open (more than once: an answer that
        # slipped in before the uploads reached the threads proves nothing)
        for _ in range(3):
            assert requests.get(url + "/login/", timeout=30).status_code == 200
    finally:
        for upload in held:
            upload.close()


def test_a_head_over_the_limit_is_refused_and_the_server_keeps_answering(url: str) -> None:
    with _connect(url) as client:
        client.sendall(
            b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: "
            + b"a" * (HEADER_LIMIT + 1024)
            + b"\r\n\r\n"
        )
        assert _status(client) == 431
    assert requests.get(url + "/login/", timeout=30).status_code == 200
