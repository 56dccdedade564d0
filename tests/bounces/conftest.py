"""Fixtures for the bounce tests."""

from __future__ import annotations

from tests.outbox.smtpd_helper import smtp_server  # noqa: F401 - a fixture
