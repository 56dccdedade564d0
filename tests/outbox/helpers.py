"""Shared helpers for the outbox tests: settings records built directly (no environment)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from postwarden.core.config.model import (
    DeliverySettings,
    Provider,
    Security,
    SendingSettings,
    ServiceSettings,
    Settings,
    SmtpSettings,
)


def make_settings(*, data_dir: Path | None = None, smtp_port: int | None = None, **sending: Any) -> Settings:
    """Settings for tests: From ops@example.com, capture unless an SMTP port is given."""
    base = SendingSettings(
        provider=Provider.SMTP if smtp_port else Provider.CAPTURE,
        from_address="ops@example.com",
        from_name="Ops",
    )
    delivery = sending.pop("delivery", DeliverySettings())
    smtp = (
        SmtpSettings(host="127.0.0.1", port=smtp_port, security=Security.NONE, timeout=5.0)
        if smtp_port
        else SmtpSettings()
    )
    service = ServiceSettings(data_dir=data_dir) if data_dir else ServiceSettings()
    return Settings(sending=replace(base, **sending), smtp=smtp, delivery=delivery, service=service)
