"""Fixtures of the fault suites: the outbox tests' real worker processes (tests/outbox/procs.py),
their recording SMTP server (tests/outbox/smtpd_helper.py) and the throwaway PostgreSQL
cluster (tests/pg.py), reused as they are."""

from __future__ import annotations

from tests.outbox.procs import place_factory  # noqa: F401 - a fixture
from tests.outbox.smtpd_helper import smtp_server  # noqa: F401 - a fixture
from tests.pg import pg_cluster  # noqa: F401 - a session fixture
