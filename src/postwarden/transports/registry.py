"""Provider name -> transport, imported lazily (a provider's SDK loads only when used).

Each factory takes the resolved :class:`Settings` and returns a ready transport."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Final

from postwarden.core.config.model import Provider, Settings
from postwarden.transports.base import Transport

Factory = Callable[[Settings], Transport]

#: provider -> "module:factory"
FACTORIES: Final[dict[Provider, str]] = {
    Provider.SMTP: "postwarden.transports.smtp:build",
    Provider.CAPTURE: "postwarden.transports.capture:build",
    Provider.SES: "postwarden.transports.esp:build",
    Provider.SENDGRID: "postwarden.transports.esp:build",
    Provider.MAILGUN: "postwarden.transports.esp:build",
    Provider.POSTMARK: "postwarden.transports.esp:build",
    Provider.RESEND: "postwarden.transports.esp:build",
    Provider.MANDRILL: "postwarden.transports.esp:build",
}


def build_transport(settings: Settings) -> Transport:
    module_name, _, attr = FACTORIES[settings.sending.provider].partition(":")
    factory: Factory = getattr(importlib.import_module(module_name), attr)
    return factory(settings)
