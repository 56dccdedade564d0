"""The provider stage: ask the provider's API (read-only) whether mail can go.

With ``--send`` the doctor does not send through a provider itself: a provider test mail
must take the worker's path (anymail backends, which need Django), so that is
``postwarden send-test``'s job - or the Django adapter's, which passes ``provider_send``
in the service facts when the database and Django are available.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from postwarden.core.config.model import Provider
from postwarden.core.doctor.checks.config import REQUIRED
from postwarden.core.doctor.model import Code, Status
from postwarden.core.doctor.providers import probe_for
from postwarden.core.doctor.providers.base import ProbeStop
from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder


async def run_provider(ctx: Context, rec: Recorder) -> None:
    provider = ctx.settings.sending.provider
    probe = probe_for(provider)
    if probe is None:
        how = (
            Text("through an SMTP server")
            if provider is Provider.SMTP
            else Text("nowhere (EMAIL_PROVIDER=capture)")
        )
        rec.check("provider.api", Status.SKIP, Text("mail goes {how}: no provider API to ask", how=how))
        return
    missing = [
        n
        for n in REQUIRED.get(provider, ())
        if not (ctx.settings.provider.secret(n).is_set or ctx.settings.provider.option(n))
    ]
    if missing:
        rec.check(
            "provider.api", Status.SKIP, Text("{names} not set (config.missing)", names=", ".join(missing))
        )
        rec.blocking.add(Code.CONFIG_MISSING)
        return
    with contextlib.suppress(ProbeStop):  # the probe recorded why it stopped
        await probe(ctx, rec)
    if ctx.options.send:
        await _send(ctx, rec, provider)


async def _send(ctx: Context, rec: Recorder, provider: Provider) -> None:
    sender = ctx.service.provider_send if ctx.service is not None else None
    if sender is None:
        rec.check(
            "provider.send",
            Status.SKIP,
            Text(
                "a {provider} test mail goes through the worker's transport: run `postwarden send-test` (it "
                "needs the service's database)",
                provider=provider.value,
            ),
        )
        return
    await sender(ctx, rec)
