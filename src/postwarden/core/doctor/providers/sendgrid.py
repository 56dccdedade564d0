"""SendGrid (v3 Web API): is the key valid and allowed to send, and is the sender a
verified single sender or inside an authenticated domain?

Documented endpoints: ``GET /v3/scopes`` (the key's permissions), ``GET
/v3/verified_senders`` and ``GET /v3/whitelabel/domains`` (sender identities). A key may
lack the permissions to read identities; that is reported as not checked, not as a fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from postwarden.core.doctor.model import Status
from postwarden.core.doctor.providers.base import Api, domain_covers, sender_unverified
from postwarden.core.doctor.senders import mail_domain
from postwarden.core.i18n import Number, Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

DEFAULT_URL: Final = "https://api.sendgrid.com/v3/"


async def probe(ctx: Context, rec: Recorder) -> None:
    key = ctx.settings.provider.secret("SENDGRID_API_KEY")
    api = Api(
        ctx,
        rec,
        "SendGrid",
        ctx.settings.provider.api_url or DEFAULT_URL,
        {"Authorization": f"Bearer {key.reveal()}"},
    )
    response = await api.call("GET", "scopes")
    evidence = api.evidence("GET", "scopes", response)
    if response.status in (401, 403):
        api.refuse_key(
            evidence,
            "SENDGRID_API_KEY",
            (Text("Create a key with the Mail Send permission under Settings > API Keys."),),
        )
    if response.status >= 500:
        api.server_error(evidence)
    scopes = set((response.json() or {}).get("scopes", []))
    if "mail.send" not in scopes:
        api.refuse_key(
            Text("{evidence} (the key has no mail.send permission)", evidence=evidence),
            "SENDGRID_API_KEY",
            (Text("Give the key the Mail Send permission (Settings > API Keys > Edit)."),),
        )
    rec.check(
        "provider.api",
        Status.PASS,
        Text("the API key is accepted and may send ({count} permissions)", count=Number(len(scopes))),
    )
    await _sender(ctx, rec, api)


async def _sender(ctx: Context, rec: Recorder, api: Api) -> None:
    address = (ctx.settings.sending.from_address or "").lower()
    domain = mail_domain(address)
    domains = await api.call("GET", "whitelabel/domains")
    senders = await api.call("GET", "verified_senders")
    authenticated = [
        d for d in _list(domains.json()) if d.get("valid") and domain_covers(str(d.get("domain")), domain)
    ]
    verified = [
        s for s in _list(senders.json()) if s.get("verified") and str(s.get("from_email")).lower() == address
    ]
    if authenticated or verified:
        what = (
            Text("{domain} is an authenticated domain", domain=domain)
            if authenticated
            else Text("{address} is a verified sender", address=address)
        )
        rec.check("provider.sender", Status.PASS, what)
        return
    if domains.status >= 400 and senders.status >= 400:
        rec.check(
            "provider.sender",
            Status.SKIP,
            Text(
                "the key may not read sender identities (HTTP {domains}, {senders}); SendGrid checks the "
                "sender when it sends",
                domains=domains.status,
                senders=senders.status,
            ),
        )
        return
    sender_unverified(
        rec,
        "SendGrid",
        Text(
            "MAIL_FROM {address}: not a verified sender, and {domain} is not an authenticated domain "
            "({answer})",
            address=address,
            domain=domain,
            answer=api.evidence("GET", "whitelabel/domains", domains),
        ),
        (
            Text(
                "Authenticate {domain} in SendGrid (Settings > Sender Authentication > Authenticate a "
                "domain) and publish the CNAME records it shows, or",
                domain=domain,
            ),
            Text("verify {address} as a single sender (Settings > Sender Authentication).", address=address),
        ),
    )


def _list(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = data.get("results", [])
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
