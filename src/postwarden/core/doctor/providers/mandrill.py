"""Mandrill (Mailchimp Transactional): is the key valid, the account in good standing,
and the From domain a verified sending domain?

Documented endpoints (POST JSON with ``{"key": …}``): ``/users/ping2.json`` and
``/senders/domains.json``. Every error is HTTP 500 with ``{"status": "error", "name":
"Invalid_Key" | "PaymentRequired" | …, "message"}``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.providers.base import Api, domain_covers, sender_unverified
from postwarden.core.doctor.senders import mail_domain
from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

DEFAULT_URL: Final = "https://mandrillapp.com/api/1.0"


async def probe(ctx: Context, rec: Recorder) -> None:
    key = ctx.settings.provider.secret("MANDRILL_API_KEY").reveal()
    api = Api(
        ctx,
        rec,
        "Mandrill",
        ctx.settings.provider.api_url or DEFAULT_URL,
        {"Content-Type": "application/json"},
    )
    body = json.dumps({"key": key}).encode()
    ping = await api.call("POST", "users/ping2.json", body=body)
    evidence = api.evidence("POST", "users/ping2.json", ping)
    error: Any = ping.json() if ping.status >= 400 else None
    name = error.get("name") if isinstance(error, dict) else None
    if name == "Invalid_Key" or ping.status in (401, 403):
        api.refuse_key(
            evidence,
            "MANDRILL_API_KEY",
            (Text("Use a Mandrill API key (Settings > SMTP & API Info), not a Mailchimp marketing key."),),
        )
    if name == "PaymentRequired":
        rec.finding(
            Finding.of(
                Code.PROVIDER_ACCOUNT_SUSPENDED,
                evidence,
                (
                    Text(
                        "Mandrill needs transactional credits: buy a block in Mailchimp (Transactional > "
                        "Account)."
                    ),
                ),
            )
        )
        rec.check("provider.account", Status.FAIL, evidence)
        return
    if ping.status >= 400:
        api.server_error(evidence)
    rec.check("provider.api", Status.PASS, Text("the API key is accepted"))
    await _sender(ctx, rec, api, body)


async def _sender(ctx: Context, rec: Recorder, api: Api, body: bytes) -> None:
    response = await api.call("POST", "senders/domains.json", body=body)
    domain = mail_domain(ctx.settings.sending.from_address)
    domains = response.json() if response.status == 200 else None
    if not isinstance(domains, list):
        rec.check("provider.sender", Status.SKIP, api.evidence("POST", "senders/domains.json", response))
        return
    matches = [d for d in domains if isinstance(d, dict) and domain_covers(str(d.get("domain", "")), domain)]
    if any(d.get("valid_signing") for d in matches):
        rec.check(
            "provider.sender", Status.PASS, Text("{domain} is a verified sending domain", domain=domain)
        )
        return
    state = Text("added but not verified for signing") if matches else Text("not added")
    sender_unverified(
        rec,
        "Mandrill",
        Text("{domain}: {state} (POST /senders/domains.json)", domain=domain, state=state),
        (
            Text(
                "Add {domain} under Settings > Domains > Sending Domains, verify it, and publish its DKIM "
                "and SPF records.",
                domain=domain,
            ),
        ),
    )
