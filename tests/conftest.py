"""Shared fixtures. Real components only: see the tests/smtpd/ package (aiosmtpd + trustme) and
tests/dnsd.py (dnslib). A fixture that needs a system component skips locally with the
reason, but fails under CI=true (issue #2)."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.dnsd",
    "tests.dovecot",
    "tests.smtpd",
    "tests.oauthd",
    "tests.motod",
    "tests.reliability.figures",
]
