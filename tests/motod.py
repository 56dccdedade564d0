"""Amazon's APIs for tests: moto's server mode on a free loopback port (point boto3 or
``AWS_ENDPOINT_URL`` at the URL). One server per test module; ``moto_url`` forgets every
identity and message of the previous test. Registered in tests/conftest.py as a pytest
plugin."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """The module's moto server, with everything the previous test made forgotten."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=5).close()
    return moto_server
