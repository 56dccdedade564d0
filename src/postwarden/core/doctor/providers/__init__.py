"""Read-only probes of email providers' APIs for the doctor: key valid? sandbox?
suspended? sender verified? One module per provider (anymail's one-file-per-ESP rule),
imported only when that provider is configured."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from postwarden.core.config.model import Provider

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

Probe = Callable[["Context", "Recorder"], Awaitable[None]]

#: provider -> module with ``async def probe(ctx, rec)``
PROBES: Final[dict[Provider, str]] = {
    Provider.SES: "postwarden.core.doctor.providers.ses",
    Provider.SENDGRID: "postwarden.core.doctor.providers.sendgrid",
    Provider.MAILGUN: "postwarden.core.doctor.providers.mailgun",
    Provider.POSTMARK: "postwarden.core.doctor.providers.postmark",
    Provider.RESEND: "postwarden.core.doctor.providers.resend",
    Provider.MANDRILL: "postwarden.core.doctor.providers.mandrill",
}


def probe_for(provider: Provider) -> Probe | None:
    module = PROBES.get(provider)
    if module is None:
        return None
    found: Probe = importlib.import_module(module).probe
    return found
