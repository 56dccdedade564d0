"""``postwarden doctor --send`` with a provider: the test mail goes through the worker's
own transport (the registry's anymail-backed transport), so that what the doctor proves
is what the worker does. SMTP test mails are sent by the core's SMTP walk instead."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from postwarden.core.config.model import Provider, Settings
from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.testmail import compose_test_mail
from postwarden.core.i18n import Text
from postwarden.core.replies.classify import classify
from postwarden.transports.base import Outcome, TransportDelivery
from postwarden.transports.registry import build_transport

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

Sender = Callable[["Context", "Recorder"], Awaitable[None]]


def provider_sender(settings: Settings) -> Sender | None:
    if settings.sending.provider in (Provider.SMTP, Provider.CAPTURE):
        return None

    async def send(ctx: Context, rec: Recorder) -> None:
        recipient = ctx.recipient or ""
        try:
            composed = compose_test_mail(ctx.settings, recipient)
        except ValueError as exc:
            said = Text("the test message cannot be composed: {error}", error=str(exc))
            rec.check("provider.send", Status.SKIP, said)
            return
        transport = build_transport(ctx.settings)
        delivery = TransportDelivery(
            message_pk=0,
            public_id="doctor",
            message_id=composed.message_id,
            envelope_from=composed.envelope_from,
            recipients=(recipient,),
            raw=composed.raw,
            needs_smtputf8=composed.needs_smtputf8,
        )
        with rec.timed() as t:
            try:
                results = await transport.send(delivery)
            finally:
                await transport.close()
        result = results[0]
        if result.outcome is Outcome.SENT:
            rec.check(
                "provider.send",
                Status.PASS,
                Text("accepted; message id {message_id}", message_id=result.provider_message_id or "-"),
                duration_ms=t.ms,
            )
            return
        explanation = classify(stage=result.stage, reply=result.reply, detail=result.detail)
        code = explanation.code or (
            Code.PROVIDER_INVALID_CREDENTIALS
            if result.http_status in (401, 403)
            else Code.PROVIDER_UNREACHABLE
        )
        evidence = f"HTTP {result.http_status}: {result.detail}" if result.http_status else result.detail
        rec.finding(Finding.of(code, evidence, explanation.steps, explanation=explanation.explanation))
        rec.check("provider.send", Status.FAIL, evidence, duration_ms=t.ms)

    return send
