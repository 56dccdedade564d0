"""The log-in throttle behind a reverse proxy (POSTWARDEN_TRUSTED_PROXIES, postwarden/proxies.py):
a real ``postwarden web`` (waitress) process, this test playing the proxy on 127.0.0.1.

Named as trusted, the proxy's X-Forwarded-For names each client, so one client guessing
across accounts is throttled and the others behind the same proxy are not. By default (and
when the proxy is not among the trusted networks) X-Forwarded-For is whatever a client wants
it to be and is ignored: every request counts for the proxy's address. The entries a client
writes left of the proxy's own never move the count."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from postwarden.console import throttle
from postwarden.proxies import ProxyHeaders
from tests.security.web_process import ADMIN, PASSWORD, running_web

pytestmark = pytest.mark.slow
GUESSER, OTHER = "203.0.113.5", "198.51.100.77"


def attempt(
    url: str,
    client: str,
    username: str,
    password: str,
    *,
    spoofed: str = "",
    before: dict[str, str] | None = None,
    after: dict[str, str] | None = None,
) -> int:
    """One log-in through the proxy for ``client`` (the proxy appends the peer it saw);
    ``before`` and ``after`` are headers the client wrote that the proxy passes on, sent in
    that order around the proxy's own."""
    session = requests.Session()
    forwarded = {"X-Forwarded-For": f"{spoofed}, {client}" if spoofed else client}
    headers = {**(before or {}), **forwarded, **(after or {})}
    token = session.get(url + "/login/", headers=headers, timeout=10).cookies["csrftoken"]
    return session.post(
        url + "/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    ).status_code


def guess_across_accounts(url: str) -> None:
    # one address guessing at many accounts: each account stays under its own limit, the
    # address reaches its own; a client-written entry rotates to try to escape it
    for index in range(throttle.ADDRESS_LIMIT):
        status = attempt(url, GUESSER, f"u{index}@example.com", "a guess!", spoofed=f"192.0.2.{index}")
        assert status == 200
    assert attempt(url, GUESSER, "u99@example.com", "a guess!", spoofed="192.0.2.250") == 429


def test_behind_a_trusted_proxy_only_the_guessing_client_is_throttled(tmp_path: Path) -> None:
    with running_web(tmp_path, POSTWARDEN_TRUSTED_PROXIES="10.0.0.0/8, 127.0.0.1") as url:
        guess_across_accounts(url)
        assert attempt(url, OTHER, ADMIN, PASSWORD) == 302  # the next client logs in
        assert attempt(url, GUESSER, ADMIN, PASSWORD) == 429  # the guesser does not


def test_a_header_named_with_underscores_does_not_stand_in_for_the_proxys(tmp_path: Path) -> None:
    # X_Forwarded_For and X-Forwarded-For are one WSGI key (HTTP_X_FORWARDED_FOR); a proxy
    # that passes header names with underscores on (nginx drops them, not every proxy does)
    # would let the client's copy replace the proxy's and choose the address the throttle
    # counts. The server drops such names, in whichever order they come (waitress does;
    # granian 2.8.9 lets the later one win, docs/performance.md).
    with running_web(tmp_path, POSTWARDEN_TRUSTED_PROXIES="127.0.0.1") as url:
        for index in range(throttle.ADDRESS_LIMIT + 2):
            forged = {"X_Forwarded_For": f"192.0.2.{index}"}
            first = index % 2 == 0
            before, after = (forged, None) if first else (None, forged)
            status = attempt(url, GUESSER, f"u{index}@example.com", "a guess!", before=before, after=after)
            # every guess counts for the guesser: the two past the budget are refused
            assert status == (200 if index < throttle.ADDRESS_LIMIT else 429), (index, status)


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8"], ids=["by-default", "another-network"])
def test_an_untrusted_peers_forwarded_for_is_ignored(tmp_path: Path, trusted: str) -> None:
    settings = {"POSTWARDEN_TRUSTED_PROXIES": trusted} if trusted else {}
    with running_web(tmp_path, **settings) as url:
        guess_across_accounts(url)
        # every request counted for 127.0.0.1, whatever X-Forwarded-For claimed
        assert attempt(url, OTHER, ADMIN, PASSWORD) == 429


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("1.2.3.4, 203.0.113.5", "203.0.113.5"),  # the left entry is the client's own words
        ("203.0.113.5, 10.1.2.3", "203.0.113.5"),  # a second trusted proxy in the chain
        ("203.0.113.5:51234", "203.0.113.5"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("10.1.2.3, 10.4.5.6", "127.0.0.1"),  # only proxies: the peer itself
        ("203.0.113.5, garbage", "127.0.0.1"),  # nothing left of a garbled entry is believed
        ("", "127.0.0.1"),
    ],
)
def test_the_client_is_the_rightmost_address_that_is_no_trusted_proxy(
    forwarded_for: str, client: str
) -> None:
    seen: dict[str, object] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(environ)
        return []

    middleware = ProxyHeaders(app, trusted=["127.0.0.1/32", "10.0.0.0/8"], https=False)
    middleware({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for}, lambda *a: None)
    assert (seen["REMOTE_ADDR"], seen["postwarden.peer"]) == (client, "127.0.0.1")


@pytest.mark.parametrize("https", [False, True])
def test_an_untrusted_peer_loses_every_proxy_header_but_the_https_claim_under_https(https: bool) -> None:
    seen: dict[str, object] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen.update(environ)
        return []

    headers = {key: "203.0.113.5" for key in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")}
    environ = {"REMOTE_ADDR": "192.0.2.9", "HTTP_X_FORWARDED_PROTO": "https", **headers}
    ProxyHeaders(app, trusted=["127.0.0.1/32"], https=https)(environ, lambda *a: None)
    assert seen["REMOTE_ADDR"] == "192.0.2.9"
    assert not set(headers) & set(seen)
    assert ("HTTP_X_FORWARDED_PROTO" in seen) is https
