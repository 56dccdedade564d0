"""Settings that point the doctor at a test SMTP server (tests/smtpd.py)."""

from __future__ import annotations

from typing import Any

from postwarden.core.doctor.model import Report
from tests.core.doctor.helpers import doctor, settings
from tests.smtpd import RawServer, SmtpServer

SMTP_STAGES = frozenset({"network", "tls", "auth", "envelope"})
PASSWORD = "pw-DiStInCtIvE-sEcReT-0x5f3759df"


def smtp_env(server: SmtpServer | RawServer, security: str | None = None, **extra: str) -> dict[str, str]:
    mode = security or (server.security if isinstance(server, SmtpServer) else "none")
    return {
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_SECURITY": mode,
        "SMTP_EHLO_NAME": "client.example.com",
        "MAIL_FROM": "ops@example.com",
        "TEST_EMAIL": "dest@example.org",
        **extra,
    }


def walk(
    server: SmtpServer | RawServer,
    security: str | None = None,
    *,
    timeout: float = 2.0,
    only: frozenset[str] = SMTP_STAGES,
    options: dict[str, Any] | None = None,
    **extra: str,
) -> Report:
    """The doctor's SMTP stages against ``server``."""
    return doctor(
        settings(**smtp_env(server, security, **extra)), only=only, timeout=timeout, **(options or {})
    )
