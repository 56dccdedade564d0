"""Fixtures for the relay tests: ``relay_factory`` starts real relays (stopped at
teardown), ``key`` issues a real API key with the ``send`` scope."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from postwarden.accounts.models import ApiKey
from postwarden.core.config.model import Settings
from postwarden.relay.server import RelayServerConfig
from tests.relay.helpers import LOOPBACK_V4, RelayThread, relay_settings
from tests.smtpd import server_context


@pytest.fixture(autouse=True)
def _quiet_aiosmtpd() -> Iterator[None]:
    # as cli/relay.py does: aiosmtpd logs every command at INFO (recipients included)
    logger = logging.getLogger("mail.log")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def relay_factory(tmp_path: Path, server_cert: trustme.LeafCert) -> Iterator[Callable[..., RelayThread]]:
    """``relay_factory(settings=None, **RelayServerConfig fields) -> RelayThread``, started.
    Defaults: loopback trusted, STARTTLS with the trustme ``server_cert``, implicit TLS
    on a second free port, ephemeral ports, settings from :func:`relay_settings`."""
    relays: list[RelayThread] = []

    def start(settings: Settings | None = None, **config: Any) -> RelayThread:
        config.setdefault("host", "127.0.0.1")
        config.setdefault("port", 0)
        config.setdefault("smtps", ("127.0.0.1", 0))
        config.setdefault("tls_context", server_context(server_cert))
        config.setdefault("trusted", LOOPBACK_V4)
        config.setdefault("hostname", "relay.test")
        relay = RelayThread(RelayServerConfig(**config), settings or relay_settings(tmp_path))
        relays.append(relay)
        return relay.start()

    try:
        yield start
    finally:
        for relay in relays:
            relay.stop()


@pytest.fixture
def key() -> tuple[ApiKey, str]:
    """A real API key with the ``send`` scope: ``(row, plain key)``."""
    return ApiKey.issue("mattermost", ["send"])
