"""Postmark: is the server token valid, and does the message stream exist?

Documented endpoints (header ``X-Postmark-Server-Token``): ``GET /server`` and
``GET /message-streams/<id>``. Errors carry ``{"ErrorCode", "Message"}``; 10 is a bad
token. Sender signatures can only be listed with an *account* token, which Postwarden
does not hold, so Postmark's own check at send time is the authority on the sender.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.base import Api
from postwarden.core.i18n import Text, join

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

DEFAULT_URL: Final = "https://api.postmarkapp.com/"
#: Postmark's ErrorCode for "your account is pending approval" / "inactive"
_PENDING, _INACTIVE = 412, 413


async def probe(ctx: Context, rec: Recorder) -> None:
    provider = ctx.settings.provider
    token = provider.secret("POSTMARK_SERVER_TOKEN").reveal()
    api = Api(ctx, rec, "Postmark", provider.api_url or DEFAULT_URL, {"X-Postmark-Server-Token": token})
    response = await api.call("GET", "server")
    evidence = api.evidence("GET", "server", response)
    error = (response.json() or {}).get("ErrorCode") if response.status >= 400 else None
    if response.status in (401, 403) or error == 10:
        api.refuse_key(
            evidence,
            "POSTMARK_SERVER_TOKEN",
            (Text("Use the Server API token (Servers > your server > API Tokens), not the Account token."),),
        )
    if error in (_PENDING, _INACTIVE):
        code = Code.PROVIDER_SANDBOX if error == _PENDING else Code.PROVIDER_ACCOUNT_SUSPENDED
        rec.finding(
            Finding.of(
                code,
                evidence,
                (
                    Text(
                        "Finish Postmark's account approval (until then mail goes only to your own domain), "
                        "or"
                    ),
                    Text("reactivate the account in Postmark's billing settings."),
                ),
            )
        )
        rec.check("provider.account", Status.FAIL, evidence)
        return
    if response.status >= 400:
        api.server_error(evidence)
    name = (response.json() or {}).get("Name", "")
    rec.check("provider.api", Status.PASS, Text("the server token is accepted (server {name!r})", name=name))
    await _stream(rec, api, provider.option("POSTMARK_MESSAGE_STREAM") or "outbound")
    rec.check(
        "provider.sender",
        Status.SKIP,
        Text(
            "sender signatures need an account token; Postmark checks the sender when it sends (postwarden "
            "send-test)"
        ),
    )


async def _stream(rec: Recorder, api: Api, stream: str) -> None:
    path = f"message-streams/{stream}"
    response = await api.call("GET", path)
    if response.status == 200:
        rec.check("provider.account", Status.PASS, Text("message stream {stream!r} exists", stream=stream))
        return
    rec.check(
        "provider.account",
        Status.WARN,
        join(": ", [f"POSTMARK_MESSAGE_STREAM={stream}", api.evidence("GET", path, response)]),
    )
