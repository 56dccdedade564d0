"""Fixtures for the outbox tests."""

from __future__ import annotations

from tests.outbox.procs import place_factory  # noqa: F401 - a fixture
from tests.outbox.smtpd_helper import smtp_server  # noqa: F401 - a fixture
from tests.pg import pg_cluster  # noqa: F401 - a session fixture, used by the PostgreSQL tests
