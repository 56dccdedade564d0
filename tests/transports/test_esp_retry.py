"""Every provider backend's failures, read by the one retry policy (outbox/retry.py): a
provider's server errors (500, 502, 503, 504), its rate limit (429), a request that times
out and a connection reset are transient; a refused request (400, 404, 422) is permanent;
401 and 403 are about the account, not the message, and are retried like any other broken
path (retry.py's first rule). Each answer comes from a local server speaking the
provider's documented format (tests/providers.py); SES's from boto3 itself."""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from postwarden.core.config.model import ProviderSettings
from postwarden.outbox.retry import RetryPolicy, RetryVerdict, judge
from postwarden.transports import esp_backends
from postwarden.transports.base import Outcome, RecipientResult
from tests import providers as p
from tests.transports.test_esp_http import delivery, send

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5)
TRANSIENT = (429, 500, 502, 503, 504)
PERMANENT = (400, 404, 422)
ACCOUNT = (401, 403)
IDS = [api.provider.value for api in p.ALL]


def verdict(result: RecipientResult) -> RetryVerdict:
    return judge(result, tries=1, queued_at=NOW, now=NOW, policy=POLICY)


def answered(api: p.Api, server: HTTPServer, status: int, *, gateway: bool = False) -> RecipientResult:
    if gateway:
        body, headers = p.GATEWAY_PAGE.format(status=status), {}
    else:
        body, headers = p.error_answer(api, status)
    api.answer(server, status, body, headers)
    [result] = send(api.settings(server), delivery())
    assert len(server.log) == 1  # one request: the outbox's policy owns retries, not the client
    assert (result.outcome, result.stage, result.http_status) == (Outcome.FAILED, "api", status)
    return result


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
@pytest.mark.parametrize("status", TRANSIENT)
def test_a_providers_server_error_or_rate_limit_is_retried(
    api: p.Api, status: int, httpserver: HTTPServer
) -> None:
    found = verdict(answered(api, httpserver, status))
    assert (found.state, found.permanent) == ("deferred", False)
    assert found.retry_at is not None
    assert found.retry_at > NOW
    assert found.reason.startswith("deferred at api: ")


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateways_page_in_front_of_the_provider_is_retried(
    api: p.Api, status: int, httpserver: HTTPServer
) -> None:
    assert verdict(answered(api, httpserver, status, gateway=True)).state == "deferred"


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
@pytest.mark.parametrize("status", PERMANENT)
def test_a_refused_request_is_permanent(api: p.Api, status: int, httpserver: HTTPServer) -> None:
    found = verdict(answered(api, httpserver, status))
    assert (found.state, found.permanent, found.retry_at) == ("failed", True, None)
    assert found.reason.startswith("failed at api: ")


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
@pytest.mark.parametrize("status", ACCOUNT)
def test_a_refused_key_is_retried_until_the_attempts_run_out(
    api: p.Api, status: int, httpserver: HTTPServer
) -> None:
    result = answered(api, httpserver, status)
    assert verdict(result).state == "deferred"
    last = judge(result, tries=POLICY.max_attempts, queued_at=NOW, now=NOW, policy=POLICY)
    assert (last.state, last.permanent) == ("dead", False)


# --- no answer at all ---------------------------------------------------------------------


class SilentServer:
    """A TCP server on loopback that reads each request and then either never answers
    (until the test ends) or resets the connection (SO_LINGER 0: an RST, not a FIN)."""

    def __init__(self, *, reset: bool) -> None:
        self.reset = reset
        self.done = threading.Event()
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.recv(65536)
            self.requests += 1
            if self.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self.done.set()
        self._listener.close()
        for conn in self._held:
            conn.close()
        self._thread.join(timeout=5)


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # the request timeout is read when a backend is made; a silent server must not hold
    # the test for the production value
    monkeypatch.setattr(esp_backends, "REQUEST_TIMEOUT", 0.5)


@pytest.fixture(params=[False, True], ids=["silent", "reset"])
def silent(request: pytest.FixtureRequest) -> Iterator[SilentServer]:
    server = SilentServer(reset=request.param)
    yield server
    server.close()


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
@pytest.mark.usefixtures("short_timeout")
def test_a_timeout_or_a_reset_connection_is_retried(
    api: p.Api, silent: SilentServer, httpserver: HTTPServer
) -> None:
    settings = api.settings(httpserver)
    url = f"http://127.0.0.1:{silent.port}{api.base}"
    nowhere = ProviderSettings(
        name=settings.name, secrets=settings.secrets, options=settings.options, api_url=url
    )
    [result] = send(nowhere, delivery())
    assert silent.requests == 1
    assert (result.outcome, result.stage, result.http_status) == (Outcome.FAILED, "api", None)
    # the client's own words: requests, urllib3 and botocore each name it differently
    kind = r"reset|closed|aborted|disconnected" if silent.reset else r"time ?out|timed out"
    assert re.search(kind, result.detail, re.IGNORECASE), result.detail
    found = verdict(result)
    assert (found.state, found.permanent) == ("deferred", False)


@pytest.mark.parametrize("api", p.ALL, ids=IDS)
def test_an_address_anymail_refuses_is_not_sent_and_fails_for_good(
    api: p.Api, httpserver: HTTPServer
) -> None:
    """anymail refuses the message before any request (it cannot parse the address): the
    result says so in its field, which makes it permanent; the words say it for people."""
    [result] = send(api.settings(httpserver), delivery("ann@"))
    assert len(httpserver.log) == 0
    assert (result.outcome, result.stage, result.http_status) == (Outcome.FAILED, "api", None)
    assert result.refused_before_sending
    assert result.detail.startswith("not sent: Invalid email address")
    found = verdict(result)
    assert (found.state, found.permanent, found.retry_at) == ("failed", True, None)
